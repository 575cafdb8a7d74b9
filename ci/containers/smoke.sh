#!/usr/bin/env bash
# The container smoke run: the study's own entry point (the unmodified Dockerfile and
# docker-compose-sync.yml), built and run for real on an engine with the Docker API, then checked.
#
#   1. the engine: Docker Engine where it is installed, else podman (CONTAINER_ENGINE=docker|podman
#      chooses). Docker Engine: the daemon DOCKER_HOST (or /var/run/docker.sock) names if one answers,
#      else a private dockerd (vfs storage, no iptables, socket /run/sync-docker.sock, data under
#      /var/lib/sync-docker); podman (runc, ulimits within the host's) serves the Docker API on a
#      private socket. Debian's docker-compose 1.29 talks to either as a user's `docker compose`
#      talks to Docker, and builds with the engine's own builder (Docker's classic builder: no
#      BuildKit, which Debian's docker.io 20.10 cannot run). The private dockerd cannot NAT without
#      iptables, so its builds alone use the host's network (build-network-host.yml, announced);
#   2. the three public base images are pulled, or stand-ins are built (standins.sh, announced);
#   3. the ten images are built and their sizes recorded; a service image over IMAGE_LIMIT_MB fails;
#   4. `up -d`, every health check passes (a host loop runs them where the engine cannot, announced);
#   5. every container has the compose file's CPU and memory limits, in the runtime's cgroups too;
#      every service runs as a non-root user;
#   6. the k6 smoke profile passes against the published ports 8001-8006, driven by
#      `stack bench --target compose`, whose record samples every container (`docker stats`);
#   7. orderservice restarts while S5 load runs; then every service is healthy and no stock stayed
#      reserved;
#   8. containers, networks and volumes are removed, also when a step fails (images stay: a cache).
#
# Run as root: `bash ci/containers/smoke.sh`. It writes results/container-smoke-<time>/ (the engine,
# image sizes, step times, logs). SERVICE_CPUS and SERVICE_MEMORY set the limits it checks, as in
# compose.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
source ci/containers/standins.sh

COMPOSE=(docker-compose -f docker-compose-sync.yml -p syncsmoke)
# The build's compose files: the same, plus build-network-host.yml where the engine has no NAT.
BUILD_COMPOSE=("${COMPOSE[@]}")
SERVICES=(userservice paymentservice productservice reportservice orderservice analyticsservice
  emailservice searchservice cacheservice inventoryservice)
CONTAINERS=(postgres "${SERVICES[@]}")
IMAGE_LIMIT_MB=${IMAGE_LIMIT_MB:-20}
K6=${K6:-k6}
SERVICE_CPUS=${SERVICE_CPUS:-1.0}
SERVICE_MEMORY=${SERVICE_MEMORY:-512m}
OUT=$ROOT/results/container-smoke-$(date -u +%Y%m%dT%H%M%SZ)
SOCKET_DIR=/run/sync-smoke
DOCKERD_SOCKET=/run/sync-docker.sock
DOCKERD_DATA=/var/lib/sync-docker
# docker-compose 1.29 builds through the engine's API (docker-py), not through a docker CLI.
export COMPOSE_DOCKER_CLI_BUILD=0 DOCKER_BUILDKIT=0
mkdir -p "$OUT" "$SOCKET_DIR"

# The engine: Docker Engine where installed (or already running), podman otherwise.
ENGINE=${CONTAINER_ENGINE:-}
if [ -z "$ENGINE" ]; then
  if command -v dockerd >/dev/null || docker info >/dev/null 2>&1; then ENGINE=docker; else ENGINE=podman; fi
fi
case "$ENGINE" in
  docker)
    # A daemon already running (DOCKER_HOST, or the default socket) is the user's engine: use it.
    if docker info >/dev/null 2>&1; then
      OWN_DOCKERD=false
      export DOCKER_HOST=${DOCKER_HOST:-unix:///var/run/docker.sock}
    else
      OWN_DOCKERD=true
      export DOCKER_HOST=unix://$DOCKERD_SOCKET
      BUILD_COMPOSE=(docker-compose -f docker-compose-sync.yml -f ci/containers/build-network-host.yml -p syncsmoke)
    fi
    ;;
  podman) export DOCKER_HOST=unix://$SOCKET_DIR/podman.sock ;;
  *) echo "CONTAINER_ENGINE=$ENGINE: docker or podman" >&2 && exit 2 ;;
