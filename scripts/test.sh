#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, then every test against the real
# broker, the in-process S3-protocol server and the OCR emulator.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-rabbitmq.sh
# promtool/prometheus, chromium, docker-compose, node/npm, kubernetes-validate (idempotent).
scripts/install-ops-tools.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# Alert rules, manifests, KEDA objects, compose file, each in its own tool.
scripts/validate-deploy.sh
# The resilience tests start the worker's binary; build it first (the benchmark binaries are
# not needed: README, "Benchmarks", builds them in release).
cargo build -p ocr-worker --bins --locked
cargo test --workspace --locked
