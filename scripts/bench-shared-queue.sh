#!/usr/bin/env bash
# The shared queue's figures (issue 12, "Must hold"), in one run on one private PostgreSQL
# cluster with the default durability (scripts/pg.sh start --durable). Outside CI: the figures
# go in docs/PERFORMANCE.md ("Shared queue (PostgreSQL)"), which says what each one means.
#
#   bash scripts/bench-shared-queue.sh [--soak MINUTES] [--tasks N] [--only SECTIONS]
#
#   --soak MINUTES   the soak's length (default 10; 0 skips it)
#   --tasks N        tasks the four runners drain against the ceiling (default 5000)
#   --only LIST      comma-separated sections to run: ceiling,scaling,idle,soak (default all)
#
# Needs the release binaries (cargo build --release -p baton-cli), pgbench and python3.
# The redb comparison (section 5) is a separate command, see docs/PERFORMANCE.md.
set -euo pipefail
cd "$(dirname "$0")/.."
here=$PWD

soak_minutes=10
tasks=5000
only=ceiling,scaling,idle,soak
while (($#)); do
  case $1 in
  --soak) soak_minutes=${2:?}; shift 2 ;;
  --tasks) tasks=${2:?}; shift 2 ;;
  --only) only=${2:?}; shift 2 ;;
  *) echo "usage: bench-shared-queue.sh [--soak MINUTES] [--tasks N] [--only SECTIONS]" >&2; exit 2 ;;
  esac
done
wants() { [[ ,$only, == *,$1,* ]]; }

baton=${CARGO_TARGET_DIR:-$here/target}/release/baton
[[ -x $baton ]] || { echo "build first: cargo build --release -p baton-cli ($baton is missing)" >&2; exit 1; }
command -v pgbench >/dev/null || { echo "pgbench is missing (apt-get install postgresql-client)" >&2; exit 1; }

work=$(mktemp -d /tmp/baton-bench-XXXXXX)
chmod 755 "$work"
out=$(bash scripts/pg.sh start --durable)
eval "$out"
admin=$BATON_TEST_DATABASE_URL
runner_pids=()
cleanup() {
  for p in "${runner_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  bash scripts/pg.sh stop "$BATON_PG_DIR"
  rm -rf "$work"
}
trap cleanup EXIT

export BATON_DATA_DIR=$work/data # the runners' local files (api.json); the tasks are in PostgreSQL
export BATON_LOG=${BATON_LOG:-info}
export PGOPTIONS="-c client_min_messages=warning" # no NOTICE from DROP … IF EXISTS
say() { printf '%s\n' "$*"; }
sql() { psql "$1" -XAtqc "$2"; }
url_of() { echo "${admin%/*}/$1"; }

say "== Shared queue benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)"
say "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
say "PostgreSQL: $(sql "$admin" 'SHOW server_version'), fsync=$(sql "$admin" 'SHOW fsync'), synchronous_commit=$(sql "$admin" 'SHOW synchronous_commit'), full_page_writes=$(sql "$admin" 'SHOW full_page_writes')"
say "vacuum: autovacuum=$(sql "$admin" 'SHOW autovacuum'), naptime=$(sql "$admin" 'SHOW autovacuum_naptime'), scale_factor=$(sql "$admin" 'SHOW autovacuum_vacuum_scale_factor'), insert_scale_factor=$(sql "$admin" 'SHOW autovacuum_vacuum_insert_scale_factor'), cost_limit=$(sql "$admin" 'SHOW autovacuum_vacuum_cost_limit'), cost_delay=$(sql "$admin" 'SHOW autovacuum_vacuum_cost_delay')"

# The disk's flush rate (one 8 kB write + fdatasync, PostgreSQL's WAL flush on Linux), before
# and after: far apart, or far below the figures in docs/PERFORMANCE.md, means a busy disk.
disk_check() {
  local r
  r=$("$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/pg_test_fsync" -s 1 -f "$work/fsync.test" 2>/dev/null |
    awk '$1 == "fdatasync" && $2 ~ /^[0-9]/ {print $2; exit}')
  rm -f "$work/fsync.test"
  say "disk check ($1): ${r:-?} fdatasyncs/s"
}
disk_check before

