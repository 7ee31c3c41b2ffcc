# syntax=docker/dockerfile:1
# Both binaries (ocr-worker, ocr-infra). The dependency layer is built from the manifests and
# the lock file alone, so a source change rebuilds only the workspace's own crates.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY common/Cargo.toml common/
COPY worker/Cargo.toml worker/
COPY infra/Cargo.toml infra/
COPY tests/Cargo.toml tests/
# Stub targets: just enough for cargo to resolve and compile every dependency.
RUN for c in common worker infra tests; do mkdir -p $c/src && echo '' > $c/src/lib.rs; done \
 && echo 'fn main() {}' > worker/src/main.rs && echo 'fn main() {}' > infra/src/main.rs \
 && cargo build --release --locked -p ocr-worker -p ocr-infra --bins \
 && rm -rf common/src worker/src infra/src tests/src
COPY . .
# Touch the real sources so cargo rebuilds the workspace crates over the stubs.
ARG OCR_BUILD_REVISION=unknown
ENV OCR_BUILD_REVISION=${OCR_BUILD_REVISION}
RUN find common worker infra tests -name '*.rs' -exec touch {} + \
 && cargo build --release --locked -p ocr-worker -p ocr-infra --bins

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 ocr && useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin ocr
COPY --from=build /src/target/release/ocr-worker /src/target/release/ocr-infra /usr/local/bin/
# Numeric, so Kubernetes' runAsNonRoot can verify it.
USER 10001:10001
ENV OCR_HTTP_LISTEN=0.0.0.0:8467
EXPOSE 8467
# No curl in the slim image: the binary probes its own /healthz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["ocr-worker", "health"]
ENTRYPOINT []
CMD ["ocr-worker", "run"]
