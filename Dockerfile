# syntax=docker/dockerfile:1
#
# One image per service, all from this file: `docker compose build` passes SERVICE. The build stage
# does not use SERVICE, so it is identical for the ten services and BuildKit runs it once; each
# runtime stage copies one binary out of it.

FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --workspace --exclude e2e --bins \
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
