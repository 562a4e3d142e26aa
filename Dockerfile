# syntax=docker/dockerfile:1
# Steward's container image: one `steward` binary on Debian bookworm-slim,
# running as an unprivileged user. docker-compose.yml runs it as `migrate`,
# `serve` and `worker`; docs/DEPLOY.md explains the settings.
#
#   docker build -t steward .
#   docker run --rm steward --help
#
# tests/deploy/check lints this file (hadolint) and checks its structure.

# --- build --------------------------------------------------------------------
FROM rust:1.95-bookworm AS build
WORKDIR /src
# protoc comes from the protoc-bin-vendored crate, the web bundle the server
# embeds is committed (clients/web/dist), and PostgreSQL is reached through
# tokio-postgres: the Rust image needs nothing else.
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin steward \
    && install -m 0755 target/release/steward /usr/local/bin/steward

# --- runtime ------------------------------------------------------------------
FROM debian:bookworm-slim AS runtime
# ca-certificates: TLS to PostgreSQL, S3, OIDC and the portability providers;
# curl: the health check below. The binary links nothing beyond glibc.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 steward \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/steward --shell /usr/sbin/nologin steward \
    && install -d -o steward -g steward -m 0750 /var/lib/steward \
    && install -d -o steward -g steward -m 0755 /descriptor
COPY --from=build /usr/local/bin/steward /usr/local/bin/steward

# Local blobs and upload staging live in the data dir: mount a volume there
# (shared by every `serve` and `worker`), or use STEWARD_OBJECT_STORE.
ENV STEWARD_ENV=production \
    STEWARD_LISTEN=0.0.0.0:8080 \
    STEWARD_DATA_DIR=/var/lib/steward \
    STEWARD_LOG_FORMAT=json
WORKDIR /var/lib/steward
USER 10001:10001
EXPOSE 8080
# /healthz answers 200 once the database is reachable and migrated. A `worker`
# container serves no HTTP: docker-compose.yml turns this check off for it.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["steward"]
CMD ["serve"]
