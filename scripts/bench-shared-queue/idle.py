"""Idle queue -> provider call: per task, the runner's "attempt started" log time minus the
task's created_at (set by the submitting process just before its insert). Same machine, one clock."""
import math
import re
import sys
from datetime import datetime


def ts(s):
    # RFC 3339 with up to nanoseconds; Python takes microseconds.
    s = s.strip().replace("Z", "+00:00")
    m = re.match(r"(.*?\.\d{1,6})\d*(.*)", s)
    if m:
        s = m.group(1) + m.group(2)
    return datetime.fromisoformat(s)


created = {}
for line in open(sys.argv[1]):
    if "|" in line:
        tid, at = line.strip().split("|", 1)
        created[tid] = ts(at)
started = {}
pat = re.compile(r"^(\S+)\s.*task_id=([0-9a-fA-F-]{36}).*attempt started")
for line in open(sys.argv[2]):
    line = re.sub(r"\x1b\[[0-9;]*m", "", line)
    m = pat.search(line)
    if m and m.group(2) in created:
        started.setdefault(m.group(2), ts(m.group(1)))
lat = sorted((started[t] - created[t]).total_seconds() * 1000 for t in started)
if not lat:
    sys.exit("no 'attempt started' lines matched the tasks")


def pct(p):
    # Nearest rank.
    return lat[max(0, math.ceil(p / 100 * len(lat)) - 1)]


print(f"  {len(lat)} of {len(created)} tasks: submit -> call start p50 {pct(50):.1f} ms, "
      f"p90 {pct(90):.1f} ms, p99 {pct(99):.1f} ms, max {lat[-1]:.1f} ms (must hold: p99 <= 50 ms)")
