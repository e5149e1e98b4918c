-- One submit, as the engine commits it (pg.rs put, pg_events.rs record): the task's insert,
-- then the outbox's lock and doorbell, then the event; the record and event are copies of a
-- real submit's (table bench_template) under a new id and creation time.
BEGIN;
SELECT set_config('bench.id', gen_random_uuid()::text, true), set_config('bench.at', clock_timestamp()::text, true);
INSERT INTO baton_tasks (id, status, due_at, parent_id, schedule_id, tags, record, runner_id, group_id, group_row)
  SELECT current_setting('bench.id')::uuid, 3, current_setting('bench.at')::timestamptz, NULL, NULL, '{}',
         convert_to(jsonb_set(jsonb_set(t.rec, '{id}', to_jsonb(current_setting('bench.id'))),
                              '{created_at}', to_jsonb(current_setting('bench.at')::timestamptz))::text, 'UTF8'),
         NULL, NULL, NULL
  FROM bench_template t;
SELECT pg_advisory_xact_lock(7089075310393556999), pg_notify('baton_events', '');
INSERT INTO baton_events (runner_id, task_id, at, kind)
  SELECT t.runner, n.id, current_setting('bench.at')::timestamptz,
         convert_to(jsonb_set(convert_from(t.kind, 'UTF8')::jsonb, '{task}',
                              convert_from(n.record, 'UTF8')::jsonb)::text, 'UTF8')
  FROM bench_template t, baton_tasks n WHERE n.id = current_setting('bench.id')::uuid;
COMMIT;
