#!/usr/bin/env bash
# The README's two commands on a clean Debian 12: the check that they work on a fresh machine.
#
# A minimal Debian 12 root (debootstrap bookworm minbase, made once and kept as a tarball under
# $CLEAN_ROOT_CACHE) is unpacked afresh, given a copy of the tracked files at the same path as here,
# and runs, as root, the README's two commands verbatim, each read from between its markers:
#   <!-- run:begin --> ... <!-- run:end -->     ./run: installs what running needs, builds, the smoke study
#   <!-- test:begin --> ... <!-- test:end -->   ./test: installs the test tools, the suite, the clean-up check
# From the host, besides the network (DNS and this network's CA certificates, as a fresh machine has
# them), the root gets exactly three things, to keep CI under 45 minutes and because no rustup server
# is reachable from our machines:
#   - the host's Rust toolchain: rustup's toolchains (read-only) and the proxies in ~/.cargo/bin;
#   - cargo's registry cache (~/.cargo/registry), so crates are not downloaded again;
#   - the host's target/release, built by CI's step before, at the same path, so cargo reuses it.
# Nothing else: not the host's Debian packages, Python, Node, PostgreSQL, cargo-nextest or caches.
# The root has its own process namespace: what the commands leave running ends with them.
# Afterwards the root's results/ is copied into this checkout's results/ (.ci/run checks its record).
#
# Usage: ci/clean-root.sh [README]   (CLEAN_ROOT_KEEP=1 keeps the root for a look afterwards;
#        NEXTEST_PROFILE and STACK_PG_PORT are passed in, the latter so that the smoke study's cluster
#        can avoid a port in use on a shared machine; CLEAN_ROOT_LOCK=<file> holds a flock on it
#        around both commands, which bind ports 8001-8010 of the host's network)
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
README=$(realpath "${1:-$REPO/README.md}")
CACHE=${CLEAN_ROOT_CACHE:-/var/cache/sync-clean-root}
PRISTINE=$CACHE/bookworm-minbase.tar
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

