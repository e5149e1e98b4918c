#!/usr/bin/env bash
# The HTTP API's benchmarks (docs/PERFORMANCE.md, "HTTP API"):
#  1. sustained POST /tasks with keep-alive from wrk against a release `baton run` on
#     loopback, for DURATION seconds: tasks due in 2099 (intake only), then tasks that
#     run at once (intake while the workers execute them);
#  2. SSE fan-out: 50 subscribers while 10,000 tasks complete (crates/api/benches/sse_fanout.rs).
# Installs wrk with apt-get when missing. Every request goes to 127.0.0.1 only.
set -euo pipefail

cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-32}
# ONLY=post or ONLY=fanout runs one part.
ONLY=${ONLY:-all}

if ! command -v wrk >/dev/null; then
  echo "bench-api: installing wrk"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk
fi

cargo build --release --locked --quiet -p baton-cli
BATON=target/release/baton

DATA=$(mktemp -d)
BATON_PID=
stop() {
  if [[ -n "$BATON_PID" ]]; then
    kill -TERM "$BATON_PID" 2>/dev/null || true
    wait "$BATON_PID" 2>/dev/null || true
  fi
  BATON_PID=
}
trap 'stop; rm -rf "$DATA"' EXIT

# wrk sends the same body each time; the token comes from the environment.
cat >"$DATA/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BATON_TOKEN")
wrk.body = os.getenv("BATON_BODY")
LUA

post_rate() {
  local label=$1 body=$2 dir
  dir=$(mktemp -d -p "$DATA")
  local port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  BATON_LOG=warn "$BATON" --data-dir "$dir" run --api-port "$port" --workers 16 >"$dir/run.log" 2>&1 &
  BATON_PID=$!
  for _ in $(seq 200); do [[ -f "$dir/api.json" ]] && break; sleep 0.05; done
  echo
  echo "== POST /tasks, $label: wrk -t2 -c$CONNECTIONS -d${DURATION}s --latency"
  BATON_TOKEN=$(cat "$dir/api-token") BATON_BODY=$body \
    wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$DATA/post.lua" "http://127.0.0.1:$port/tasks"
  stop
}

if [[ $ONLY != fanout ]]; then
  post_rate "due in 2099 (intake only)" '{"prompt":"hello","start_at":"2099-01-01T00:00:00Z"}'
  post_rate "run at once (mock echo, 16 workers)" '{"prompt":"hello"}'
fi

if [[ $ONLY != post ]]; then
  echo
  echo "== SSE fan-out"
  cargo bench --locked --quiet -p baton-api --bench sse_fanout
fi