# A fresh migrated database; echoes its URL.
fresh_db() {
  sql "$admin" "DROP DATABASE IF EXISTS $1 WITH (FORCE)" >/dev/null
  sql "$admin" "CREATE DATABASE $1" >/dev/null
  local url
  url=$(url_of "$1")
  "$baton" --database "$url" db migrate >/dev/null 2>&1 || "$baton" --database "$url" db migrate >&2
  echo "$url"
}

# `baton map` of N tasks (one transaction) on the mock provider with MODEL, group NAME.
map_tasks() { # url n model name
  local file=$work/items-$4.txt
  seq -f 'item-%06g' 1 "$2" >"$file"
  "$baton" --database "$1" map "$4" --lines "$file" '{{item}}' --provider mock --model "$3" >/dev/null
}

# Starts N runners of 8 workers on URL, waits until each says it started.
start_runners() { # url n tag
  local i
  for ((i = 0; i < $2; i++)); do
    "$baton" --database "$1" run --workers 8 --lease 30s 2>"$work/runner-$3-$i.log" &
    runner_pids+=($!)
  done
  for ((i = 0; i < $2; i++)); do
    local t=0
    until grep -q "engine started" "$work/runner-$3-$i.log"; do
      sleep 0.1
      ((++t < 300)) || { cat "$work/runner-$3-$i.log" >&2; exit 1; }
    done
  done
}
stop_runners() {
  local p
  for p in "${runner_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${runner_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  runner_pids=()
}

# The record as JSON (records are JSON bytes).
J="convert_from(record, 'UTF8')::jsonb"

wait_completed() { # url n
  local t=0
  until [[ $(sql "$1" "SELECT count(*) FROM baton_tasks WHERE status = 5") -ge $2 ]]; do
    sleep 0.2
    ((++t < 3000)) || { echo "tasks did not complete in 600 s" >&2; sql "$1" "SELECT status, count(*) FROM baton_tasks GROUP BY 1" >&2; exit 1; }
  done
}

# Lifecycles/s of a drain: tasks completed ÷ (last finish − first claim), from the records.
drain_rate() { # url
  sql "$1" "SELECT round(count(*) / extract(epoch FROM max(($J->>'finished_at')::timestamptz)
                                              - min(($J->>'started_at')::timestamptz)), 1)
            FROM baton_tasks WHERE status = 5"
}

# Runners started on an empty queue, then N tasks mapped at once (one commit): the runners
# are all up before the first claim, so the window is theirs, not their start-up's.
drain() { # name runners n model
  local url
  url=$(fresh_db "$1")
  start_runners "$url" "$2" "$1"
  map_tasks "$url" "$3" "$4" "$1"
  wait_completed "$url" "$3"
  stop_runners
  local bad
  bad=$(sql "$url" "SELECT count(*) FROM baton_tasks WHERE status <> 5 OR jsonb_array_length($J->'history') <> 1")
  # On stderr: the caller captures stdout (the rate).
  [[ $bad == 0 ]] || say "  WARNING: $bad tasks not completed in exactly one attempt" >&2
  drain_rate "$url"
}

# ---------------------------------------------------------------------------------------
# 1. The ceiling: pgbench doing the engine's SQL per lifecycle, then 4 runners × 8 workers.
ceiling=""
if wants ceiling || wants soak; then
  say ""
  say "== 1. Ceiling: pgbench with the engine's statements per lifecycle (claim, finish), durable"
  tpl=$(fresh_db bench_tpl)
  # Real rows: baton map made them (records, group, indexes as the engine writes them);
  # more than any client count claims in its 15 s (a client that finds none aborts: reported).
  map_tasks "$tpl" 40000 echo items
  sql "$tpl" "VACUUM ANALYZE" >/dev/null
  best=0
  for c in 1 2 4 8 16; do
    sql "$admin" "DROP DATABASE IF EXISTS bench_pgb WITH (FORCE)" >/dev/null
    sql "$admin" "CREATE DATABASE bench_pgb TEMPLATE bench_tpl" >/dev/null
    pgbench -n -c "$c" -j "$((c < 2 ? 1 : 2))" -T 15 -D task=NULL -D grp=NULL \
      -f scripts/bench-shared-queue/lifecycle.sql "$(url_of bench_pgb)" >"$work/pgbench-$c.log" 2>&1 || true
    r=$(awk '/^tps/ {print $3; exit}' "$work/pgbench-$c.log")
    lat=$(awk '/^latency average/ {print $4; exit}' "$work/pgbench-$c.log")
    failed=$(grep -c 'aborted\|error' "$work/pgbench-$c.log" || true)
    say "  pgbench -c $c: ${r:-?} lifecycles/s (latency average $lat ms; $failed error lines)"
    if awk -v a="${r:-0}" -v b="$best" 'BEGIN {exit !(a > b)}'; then best=$r; fi
  done
  ceiling=$best
  say "  ceiling (best client count): $ceiling lifecycles/s"
  if wants ceiling; then
    rate=$(drain bench_drain 4 "$tasks" echo)
    say "  4 runners × 8 workers, mock echo, $tasks tasks: $rate lifecycles/s"
    say "  ratio to the ceiling: $(awk -v a="$rate" -v b="$ceiling" 'BEGIN {printf "%.2f", a / b}') (must hold: >= 0.5)"
  fi