esac
# The CLI of the engine, for what compose does not do (inspect, exec, top); also stack's.
engine() { "$ENGINE" "$@"; }
export STACK_DOCKER=$ENGINE

STARTED=$SECONDS
step_started=$SECONDS
step() {
  printf '%s\t%s\n' "${current_step:-start}" "$((SECONDS - step_started))" >>"$OUT/step-seconds.tsv"
  current_step=$1
  step_started=$SECONDS
  printf '\n==> container smoke: %s (%d s so far)\n' "$1" "$((SECONDS - STARTED))"
}
table() { column -s, -t "$1" 2>/dev/null || cat "$1"; }
fail() {
  echo "container smoke FAILED: $*" >&2
  exit 1
}

# One smoke run per machine at a time: the compose file names its containers.
mkdir -p /run/lock
exec 9>/run/lock/sync-container-smoke.lock
flock -w 1800 9 || fail "another container smoke run holds /run/lock/sync-container-smoke.lock"

ENGINE_PID=
ENGINE_UP=
HEALTH_LOOP_PID=
cleanup() {
  local status=$?
  set +e
  echo
  echo "==> container smoke: removing containers, networks and volumes"
  if [ -n "$ENGINE_UP" ]; then
    "${COMPOSE[@]}" logs --no-color >"$OUT/compose.log" 2>&1
    "${COMPOSE[@]}" down --volumes --remove-orphans --timeout 10 >>"$OUT/down.log" 2>&1
  fi
  [ -n "$HEALTH_LOOP_PID" ] && kill "$HEALTH_LOOP_PID" 2>/dev/null && wait "$HEALTH_LOOP_PID" 2>/dev/null
  [ -n "$ENGINE_PID" ] && kill "$ENGINE_PID" 2>/dev/null && wait "$ENGINE_PID" 2>/dev/null
  [ -n "${ENGINE_NAME:-}" ] && echo "container smoke ran on: $ENGINE_NAME"
  printf '%s\t%s\n' "${current_step:-start}" "$((SECONDS - step_started))" >>"$OUT/step-seconds.tsv"
  if [ "${#STANDINS_USED[@]}" -gt 0 ]; then
    loud "This run used STAND-IN base images (test fixtures, not the public images): ${STANDINS_USED[*]}"
  fi
  [ -n "${HEALTH_LOOP_ANNOUNCED:-}" ] &&
    loud "Health checks ran from a host loop (podman healthcheck run every 2 s): the engine cannot schedule them here"
  echo "container smoke: $([ $status -eq 0 ] && echo passed || echo FAILED) in $((SECONDS - STARTED)) s; record in ${OUT#"$ROOT"/}"
  exit $status
}
trap cleanup EXIT

# crun fails on this kind of host ("cgroups in hybrid mode not supported"), and podman's default
# ulimits exceed what the host lets a container set ("error setting rlimit type 7"); both settings
# also hold for containers created through the API socket.
configure_podman() {
  local conf=/etc/containers/containers.conf nproc
  if [ -f "$conf" ] && grep -q default_ulimits "$conf" && grep -q 'runtime *= *"runc"' "$conf"; then
    return 0
  fi
  [ -f "$conf" ] && cp "$conf" "$conf.before-sync-smoke"
  # The kernel refuses an nproc limit above pid_max here, whatever the hard limit says.
  nproc=$(ulimit -Hu)
  [ "$nproc" = unlimited ] || [ "$nproc" -gt "$(cat /proc/sys/kernel/pid_max)" ] && nproc=$(cat /proc/sys/kernel/pid_max)
  mkdir -p /etc/containers
  cat >"$conf" <<EOF
# Written by ci/containers/smoke.sh: runc (crun fails on hybrid cgroups) and ulimits within the host's.
[containers]
default_ulimits = ["nofile=$(ulimit -Hn):$(ulimit -Hn)", "nproc=$nproc:$nproc"]

[engine]
runtime = "runc"
EOF
  echo "wrote $conf"
}

