#!/usr/bin/env bash
# What the limits on slow clients cost, as a benchmark: S6 throughput of one release analyticsservice
# with SERVE_LIMITS=on and =off, alternately, ROUNDS times each, in one run on one machine.
# Writes results/<timestamp>-limits-cost/ (one k6 summary per run, and summary.txt).
#
#   cargo build --release -p analyticsservice && k6-tests/limits-cost.sh
#
# Environment: ROUNDS (4), VUS (20), DURATION (15s), PORT (18006), K6 (k6).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-4}
VUS=${VUS:-20}
DURATION=${DURATION:-15s}
PORT=${PORT:-18006}
K6=${K6:-k6}
out="results/$(date -u +%Y%m%dT%H%M%SZ)-limits-cost"
mkdir -p "$out"

run() { # run <round> <on|off>
  SERVE_LIMITS=$2 PORT=$PORT RUST_LOG=warn target/release/analyticsservice &
  local pid=$!
  for _ in $(seq 1 50); do curl -fs "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
  "$K6" run --quiet --no-color --address 127.0.0.1:0 -e "URL=http://127.0.0.1:$PORT" -e "VUS=$VUS" -e "DURATION=$DURATION" \
    --summary-export "$out/$1-$2.json" k6-tests/limits-cost.js >/dev/null
  # The service's own CPU time (user + system, in clock ticks): less bent by the machine's other load
  # than throughput is.
  awk '{print $14 + $15}' "/proc/$pid/stat" >"$out/$1-$2.cpu"
  kill -TERM "$pid"
  wait "$pid" || true
}

for round in $(seq 1 "$ROUNDS"); do
  # Alternate which goes first, so a drift in the machine's load does not favour one side.
  if [ $((round % 2)) -eq 1 ]; then run "$round" on; run "$round" off; else run "$round" off; run "$round" on; fi
done

python3 - "$out" "$VUS" "$DURATION" <<'PY' | tee "$out/summary.txt"
import json, os, pathlib, statistics, sys
out, vus, duration = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
rates = {"on": [], "off": []}
for f in sorted(out.glob("*-*.json")):
    mode = f.stem.split("-")[1]
    m = json.loads(f.read_text())["metrics"]
    ticks = float((out / f"{f.stem}.cpu").read_text())
    cpu_us = ticks / os.sysconf("SC_CLK_TCK") * 1e6 / m["http_reqs"]["count"]
    rates[mode].append((f.stem, m["http_reqs"]["rate"], m["http_req_duration"]["med"], m["http_req_failed"]["value"], cpu_us))
print(f"S6 POST /track_click, closed loop, {vus} VUs x {duration} per run, one analyticsservice")
for mode in ("on", "off"):
    for stem, rate, med, failed, cpu_us in rates[mode]:
        print(f"  {stem:8} {rate:9.0f} req/s  median {med:.3f} ms  failed {failed:.4f}  service CPU {cpu_us:.1f} us/req")
for mode in ("on", "off"):
    r = [x[1] for x in rates[mode]]
    c = [x[4] for x in rates[mode]]
    print(f"limits {mode:3}: mean {statistics.mean(r):.0f} req/s, median {statistics.median(r):.0f}, "
          f"min {min(r):.0f}, max {max(r):.0f} over {len(r)} runs; service CPU median {statistics.median(c):.1f} us/req")
on, off = statistics.mean(x[1] for x in rates["on"]), statistics.mean(x[1] for x in rates["off"])
print(f"on/off of the means: {on / off:.3f}")
# Each round ran on and off back to back, so their ratio is the least disturbed by drifting load.
paired = sorted(a[1] / b[1] for a, b in zip(rates["on"], rates["off"]))
print(f"on/off per round: median {statistics.median(paired):.3f}, range {paired[0]:.3f}-{paired[-1]:.3f}")
PY
