# One image per service, all from this file: `docker compose build` passes SERVICE. The build stages
# do not use SERVICE, so they are identical for the ten services and built once; each runtime stage
# copies one binary out of them.
#
# Plain Dockerfile instructions only (no `RUN --mount`, no heredocs), so that it builds on every
# engine with the Docker API: Docker Engine's classic builder (Debian's docker.io 20.10, which has no
# buildx), BuildKit, and podman/buildah. Dependencies are cached as a layer of their own instead of
# in a cache mount: the `skeleton` stage reduces the workspace to its manifests, its lockfile and
# stub Rust files; the `build` stage compiles the dependencies against that skeleton (a layer that
# stays cached until a manifest or Cargo.lock changes, since COPY's cache compares file contents),
# then compiles the real sources on top of it.

FROM rust:1.95-slim-bookworm AS skeleton
WORKDIR /src
COPY . .
# Every manifest as it is; every Rust file as a stub (entry points `fn main() {}`, the rest empty).
RUN mkdir /skeleton \
    && find . \( -name Cargo.toml -o -name Cargo.lock \) -exec cp --parents -t /skeleton {} + \
    && find . -name '*.rs' >/tmp/rust-files \
    && while read -r file; do \
         mkdir -p "/skeleton/${file%/*}"; \
         case "$file" in \
           */src/main.rs | */src/bin/*.rs | */tests/*.rs | */benches/*.rs | */examples/*.rs | */build.rs) \
             echo "fn main() {}" ;; \
           *) : ;; \
         esac >"/skeleton/$file"; \
       done </tmp/rust-files

# The services only: the workspace less its tests (e2e) and the instrument (stack and its crates),
# whose dependencies no image needs.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
ARG NOT_SERVICES="--exclude e2e --exclude stack --exclude stack-study --exclude stack-system --exclude stack-record"
COPY --from=skeleton /skeleton/ ./
RUN cargo build --release --locked --workspace ${NOT_SERVICES} --bins
COPY . .
# The real sources are older than the stubs' build: touched, so that cargo rebuilds the workspace's
# own crates (and only those) instead of taking the stubs' binaries for up to date.
RUN find . -name '*.rs' -not -path './target/*' -exec touch {} + \
    && cargo build --release --locked --workspace ${NOT_SERVICES} --bins \
    && mkdir /out \
    && find target/release -maxdepth 1 -type f -perm -u+x -exec cp {} /out/ \;

# glibc and libgcc, a non-root user, nothing else: no shell, no package manager.
FROM gcr.io/distroless/cc-debian12:nonroot
ARG SERVICE
COPY --from=build /out/${SERVICE} /app/service
ENV PORT=8000
EXPOSE 8000
USER 65532:65532
ENTRYPOINT ["/app/service"]