start_podman() {
  rm -f "$SOCKET_DIR/podman.sock"
  podman system service --time=0 "$DOCKER_HOST" >"$OUT/engine.log" 2>&1 &
  ENGINE_PID=$!
  for _ in $(seq 1 50); do
    [ -S "$SOCKET_DIR/podman.sock" ] && docker-compose version >/dev/null 2>&1 &&
      "${COMPOSE[@]}" ps >/dev/null 2>&1 && return 0
    sleep 0.2
  done
  fail "podman system service did not answer on $DOCKER_HOST (see $OUT/engine.log)"
}

# Docker Engine as Debian packages it (docker.io 20.10): vfs storage, which works on any file system,
# and no iptables rules (published ports go through docker-proxy), with a socket, data root, exec
# root and pid file of its own, so that it leaves any other daemon on the machine alone.
start_dockerd() {
  if [ "$OWN_DOCKERD" = true ]; then
    rm -f "$DOCKERD_SOCKET"
    dockerd --host "$DOCKER_HOST" --storage-driver=vfs --iptables=false --data-root "$DOCKERD_DATA" \
      --exec-root /run/sync-docker --pidfile /run/sync-docker.pid >"$OUT/engine.log" 2>&1 &
    ENGINE_PID=$!
  fi
  for _ in $(seq 1 150); do
    docker version >/dev/null 2>&1 && "${COMPOSE[@]}" ps >/dev/null 2>&1 && return 0
    [ -z "$ENGINE_PID" ] || kill -0 "$ENGINE_PID" 2>/dev/null || break
    sleep 0.2
  done
  tail -20 "$OUT/engine.log" 2>/dev/null
  fail "Docker Engine did not answer on $DOCKER_HOST (see $OUT/engine.log)"
}

# Leftovers of an earlier run that was killed before its clean-up.
remove_leftovers() {
  "${COMPOSE[@]}" down --volumes --remove-orphans --timeout 5 >/dev/null 2>&1 || true
  engine rm -f "${CONTAINERS[@]}" >/dev/null 2>&1 || true
}

image_of() { echo "syncsmoke_$1"; }

record_image_sizes() {
  local service bytes too_big=()
  echo "image,bytes,megabytes" >"$OUT/image-sizes.csv"
  for service in "${SERVICES[@]}"; do
    bytes=$(engine image inspect --format '{{.Size}}' "$(image_of "$service")")
    printf '%s,%s,%s\n' "$service" "$bytes" "$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1e6 }')" >>"$OUT/image-sizes.csv"
    [ "$bytes" -gt $((IMAGE_LIMIT_MB * 1000 * 1000)) ] && too_big+=("$service")
  done
  table "$OUT/image-sizes.csv"
  [ "${#too_big[@]}" -eq 0 ] || fail "service images over ${IMAGE_LIMIT_MB} MB: ${too_big[*]}"
}

# podman 4.3 schedules health checks with systemd timers; without systemd they never run, every
# container stays `starting` and `depends_on: service_healthy` waits for ever. This loop stands in.
start_health_loop_if_needed() {
  [ "$ENGINE" = podman ] || return 0  # Docker Engine runs health checks itself
  [ -d /run/systemd/system ] && return 0
  HEALTH_LOOP_ANNOUNCED=1
  loud "No systemd: podman cannot schedule health checks here; a host loop runs 'podman healthcheck run' every 2 s (a test fixture)"
  (
    trap 'exit 0' TERM
    while true; do
      for container in $(podman ps --filter label=com.docker.compose.project=syncsmoke --format '{{.Names}}'); do
        podman healthcheck run "$container" >/dev/null 2>&1 &
      done
      wait
      sleep 2
    done
  ) &
  HEALTH_LOOP_PID=$!
}

# The published ports are the local system's too (`stack up`); on a shared machine, wait for them.
wait_for_free_ports() {
  local deadline=$((SECONDS + ${PORT_WAIT_SECONDS:-900})) busy
  while busy=$(ss -Hltn '( sport >= :8001 and sport <= :8006 )' | awk '{ print $4 }' | tr '\n' ' ') && [ -n "$busy" ]; do
    [ $SECONDS -lt $deadline ] || fail "ports still in use: $busy"
    echo "waiting for the published ports to be free (in use: $busy)"
    sleep 15
  done
}

