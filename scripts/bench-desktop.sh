#!/usr/bin/env bash
# Desktop app benchmarks (docs/PERFORMANCE.md, "Desktop app"): release binary and .deb sizes,
# idle memory with 10,000 tasks, cold start to the first task row with 100,000 tasks, and the
# time from an engine state change to the row's status badge. Runs the release binaries (the
# window, baton-desktop, and the runner it starts, baton-tray, beside it) under
# tauri-driver on Xvfb with its own session bus, like scripts/e2e.sh; e2e/bench-desktop.mjs
# does the measuring.
#
#   bash scripts/bench-desktop.sh          build what is missing (scripts/package.sh, baton-cli), then measure
#   RUNS=5 BENCH_KEEP=1 bash scripts/bench-desktop.sh   cold-start runs; keep the data directories
#   ONLY=coldstart bash scripts/bench-desktop.sh        only some parts (memory, coldstart, latency)
#   BENCH_APP=target/debug/baton-desktop BENCH_CLI=target/debug/baton ONLY=memory bash scripts/bench-desktop.sh
#                                                        other binaries (then no packaging)
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD
app=${BENCH_APP:-$root/target/release/baton-desktop}
cli=${BENCH_CLI:-$root/target/release/baton}
runs=${RUNS:-5}

[[ -x .tools/bin/tauri-driver ]] || { echo "bench: run scripts/setup.sh first (tauri-driver)" >&2; exit 1; }
if [[ -z "${BENCH_APP:-}" ]]; then
  [[ -x $app ]] && compgen -G "target/release/bundle/deb/*.deb" >/dev/null || bash scripts/package.sh
fi
[[ -x $cli ]] || cargo build --release -p baton-cli

work=$(mktemp -d /tmp/baton-bench-desktop-XXXXXX)
cleanup() { [[ -n "${BENCH_KEEP:-}" ]] && echo "bench: kept $work" || rm -rf "$work"; }
trap cleanup EXIT

echo "== sizes"
printf 'binary %s  %s bytes\n' "$app" "$(stat -c %s "$app")"
for deb in target/release/bundle/deb/*.deb; do [[ -f $deb ]] && printf 'deb  %s  %s bytes\n' "$deb" "$(stat -c %s "$deb")"; done

# One real task, exported, is the template for the generated ones.
"$cli" --data-dir "$work/seed" submit hi >/dev/null
"$cli" --data-dir "$work/seed" wait >/dev/null 2>&1 || true # completes the task; its exit status is not the point
"$cli" --data-dir "$work/seed" export --out "$work/one.json" >/dev/null

# gen.py TEMPLATE N OUT: N finished tasks one minute apart (85% completed, 5% failed,
# 5% cancelled, 5% scheduled for 2099: stored but idle). UUIDv7 ids from created_at.
# gen.py TEMPLATE N OUT sched LEAD GAP: N tasks (model sleep=100) scheduled LEAD s from now, GAP s apart.
cat >"$work/gen.py" <<'PY'
import json, random, sys, uuid, datetime as dt
src, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sched = len(sys.argv) > 4
tmpl = json.load(open(src))["tasks"][0]
random.seed(n)
now = dt.datetime.now(dt.timezone.utc)
t0 = now if sched else dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
def iso(t): return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
def uuid7(ms):
    r = random.getrandbits(74)
    return str(uuid.UUID(int=(ms << 80) | (0x7 << 76) | ((r >> 62) << 64) | (0b10 << 62) | (r & ((1 << 62) - 1))))
idle = dict(start_at=None, started_at=None, finished_at=None, output=None, error=None, cancel_reason=None,
            latency_ms=None, attempts=0, history=[], prompt_tokens=None, completion_tokens=None)
tasks = []
for i in range(n):
    created = t0 + (dt.timedelta(milliseconds=i) if sched else dt.timedelta(seconds=60 * i))
    t = dict(tmpl, id=uuid7(int(created.timestamp() * 1000)), name=f"bench task {i}",
             prompt=f"summarise document number {i} in one paragraph", created_at=iso(created))
    if sched:
        lead, gap = float(sys.argv[5]), float(sys.argv[6])
        t.update(idle, status="scheduled", llm_model="sleep=100",
                 start_at=iso(now + dt.timedelta(seconds=lead + i * gap)))
    else:
        s, f = created + dt.timedelta(seconds=1), created + dt.timedelta(seconds=3)
        h = [{"number": 1, "started_at": iso(s), "finished_at": iso(f), "outcome": "completed", "error": None, "latency_ms": 2000}]
        t.update(status="completed", start_at=None, started_at=iso(s), finished_at=iso(f), error=None,
                 output=f"echo: {t['prompt']}", cancel_reason=None, latency_ms=2000, attempts=1, history=h)
        r = i % 20
        if r == 0:
            h[0].update(outcome="failed", error="boom")
            t.update(status="failed", output=None, error="boom", latency_ms=None)
        elif r == 1:
            t.update(idle, status="cancelled", finished_at=iso(s), cancel_reason="bench")
        elif r == 2:
            t.update(idle, status="scheduled", start_at="2099-01-01T00:00:00Z")
    tasks.append(t)
json.dump({"format_version": 1, "exported_at": iso(now), "tasks": tasks}, open(out, "w"))
PY

fill() { # fill DIR N [sched LEAD GAP]
  local dir=$1 n=$2; shift 2
  python3 "$work/gen.py" "$work/one.json" "$n" "$work/$n.json" "$@"
  "$cli" --data-dir "$dir" import "$work/$n.json" | tail -1
}

bench() { # one app at a time: every instance claims the same single-instance name on its bus
  xvfb-run -a -s "-screen 0 ${SCREEN:-1280x800}x24" dbus-run-session -- node e2e/bench-desktop.mjs "$@" 2>"$work/err.log" \
    || { tail -40 "$work/err.log" >&2; return 1; }
}

part() { [[ ",${ONLY:-memory,coldstart,latency}," == *",$1,"* ]]; }

if part memory; then
  echo "== idle memory, 10,000 tasks, every Baton process: window open, closed (the runner alone), reopened; Show -> window, launch -> first rows"
  fill "$work/d10k" 10000
  bench memory "$app" "$work/d10k"
  echo "== the same without WebDriver (the runner started as at login, its tray's Show)"
  bench tray "$app" "$work/d10k"
  echo "== the runner started in the tray (--hidden, as at login) and never shown"
  bench hidden "$app" "$work/d10k"
fi

if part coldstart; then
  # Side by side with a one-task database (runs alternate), so the ratio shows what the
  # 100,000 tasks cost over the app's own start on the same, possibly busy, machine.
  echo "== cold start to the first task row, 100,000 tasks vs one task ($runs runs each)"
  fill "$work/d100k" 100000
  fill "$work/d1" 1
  bench coldstart "$app" "$work/d100k,$work/d1" "$runs"
fi

if part latency; then
  echo "== engine state change -> status badge, 200 tasks scheduled 12 s ahead, 100 ms apart"
  fill "$work/dlat" 200 sched 12 0.1
  SCREEN=1280x16000 bench latency "$app" "$work/dlat" 0 "$cli"

  # The same in an ordinary 1280x800 window: software rendering of a 15,000 px page makes
  # every frame slow, so this run observes only the rows the window shows (the newest ~15).
  echo "== the same, ordinary window (1280x800): visible rows only"
  fill "$work/dlat800" 200 sched 12 0.1
  LATENCY_HEIGHT=800 SCREEN=1280x800 bench latency "$app" "$work/dlat800" 0 "$cli"
fi

echo "== load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
