#!/usr/bin/env bash
# What metrics and traces cost: S6 throughput of the analytics service binary (closed-loop k6, see
# s6-throughput.js) in three configurations, alternated round by round so that drifting load on the
# machine hits each alike:
#   off      METRICS=off OTEL_SDK_DISABLED=true   (no instrumentation at all: the baseline)
#   metrics  the default: metrics on, trace context on, no export
#   traced   metrics on, every request's span exported (OTEL_TRACES_SAMPLER=always_on) to a local
#            OTLP/HTTP receiver that discards them
# Usage: deploy/observability/cost-bench.sh [rounds=5] [seconds=20] [vus=16]
# Needs the release binaries (cargo build --release) and k6. Writes results/<time>-telemetry-cost/.
set -euo pipefail
cd "$(dirname "$0")/../.."

ROUNDS=${1:-5}
SECONDS_PER_RUN=${2:-20}
VUS=${3:-16}
K6=${K6:-k6}
PORT=${COST_PORT:-18106}
OTLP_PORT=${COST_OTLP_PORT:-18318}
OUT="results/$(date -u +%Y%m%dT%H%M%SZ)-telemetry-cost"
mkdir -p "$OUT"

# The OTLP receiver: answers every POST with 200 and an empty (valid) protobuf response.
python3 - "$OTLP_PORT" <<'PY' &
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
class Sink(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
HTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
PY
SINK=$!
trap 'kill $SINK 2>/dev/null || true' EXIT

run() { # run <round> <mode>
  local round=$1 mode=$2 env=()
  case $mode in
    off) env=(METRICS=off OTEL_SDK_DISABLED=true) ;;
    metrics) env=() ;;
    traced) env=(OTEL_EXPORTER_OTLP_ENDPOINT="http://127.0.0.1:$OTLP_PORT" OTEL_TRACES_SAMPLER=always_on) ;;
  esac
  env -i PATH="$PATH" PORT="$PORT" RUST_LOG=warn "${env[@]}" target/release/analyticsservice &
  local service=$!
  for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
  "$K6" run --quiet --no-color -e TARGET="http://127.0.0.1:$PORT" -e VUS="$VUS" -e DURATION="${SECONDS_PER_RUN}s" \
    --summary-export "$OUT/$mode-$round.json" deploy/observability/s6-throughput.js >/dev/null 2>&1
  # The service's own CPU time (utime + stime, in clock ticks): per request, it is what the
  # instrumentation costs, much less bent by other load on the machine than the throughput is.
  local ticks
  ticks=$(awk '{print $14 + $15}' "/proc/$service/stat")
  kill -TERM $service; wait $service || true
  python3 -c "import json,os,sys; m=json.load(open(sys.argv[1]))['metrics']; n=m['http_reqs']['count']; cpu=int(sys.argv[4])/os.sysconf('SC_CLK_TCK'); print(f\"{sys.argv[2]},{sys.argv[3]},{m['http_reqs']['rate']:.1f},{m['http_req_duration']['p(50)']:.3f},{m['http_req_duration']['p(99)']:.3f},{1e6*cpu/n:.2f},{m.get('checks',{}).get('fails',0)}\")" \
    "$OUT/$mode-$round.json" "$round" "$mode" "$ticks" | tee -a "$OUT/runs.csv"
}

echo "round,mode,requests_per_s,p50_ms,p99_ms,service_cpu_us_per_request,failed_checks" | tee "$OUT/runs.csv"
modes=(off metrics traced)
for round in $(seq 1 "$ROUNDS"); do
  # Rotate the order each round: no configuration always runs first.
  for i in 0 1 2; do run "$round" "${modes[$(( (i + round) % 3 ))]}"; done
done
python3 - "$OUT/runs.csv" <<'PY' | tee "$OUT/summary.txt"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
rate = {m: [float(r["requests_per_s"]) for r in rows if r["mode"] == m] for m in ("off", "metrics", "traced")}
cpu = {m: [float(r["service_cpu_us_per_request"]) for r in rows if r["mode"] == m] for m in rate}
base, base_cpu = statistics.mean(rate["off"]), statistics.mean(cpu["off"])
for mode, values in rate.items():
    mean, mean_cpu = statistics.mean(values), statistics.mean(cpu[mode])
    print(f"{mode:8} {mean:9.1f} req/s ({100 * (mean - base) / base:+.1f} % vs off; runs {', '.join(f'{v:.0f}' for v in values)})"
          f"  service CPU {mean_cpu:.1f} us/request ({100 * (mean_cpu - base_cpu) / base_cpu:+.1f} % vs off)")
PY
echo "results in $OUT"