# `up -d`, again when another system took a published port meanwhile (only on a shared machine).
compose_up() {
  local attempt
  for attempt in 1 2 3 4 5; do
    wait_for_free_ports
    "${COMPOSE[@]}" up -d --no-build >"$OUT/up.log" 2>&1 && return 0
    grep -q 'address already in use' "$OUT/up.log" || { cat "$OUT/up.log"; fail "docker-compose up -d"; }
    echo "attempt $attempt: a published port was taken while the system started; starting again"
    "${COMPOSE[@]}" down --volumes --timeout 5 >/dev/null 2>&1 || true
  done
  fail "the published ports kept being taken by another system"
}

health_of() { engine inspect --format '{{.State.Health.Status}}' "$1" 2>/dev/null || echo missing; }

wait_all_healthy() {
  local deadline=$((SECONDS + $1)) container waiting
  while true; do
    waiting=()
    for container in "${CONTAINERS[@]}"; do
      [ "$(health_of "$container")" = healthy ] || waiting+=("$container")
    done
    [ "${#waiting[@]}" -eq 0 ] && return 0
    [ $SECONDS -lt $deadline ] || fail "not healthy after $1 s: ${waiting[*]}"
    sleep 1
  done
}

check_limits() {
  local cpus_nano memory container nano mem pid cgroup quota period limit
  cpus_nano=$(awk -v c="$SERVICE_CPUS" 'BEGIN { printf "%d", c * 1e9 }')
  memory=$(numfmt --from=iec "$(echo "$SERVICE_MEMORY" | tr '[:lower:]' '[:upper:]' | sed 's/B$//')")
  echo "container,nano_cpus,memory_bytes,cfs_quota_us,cfs_period_us,cgroup_memory_limit" >"$OUT/limits.csv"
  for container in "${CONTAINERS[@]}"; do
    read -r nano mem pid < <(engine inspect --format '{{.HostConfig.NanoCpus}} {{.HostConfig.Memory}} {{.State.Pid}}' "$container")
    # What the runtime applied, read from the kernel: the cgroup of the container's first process
    # (cgroup v1: the cpu controller's line; v2 keeps both in one folder).
    cgroup=$(awk -F: '$2 ~ /(^|,)cpu(,|$)/ { v1 = $3 } $1 == 0 && $2 == "" { v2 = $3 } END { print (v1 != "" ? v1 : v2) }' "/proc/$pid/cgroup")
    if [ -d "/sys/fs/cgroup/cpu$cgroup" ] && [ -f "/sys/fs/cgroup/cpu$cgroup/cpu.cfs_quota_us" ]; then
      quota=$(cat "/sys/fs/cgroup/cpu$cgroup/cpu.cfs_quota_us") period=$(cat "/sys/fs/cgroup/cpu$cgroup/cpu.cfs_period_us")
      limit=$(cat "/sys/fs/cgroup/memory$cgroup/memory.limit_in_bytes")
    else
      read -r quota period <"/sys/fs/cgroup$cgroup/cpu.max"
      limit=$(cat "/sys/fs/cgroup$cgroup/memory.max")
    fi
    echo "$container,$nano,$mem,$quota,$period,$limit" >>"$OUT/limits.csv"
    [ "$nano" = "$cpus_nano" ] && [ "$mem" = "$memory" ] && [ "$limit" = "$memory" ] &&
      [ "$((quota * 1000000000 / period))" = "$cpus_nano" ] ||
      fail "$container: limits are cpus=$nano/1e9 memory=$mem (cgroup: quota $quota/$period, memory $limit); want $SERVICE_CPUS and $SERVICE_MEMORY"
  done
  table "$OUT/limits.csv"
}

check_non_root() {
  local service uids
  for service in "${SERVICES[@]}"; do
    if [ "$ENGINE" = podman ]; then
      uids=$(podman top "$service" huser | tail -n +2 | sort -u | tr '\n' ' ')
    else
      uids=$(docker top "$service" -o pid,uid | awk 'NR > 1 { print $2 }' | sort -u | tr '\n' ' ')
    fi
    echo "$service runs as uid ${uids}"
    case " $uids" in *" 0 "* | *" root "*) fail "$service runs a process as root" ;; esac
  done
}

