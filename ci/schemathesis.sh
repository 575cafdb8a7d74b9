#!/usr/bin/env bash
# Schema fuzzing of the local system: starts the ten services with `stack up`, runs Schemathesis
# against each service's own /openapi.json (every operation; examples, coverage and fuzzing phases),
# and stops the system again, also when a check fails. Exits non-zero on any finding.
#
# Schemathesis sends what each document allows and what it forbids, and checks every answer against
# the document: no 5xx, only documented statuses, the documented content type, headers and body
# schema. The budget is fixed (SCHEMATHESIS_MAX_EXAMPLES per operation, a fixed seed), so the run
# takes the same bounded time each time; REPORT_SECONDS is small so that each report is quick.
#
#   ci/schemathesis.sh                 # needs `pip install schemathesis==4.32.5`, or SCHEMATHESIS
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS=${SCHEMATHESIS:-schemathesis}
MAX_EXAMPLES=${SCHEMATHESIS_MAX_EXAMPLES:-25}
SEED=${SCHEMATHESIS_SEED:-20261125}
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance
PORTS=(8001 8002 8003 8004 8005 8006 8007 8008 8009 8010)
export STACK_PG_PORT=${STACK_PG_PORT:-54331}
export REPORT_SECONDS=${REPORT_SECONDS:-0.05}
# Payments and welcome emails answer only after 2 s and 500 ms: the default 10 s timeout holds them.
export RUST_LOG=${RUST_LOG:-warn}

out=target/schemathesis
mkdir -p "$out"
"$SCHEMATHESIS" --version

cargo build --release --locked -p stack --bins
cargo run --release --locked -p stack -- up >"$out/stack.log" 2>&1 &
stack=$!
stop_stack() {
  kill -TERM "$stack" 2>/dev/null || true
  wait "$stack" 2>/dev/null || true
}
trap stop_stack EXIT

ready=false
for _ in $(seq 1 600); do
  if ! kill -0 "$stack" 2>/dev/null; then
    echo "stack up exited before the system was ready:" >&2
    cat "$out/stack.log" >&2
    exit 1
  fi
  # Ready when every service answers /health and this stack is still the one running them (another
  # stack on the same ports would make this one exit on "address in use").
  all_healthy=true
  for port in "${PORTS[@]}"; do
    curl -fs -o /dev/null --max-time 2 "http://127.0.0.1:${port}/health" || { all_healthy=false; break; }
  done
  if [ "$all_healthy" = true ] && grep -qi 'ready' "$out/stack.log"; then
    ready=true
    break
  fi
  sleep 1
done
if [ "$ready" != true ]; then
  echo "the system was not ready within 10 minutes:" >&2
  cat "$out/stack.log" >&2
  exit 1
fi

failed=()
for port in "${PORTS[@]}"; do
  printf '\n==> schemathesis: 127.0.0.1:%s\n' "$port"
  if ! "$SCHEMATHESIS" run "http://127.0.0.1:${port}/openapi.json" \
    --checks "$CHECKS" \
    --phases examples,coverage,fuzzing \
    --max-examples "$MAX_EXAMPLES" \
    --seed "$SEED" \
    --workers 2 \
    --request-timeout 15 \
    --no-color \
    --report junit --report-junit-path "$out/junit-${port}.xml"; then
    failed+=("$port")
  fi
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "schemathesis found problems on port(s): ${failed[*]}" >&2
  exit 1
fi
echo "schemathesis: no findings on any of the ten services"
