# syntax=docker/dockerfile:1
# Build stage: compile the release binary (SQLite bundled, libpq from Debian).
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock build.rs* ./
COPY src ./src
COPY migrations ./migrations
# Cargo.toml names the test and bench targets: their files must exist for the manifest to load.
COPY tests ./tests
COPY benches ./benches
COPY README.md .env.example ./
RUN cargo build --release --locked --bin ocpi-hub

# The OCPP JSON schemas (OCA, as shipped in the PyPI ocpp package) for payload validation.
FROM python:3.11-slim AS schemas
RUN pip install --no-cache-dir --no-deps --target /opt/ocpp ocpp==2.1.0

# Run stage: a slim image with the binary and libpq, as an unprivileged user.
FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/ocpi-hub --create-home ocpi
COPY --from=build /src/target/release/ocpi-hub /usr/local/bin/ocpi-hub
COPY --from=schemas /opt/ocpp/ocpp /usr/share/ocpi-hub/ocpp
USER ocpi
WORKDIR /var/lib/ocpi-hub
ENV HUB_HTTP_ADDR=0.0.0.0:8080 \
    HUB_OCPP_ADDR=0.0.0.0:9000 \
    DATABASE_URL=postgres://ocpi:ocpi@postgres:5432/ocpi_hub \
    HUB_LOG_FORMAT=json \
    HUB_OCPP_SCHEMA_DIR=/usr/share/ocpi-hub/ocpp
# Set HUB_PUBLIC_URL to the address partners use (e.g. https://hub.example.com), and
# HUB_OCPP_TLS_CERT / HUB_OCPP_TLS_KEY (mounted PEM files) for wss:// (security profile 2).
EXPOSE 8080 9000
HEALTHCHECK --interval=30s --timeout=3s CMD ["/bin/bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080"]
ENTRYPOINT ["/usr/local/bin/ocpi-hub"]
CMD ["serve"]