# The run record's resources.csv holds samples of every container.
check_record_samples_every_container() {
  python3 - "$1" "${CONTAINERS[@]}" <<'PY'
import csv, sys
record, containers = sys.argv[1], set(sys.argv[2:])
sampled = {row["process"] for row in csv.DictReader(open(f"{record}/resources.csv"))}
missing = containers - sampled
assert not missing, f"{record}/resources.csv has no samples of {sorted(missing)}"
print(f"{record}: resources.csv samples all {len(containers)} containers")
PY
}

reserved_stock() {
  engine exec postgres psql -U postgres -d sync -Atc \
    "SELECT (SELECT coalesce(sum(reserved), 0) FROM inventoryservice.inventory_items)
          + (SELECT count(*) FROM inventoryservice.reservations WHERE state = 'reserved')"
}

if [ "$ENGINE" = docker ]; then
  step "engine: Docker Engine on $DOCKER_HOST ($([ "$OWN_DOCKERD" = true ] && echo "a private dockerd" || echo "the running daemon"))"
  start_dockerd
  ENGINE_NAME="Docker Engine $(docker version --format '{{.Server.Version}}') ($(docker info --format '{{.Driver}}') storage, classic builder), docker-compose $(docker-compose version --short)"
else
  step "engine: podman $(podman --version | cut -d' ' -f3) with runc, Docker API on $DOCKER_HOST"
  configure_podman
  start_podman
  ENGINE_NAME="podman $(podman --version | cut -d' ' -f3) (runc, Docker API), docker-compose $(docker-compose version --short)"
fi
ENGINE_UP=1
echo "$ENGINE_NAME" | tee "$OUT/engine.txt"
remove_leftovers

step "base images"
# Stand-ins are built with podman, also for Docker Engine (standins.sh).
[ "$ENGINE" = docker ] && command -v podman >/dev/null && configure_podman
ensure_base_images

step "build the ten images (unmodified Dockerfile)"
[ "${#BUILD_COMPOSE[@]}" -gt "${#COMPOSE[@]}" ] &&
  loud "The private dockerd runs without iptables (no NAT): the build steps use the host's network (ci/containers/build-network-host.yml)"
"${BUILD_COMPOSE[@]}" build >"$OUT/build.log" 2>&1 || { tail -40 "$OUT/build.log"; fail "docker-compose build"; }
record_image_sizes

step "up -d and wait for every health check"
start_health_loop_if_needed
compose_up
wait_all_healthy 120

step "resource limits (SERVICE_CPUS=$SERVICE_CPUS, SERVICE_MEMORY=$SERVICE_MEMORY) and non-root users"
check_limits
check_non_root

step "k6 smoke profile against the published ports, through stack bench --target compose"
before=$(ls -d results/*-smoke 2>/dev/null || true)
cargo run --release --locked -q -p stack -- bench --target compose --profile smoke 2>&1 |
  tee "$OUT/bench.txt" | tail -30
[ "${PIPESTATUS[0]}" -eq 0 ] || fail "stack bench --target compose --profile smoke"
record=$(comm -13 <(echo "$before") <(ls -d results/*-smoke) | tail -1)
[ -n "$record" ] || fail "stack bench left no record under results/"
check_record_samples_every_container "$record"

step "restart orderservice under S5 load"
timeout 60 "$K6" run --quiet -e PROFILE=baseline -e SCENARIOS=s5 k6-tests/script-sync.js >"$OUT/k6-s5-restart.txt" 2>&1 &
k6_pid=$!
sleep 8
"${COMPOSE[@]}" restart orderservice >>"$OUT/restart.log" 2>&1 || fail "restart orderservice"
wait "$k6_pid" || echo "(k6 reports failed requests during the restart, as expected: $OUT/k6-s5-restart.txt)"
grep -E 'http_reqs|checks' "$OUT/k6-s5-restart.txt" | head -3 || true
wait_all_healthy 120
echo "every container healthy again"
for _ in $(seq 1 60); do
  [ "$(reserved_stock)" = 0 ] && break
  sleep 1
done
[ "$(reserved_stock)" = 0 ] || fail "stock stayed reserved after the restart: $(reserved_stock)"
echo "no stock reserved"

step "done"
