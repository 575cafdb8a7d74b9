#!/usr/bin/env bash
# What tracing at the default sample costs the system (issue 29, item 6): benches of this system
# (`--target local`, open loop) alternating `--trace-sample 0.1` (the default) and `--trace-sample 0`,
# PAIRS pairs, the order within each pair flipped every other pair so that a drift of the machine
# falls on both alike. Each bench is one repeat of the same scenarios with the same seed. The run
# directories are listed in results/tracing-cost-<stamp>.txt (one `on|off RUN_DIR` a line), which
# ci/tracing-cost.py summarises: per scenario, the system's CPU per request and k6's p50/p99, each
# run's load average beside them.
#
# Usage: ci/tracing-cost.sh [PAIRS] [SCENARIOS]   (default 5 pairs of s3,s5,s6)
#   then: python3 ci/tracing-cost.py results/tracing-cost-<stamp>.txt
# Binds ports 8001-8010: on a machine shared with tests, run it under `flock /work/coord/ports.lock`
# or whatever lock the tests take.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PAIRS=${1:-5}
SCENARIOS=${2:-s3,s5,s6}
STACK="$ROOT/target/release/stack"
LIST="$ROOT/results/tracing-cost-$(date -u +%Y%m%dT%H%M%SZ).txt"
mkdir -p "$ROOT/results"
[[ -x $STACK ]] || { echo "build first: cargo build --release --workspace" >&2; exit 2; }

bench() { # SIDE SAMPLE
  local dir
  # The bench prints `results: <run dir>` on its standard output when it ends, also when k6 reports
  # a crossed threshold (a p99 over its SLO on a loaded machine), which is no reason to stop here.
  dir=$(cd "$ROOT" && "$STACK" bench --no-build --profile open --scenarios "$SCENARIOS" --warmup 2 \
    --seed 29 --trace-sample "$2" | tee /dev/stderr | sed -n 's/^results: //p' | tail -n1 || true)
  [[ -n $dir ]] || { echo "the bench with --trace-sample $2 printed no run directory" >&2; exit 1; }
  echo "$1 $dir $(cut -d' ' -f1-3 /proc/loadavg)" >>"$LIST"
}

for pair in $(seq 1 "$PAIRS"); do
  if ((pair % 2)); then
    bench on 0.1
    bench off 0
  else
    bench off 0
    bench on 0.1
  fi
done
echo "runs listed in $LIST"
