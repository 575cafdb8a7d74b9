#!/usr/bin/env bash
# One flamegraph of the services on a scenario's path under open-loop load (docs/performance.md).
#   k6-tests/cost-per-request.py --hold --bin-dir <bins> --out <dir> &   # prints the pids as JSON
#   docs/perf/profile.sh <hold.log> <s3|s5|s6> <rate> <out.svg>
# Needs perf (Debian's linux-perf) and inferno (cargo install inferno). Samples at 999 Hz with DWARF
# unwinding (the release binaries keep their symbols), for 10 s while k6 drives the scenario.
set -euo pipefail
hold_log=$1 scenario=$2 rate=$3 svg=$4
cd "$(dirname "$0")/../.."
case $scenario in
  s3) services="productservice searchservice cacheservice analyticsservice"; port=18003 ;;
  s5) services="orderservice inventoryservice paymentservice"; port=18005 ;;
  s6) services="analyticsservice"; port=18006 ;;
esac
pids=$(python3 -c "import json,sys; p=json.loads(open(sys.argv[1]).read().splitlines()[-1]); print(','.join(str(p[s]) for s in sys.argv[2:]))" "$hold_log" $services)
work=$(mktemp -d)
k6 run --quiet --no-color --address 127.0.0.1:0 -e SCENARIO="$scenario" -e RATE="$rate" -e DURATION=16s \
  -e URL="http://127.0.0.1:$port" k6-tests/cost-per-request.js >/dev/null 2>&1 &
k6=$!
sleep 4
perf record -F 999 --call-graph dwarf,16384 -p "$pids" -o "$work/perf.data" -- sleep 10 2>/dev/null
wait $k6 || true
perf script -i "$work/perf.data" 2>/dev/null | inferno-collapse-perf > "$work/folded"
inferno-flamegraph --minwidth 0.3 --title "$scenario at $rate/s: $services" < "$work/folded" > "$svg"
gzip -9c "$work/folded" > "${svg%.svg}.folded.gz"  # for docs/perf/breakdown.py
rm -rf "$work"
echo "$svg"