# The lines between `<!-- $1:begin -->` and `<!-- $1:end -->`, without Markdown's code fences.
block() {
  awk -v begin="<!-- $1:begin -->" -v end="<!-- $1:end -->" '
    $0 == begin { inside = 1; found = 1; next }
    $0 == end { inside = 0; next }
    inside && !/^```/ { print }
    END { exit !found }' "$README"
}

for name in run test; do
  if ! block "$name" | grep -q '[^[:space:]]'; then
    echo "clean-root: $README has no <!-- $name:begin --> ... <!-- $name:end --> block" >&2
    exit 1
  fi
done

if [ ! -s "$PRISTINE" ]; then
  echo "clean-root: making the Debian 12 minbase root (once; kept in $PRISTINE)"
  mkdir -p "$CACHE"
  staging=$(mktemp -d -p "$CACHE")
  debootstrap --variant=minbase bookworm "$staging" "$MIRROR" >/dev/null
  # The tarball's `./` is the root's `/`: not mktemp's private 0700 (see below).
  chmod 0755 "$staging"
  tar --numeric-owner -C "$staging" -cf "$PRISTINE.partial" .
  mv "$PRISTINE.partial" "$PRISTINE"
  rm -rf "$staging"
fi

ROOT=$(mktemp -d /var/tmp/clean-root.XXXXXX)
# Every process still running in the root when the commands end (servers they left) is stopped
# before the root is removed.
cleanup() {
  local pids
  if [ -d "$ROOT$REPO/results" ]; then
    mkdir -p "$REPO/results"
    cp -a "$ROOT$REPO/results/." "$REPO/results/"
  fi
  pids=$(for proc in /proc/[0-9]*; do
    [ "$(readlink "$proc/root" 2>/dev/null)" = "$ROOT" ] && basename "$proc"
  done || true)
  if [ -n "$pids" ]; then
    kill $pids 2>/dev/null || true
    sleep 2
    kill -9 $pids 2>/dev/null || true
  fi
  if [ "${CLEAN_ROOT_KEEP:-0}" = 1 ]; then
    echo "clean-root: kept $ROOT"
  else
    rm -rf --one-file-system "$ROOT"
  fi
}
trap cleanup EXIT

tar --numeric-owner -C "$ROOT" -xf "$PRISTINE"
# The root's `/` must be searchable by every user, as on a real machine: PostgreSQL runs as `nobody`
# there (stack-system/src/postgres.rs). mktemp's folder is private (0700), and so was the `./` of
# tarballs made before the chmod above; tar, as root, gives `/` the mode of `./`, so this comes after
# it. With `/` at 0700, `nobody` could run nothing in the root: `postgres --version` gave
# "Permission denied" (exit 126), which is how the run block failed.
chmod 0755 "$ROOT"
cat >"$ROOT/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb ${MIRROR%/debian}/debian-security bookworm-security main
EOF
cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
# A Debian install has /etc/hosts naming localhost; debootstrap makes none. Without it PostgreSQL 14
# cannot resolve `localhost` for its statistics collector and runs without statistics or autovacuum
# (stack::quiesce's test timed out in the root for want of them).
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$ROOT/etc/hosts"
# This network's CA certificates where Debian's ca-certificates package picks them up, and the
# host's bundle until that package is installed.
mkdir -p "$ROOT/usr/local/share/ca-certificates" "$ROOT/etc/ssl/certs"
cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/" 2>/dev/null || true
cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/ca-certificates.crt"

# The host's Rust: rustup's toolchains read-only, rustup's proxies (cargo, rustc, ...) copied from
# cargo's bin folder, cargo's registry cache shared. No cargo-nextest: ./test installs its own.
rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
cargo_home=${CARGO_HOME:-$HOME/.cargo}
mkdir -p "$ROOT/root/.rustup" "$ROOT/root/.cargo/registry" "$ROOT/root/.cargo/bin"
for proxy in cargo cargo-clippy cargo-fmt clippy-driver rustc rustdoc rustfmt rustup; do
  cp -a "$cargo_home/bin/$proxy" "$ROOT/root/.cargo/bin/"
done

# The tracked files (with their times, so that cargo's fingerprints still match), at the same path.
mkdir -p "$ROOT$REPO/target/release" "$REPO/target/release"
git -C "$REPO" ls-files -z | tar --null -C "$REPO" -T - -cf - | tar -C "$ROOT$REPO" -xf -

# The two commands as one shell session, in two parts (the second sources the environment the
# first exported), both on the host's network.
phase() {
  local name=$1
  {
    [ "$name" = run ] || echo 'source /root/session.env'
    echo 'set -euxo pipefail'
    echo "cd '$REPO'"
    block "$name"
    echo 'export -p >/root/session.env'
  } >"$ROOT/root/$name.sh"
  echo "clean-root: the README's $name block:"
  sed 's/^/    /' "$ROOT/root/$name.sh"
}

# Runs /root/$1.sh in the root, in namespaces of its own for mounts and processes. No tmpfs on the
# root's /tmp: it would hide a checkout under /tmp (and the bind mount into it), and the root's own
# /tmp goes with the root anyway.
in_root() {
  unshare --mount --propagation private --pid --fork bash -euo pipefail -c '
    ROOT=$1 REPO=$2 rustup_home=$3 cargo_home=$4 script=$5
    mount -t proc proc "$ROOT/proc"
    mount -t sysfs sys "$ROOT/sys"
    mount --rbind /dev "$ROOT/dev"
    mount -t tmpfs -o mode=1777 shm "$ROOT/dev/shm"
    mount --bind "$rustup_home" "$ROOT/root/.rustup"
    mount -o remount,bind,ro "$ROOT/root/.rustup"
    mount --bind "$cargo_home/registry" "$ROOT/root/.cargo/registry"
    mount --bind "$REPO/target/release" "$ROOT$REPO/target/release"
    exec chroot "$ROOT" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
      PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
      NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt CARGO_TERM_COLOR=never \
      RUSTUP_AUTO_INSTALL=0 DEBIAN_FRONTEND=noninteractive \
      ${NEXTEST_PROFILE:+NEXTEST_PROFILE=$NEXTEST_PROFILE} ${STACK_PG_PORT:+STACK_PG_PORT=$STACK_PG_PORT} \
      bash "$script"
  ' clean-root "$ROOT" "$REPO" "$rustup_home" "$cargo_home" "/root/$1.sh"
}

seconds() { date +%s; }
timed() {
  local started
  started=$(seconds)
  "$@"
  echo "clean-root: $1 $2 took $(($(seconds) - started)) s"
}

if [ -n "${CLEAN_ROOT_LOCK:-}" ]; then
  exec 9>"$CLEAN_ROOT_LOCK"
  flock 9
fi
phase run
timed in_root run
phase test
timed in_root test
echo "clean-root: the README's ./run and ./test passed on a clean Debian 12"