fi

# ---------------------------------------------------------------------------------------
# 2. Slot-bound scaling: a fixed 100 ms provider, 1, 2 and 4 runners of 8 workers.
if wants scaling; then
  say ""
  say "== 2. Slot-bound scaling: mock sleep=100, 8 workers per runner"
  declare -A rates
  for n in 1 2 4; do
    rates[$n]=$(drain "bench_scale$n" "$n" $((n * 400)) sleep=100)
    say "  $n runner(s), $((n * 400)) tasks: ${rates[$n]} lifecycles/s (slot limit $((n * 80))/s)"
  done
  say "  2 vs 1: $(awk -v a="${rates[2]}" -v b="${rates[1]}" 'BEGIN {printf "%.2f", a / b}') (must hold: >= 1.8)"
  say "  4 vs 1: $(awk -v a="${rates[4]}" -v b="${rates[1]}" 'BEGIN {printf "%.2f", a / b}') (must hold: >= 3.4)"
fi

# ---------------------------------------------------------------------------------------
# 3. Idle queue → the provider call: 200 tasks submitted one at a time, 2 runners idle.
if wants idle; then
  say ""
  say "== 3. Idle queue → provider call: 200 single submits, 2 idle runners"
  url=$(fresh_db bench_idle)
  start_runners "$url" 2 idle
  for i in $(seq 1 200); do
    id=$("$baton" --database "$url" submit "idle-$i" --provider mock --model echo --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    # Wait until it completed, then idle a moment: every submit meets an idle queue.
    until [[ $(sql "$url" "SELECT status FROM baton_tasks WHERE id = '$id'") == 5 ]]; do sleep 0.02; done
    sleep 0.1
  done
  stop_runners
  # Submit time: the record's created_at (the submitting process's clock, before its
  # insert commits); the call's start: the runner's "attempt started" log line.
  sql "$url" "SELECT id, $J->>'created_at' FROM baton_tasks" >"$work/idle-created.txt"
  cat "$work"/runner-idle-*.log >"$work/idle-runners.log"
  python3 scripts/bench-shared-queue/idle.py "$work/idle-created.txt" "$work/idle-runners.log"
fi

# ---------------------------------------------------------------------------------------
# 4. Soak at half the ceiling.
if wants soak && ((soak_minutes > 0)); then
  say ""
  rate=$(awk -v c="$ceiling" 'BEGIN {printf "%d", c / 2}')
  say "== 4. Soak: $soak_minutes min, 4 runners × 8 workers, mock echo, tasks offered at $rate/s (half the ceiling)"
  url=$(fresh_db bench_soak)
  # The producer's template: the record and first event of a real submit, taken while queued.
  "$baton" --database "$url" submit "soak" --provider mock --model echo >/dev/null
  sql "$url" "CREATE TABLE bench_template AS
    SELECT $J AS rec, e.kind, e.runner_id AS runner FROM baton_tasks t
    JOIN LATERAL (SELECT kind, runner_id FROM baton_events WHERE task_id = t.id ORDER BY seq LIMIT 1) e ON true"
  start_runners "$url" 4 soak
  wait_completed "$url" 1
  python3 scripts/bench-shared-queue/soak.py "$url" "$rate" "$soak_minutes" "$work"
  stop_runners
fi
say ""
disk_check after
say "== done"
