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
  "$K6" run --quiet --no-color -e "URL=http://127.0.0.1:$PORT" -e "VUS=$VUS" -e "DURATION=$DURATION" \
    --summary-export "$out/$1-$2.json" k6-tests/limits-cost.js >/dev/null
  kill -TERM "$pid"
  wait "$pid" || true
}

for round in $(seq 1 "$ROUNDS"); do
  # Alternate which goes first, so a drift in the machine's load does not favour one side.
  if [ $((round % 2)) -eq 1 ]; then run "$round" on; run "$round" off; else run "$round" off; run "$round" on; fi
done

python3 - "$out" "$VUS" "$DURATION" <<'PY' | tee "$out/summary.txt"
import json, pathlib, statistics, sys
out, vus, duration = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
rates = {"on": [], "off": []}
for f in sorted(out.glob("*-*.json")):
    mode = f.stem.split("-")[1]
    m = json.loads(f.read_text())["metrics"]
    rates[mode].append((f.stem, m["http_reqs"]["rate"], m["http_req_duration"]["med"], m["http_req_failed"]["value"]))
print(f"S6 POST /track_click, closed loop, {vus} VUs x {duration} per run, one analyticsservice")
for mode in ("on", "off"):
    for stem, rate, med, failed in rates[mode]:
        print(f"  {stem:8} {rate:9.0f} req/s  median {med:.3f} ms  failed {failed:.4f}")
for mode in ("on", "off"):
    r = [x[1] for x in rates[mode]]
    print(f"limits {mode:3}: mean {statistics.mean(r):.0f} req/s, median {statistics.median(r):.0f}, "
          f"min {min(r):.0f}, max {max(r):.0f} over {len(r)} runs")
on, off = statistics.mean(x[1] for x in rates["on"]), statistics.mean(x[1] for x in rates["off"])
print(f"on/off: {on / off:.3f}")
PY
