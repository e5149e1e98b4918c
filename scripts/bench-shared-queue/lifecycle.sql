-- One lifecycle as a runner commits it in steady state (statements from the server's log
-- with log_statement = all, pg.rs and pg_events.rs): the finish of the task this client
-- claimed in its previous transaction and, in the same transaction, the claim of the next
-- (the engine piggy-backs a claim on each finish), then the outbox's lock, doorbell and both
-- events, one commit. Records grow as the engine's do (queued 630 bytes, running +170,
-- completed +160); an event's kind is the task as JSON, as the engine's are.
-- pgbench keeps :task and :grp between a client's transactions; run it with
-- -D task=NULL -D grp=NULL, so the first transaction finishes nothing and only claims.
BEGIN;
SELECT record FROM baton_tasks WHERE id = :task FOR UPDATE;
UPDATE baton_tasks SET status = 5, due_at = due_at, tags = tags,
    record = record || decode(repeat('20', 160), 'hex'), runner_id = NULL
  WHERE id = :task;
SELECT record FROM baton_groups WHERE id = :grp FOR UPDATE;
INSERT INTO baton_groups (id, name_key, record)
  SELECT id, name_key, record FROM baton_groups WHERE id = :grp
  ON CONFLICT (id) DO UPDATE SET record = excluded.record;
-- The engine's children query, which also keeps the finished id for the events below.
SELECT coalesce(quote_literal(:task::text), 'NULL') AS prev,
       (SELECT array_agg(id ORDER BY id) FROM baton_tasks WHERE parent_id = :task) AS children \gset
SELECT record FROM baton_budgets ORDER BY name FOR UPDATE;
SELECT quote_literal(id) AS task, quote_literal(group_id) AS grp FROM baton_tasks
  WHERE status = 3 ORDER BY due_at, id LIMIT 1 FOR UPDATE SKIP LOCKED \gset
SELECT record FROM baton_tasks WHERE id = :task FOR UPDATE;
UPDATE baton_tasks SET status = 4, due_at = due_at, tags = tags,
    record = record || decode(repeat('20', 170), 'hex'),
    runner_id = '00000000-0000-0000-0000-000000000001'
  WHERE id = :task;
SELECT pg_advisory_xact_lock(7089075310393556999), pg_notify('baton_events', '');
INSERT INTO baton_events (runner_id, task_id, at, kind)
  SELECT '00000000-0000-0000-0000-000000000001', id, now(), record FROM baton_tasks
  WHERE id IN (:prev, :task) ORDER BY id;
COMMIT;
