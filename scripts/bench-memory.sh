#!/usr/bin/env bash
# Memory of `baton run` (release build), recorded in docs/PERFORMANCE.md:
#   1. RSS once 140,000 tasks with 2 KB prompts have been imported and run;
#   2. peak RSS of a fresh `baton run` over a 60,000-task database while
#      `GET /export` streams the export file.
# Not a test and not in CI. Usage: bash scripts/bench-memory.sh [TASKS] [EXPORT_TASKS]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
tasks=${1:-140000}
export_tasks=${2:-60000}
chunk=2000

# BATON=path/to/baton skips the build (a quick check of this script).
baton=${BATON:-}
if [ -z "$baton" ]; then
  cargo build --release -p baton-cli --manifest-path "$root/Cargo.toml" >&2
  baton="${CARGO_TARGET_DIR:-$root/target}/release/baton"
fi
work=$(mktemp -d)
server=
cleanup() {
  [ -n "$server" ] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Writes import files of $chunk queued tasks each, 2 KB prompts, into $1.
generate() {
  python3 - "$1" "$2" "$chunk" <<'PY'
import json, os, sys, time, uuid
out, total, chunk = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(out, exist_ok=True)
base_ms = int(time.time() * 1000) - total
prompt = ("Summarise the following paragraph in one sentence. " * 40)[:2048]
for start in range(0, total, chunk):
    tasks = []
    for i in range(start, min(start + chunk, total)):
        ms = base_ms + i
        # UUIDv7: 48-bit milliseconds, version 7, variant 10, random rest.
        raw = bytearray(ms.to_bytes(6, "big") + os.urandom(10))
        raw[6] = 0x70 | (raw[6] & 0x0F)
        raw[8] = 0x80 | (raw[8] & 0x3F)
        at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + ".%03dZ" % (ms % 1000)
        tasks.append({
            "id": str(uuid.UUID(bytes=bytes(raw))), "name": f"task {i}", "prompt": prompt,
            "status": "queued", "start_at": None, "created_at": at, "started_at": None,
            "finished_at": None, "output": None, "error": None, "parent_task_id": None,
            "llm_provider": "mock", "llm_model": "echo", "latency_ms": None, "attempts": 0,
            "max_attempts": 3, "timeout_ms": 600000, "cancel_reason": None, "history": [],
        })
    with open(os.path.join(out, "%07d.json" % start), "w") as f:
        json.dump({"format_version": 2, "exported_at": at, "tasks": tasks, "schedules": []}, f)
PY
}

# Starts `baton run` on data dir $1 and waits for its API.
start() {
  "$baton" --data-dir "$1" run --workers 4 2>"$1.log" &
  server=$!
  for _ in $(seq 600); do
    [ -f "$1/api.json" ] && break
    sleep 0.1
  done
  url=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["url"])' "$1/api.json")
  token=$(cat "$1/api-token")
}

stop() {
  kill "$server"
  wait "$server" || true
  server=
}

# Waits until nothing is queued or running.
idle() {
  while :; do
    active=$(curl -s -H "Authorization: Bearer $token" "$url/health" \
      | python3 -c 'import json,sys; c=json.load(sys.stdin)["counts"]; print(c["queued"]+c["running"]+c["waiting"]+c["scheduled"])')
    [ "$active" = 0 ] && return
    sleep 1
  done
}

kib() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }

echo "generating $tasks tasks" >&2
generate "$work/import" "$tasks"

# 1. Import and run every task through the running engine.
start "$work/run"
began=$(date +%s)
for f in "$work"/import/*.json; do
  "$baton" --data-dir "$work/run" import "$f" >/dev/null
done
idle
took=$(( $(date +%s) - began ))
rss_run=$(kib "$server" VmRSS)
hwm_run=$(kib "$server" VmHWM)
stop

# 2. A fresh process over $export_tasks tasks: its peak while exporting.
mkdir -p "$work/export"
ls "$work"/import/*.json | head -n $(( export_tasks / chunk )) | while read -r f; do
  "$baton" --data-dir "$work/export" import "$f" >/dev/null
done
start "$work/export"
idle
rss_before=$(kib "$server" VmRSS)
bytes=$(curl -s -H "Authorization: Bearer $token" "$url/export" | wc -c)
hwm_export=$(kib "$server" VmHWM)
stop

mib() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }
cat <<OUT
baton run, $tasks tasks with 2 KB prompts imported and run (${took} s): RSS $(mib "$rss_run") MiB, peak $(mib "$hwm_run") MiB
baton run, export of $export_tasks tasks ($(( bytes / 1048576 )) MiB of JSON): RSS before $(mib "$rss_before") MiB, peak $(mib "$hwm_export") MiB
OUT
