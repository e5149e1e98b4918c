"""The soak: tasks offered at a fixed rate for MINUTES while 4 runners work them; every 30 s the
sizes of baton_tasks and baton_events; at the end, claim latency per minute.

    soak.py URL RATE MINUTES WORKDIR

The producer is pgbench at a fixed rate (-R) running submit.sql: the statements the engine's
submit commits (the task's insert, then the outbox's lock, doorbell and event), with the
record and event of a real `baton submit` copied under a new id and creation time. Runners
see these tasks exactly as ones a client submitted.
Claim latency: a task's record started_at (the claim) minus its created_at (the insert)."""
import math
import os
import subprocess
import sys
import time

url, rate, minutes, work = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
here = os.path.dirname(os.path.abspath(__file__))


def sql(q):
    return subprocess.run(["psql", url, "-XAtqc", q], check=True, capture_output=True,
                          text=True).stdout.strip()


start = time.time()
sql("SELECT pg_stat_reset()")
seconds = int(minutes * 60)
producer = subprocess.Popen(
    ["pgbench", "-n", "-c", "2", "-j", "2", "-R", str(rate), "-T", str(seconds),
     "-f", os.path.join(here, "submit.sql"), url],
    stdout=open(os.path.join(work, "soak-pgbench.log"), "w"), stderr=subprocess.STDOUT)

print("  t (s) | queued | done   | baton_tasks heap / indexes / total (MiB) | dead tuples | "
      "baton_events heap / indexes / total (MiB) | rows | autovacuums (tasks, events)")
SIZES = """SELECT
  (SELECT count(*) FROM baton_tasks WHERE status = 3),
  (SELECT count(*) FROM baton_tasks WHERE status = 5),
  round(pg_relation_size('baton_tasks') / 1048576.0, 1),
  round(pg_indexes_size('baton_tasks') / 1048576.0, 1),
  round(pg_total_relation_size('baton_tasks') / 1048576.0, 1),
  (SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'baton_tasks'),
  round(pg_relation_size('baton_events') / 1048576.0, 1),
  round(pg_indexes_size('baton_events') / 1048576.0, 1),
  round(pg_total_relation_size('baton_events') / 1048576.0, 1),
  (SELECT count(*) FROM baton_events),
  (SELECT autovacuum_count FROM pg_stat_user_tables WHERE relname = 'baton_tasks'),
  (SELECT autovacuum_count FROM pg_stat_user_tables WHERE relname = 'baton_events')"""


def sample():
    v = sql(SIZES).split("|")
    print(f"  {time.time() - start:5.0f} | {v[0]:>6} | {v[1]:>6} | {v[2]:>6} / {v[3]:>6} / {v[4]:>6}"
          f"                | {v[5]:>11} | {v[6]:>6} / {v[7]:>6} / {v[8]:>6}                 | "
          f"{v[9]:>6} | {v[10]}, {v[11]}", flush=True)


while producer.poll() is None:
    sample()
    for _ in range(30):
        if producer.poll() is not None:
            break
        time.sleep(1)
# Let the runners drain what is left.
while int(sql("SELECT count(*) FROM baton_tasks WHERE status IN (3, 4)")) > 0 \
        and time.time() - start < seconds + 120:
    time.sleep(1)
sample()
print("  producer: " + " ".join(
    l.strip() for l in open(os.path.join(work, "soak-pgbench.log"))
    if l.startswith(("number of transactions actually", "tps", "number of failed",
                     "number of transactions skipped"))))

# Claim latency per minute of creation.
rows = sql(f"""
  WITH t AS (
    SELECT (convert_from(record, 'UTF8')::jsonb->>'created_at')::timestamptz AS c,
           (convert_from(record, 'UTF8')::jsonb->>'started_at')::timestamptz AS s
    FROM baton_tasks WHERE status = 5),
  b AS (SELECT min(c) AS t0 FROM t)
  SELECT floor(extract(epoch FROM c - t0) / 60)::int AS minute, count(*),
         round((percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM s - c)) * 1000)::numeric, 1),
         round((percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM s - c)) * 1000)::numeric, 1),
         round((max(extract(epoch FROM s - c)) * 1000)::numeric, 1)
  FROM t, b GROUP BY 1 ORDER BY 1""").splitlines()
print("  minute | tasks | claim latency p50 / p99 / max (ms)")
per = {}
for r in rows:
    m, n, p50, p99, mx = r.split("|")
    per[int(m)] = float(p99)
    print(f"  {int(m) + 1:6} | {n:>5} | {p50} / {p99} / {mx}")
full = [m for m in sorted(per) if m < math.floor(minutes)]
if full:
    first, last = per[full[0]], per[full[-1]]
    print(f"  claim latency p99, first minute {first} ms, last minute {last} ms: "
          f"last / first = {last / first:.2f} (must hold: <= 2)")
