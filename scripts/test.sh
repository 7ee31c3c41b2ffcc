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
# The end-to-end tests start the worker's binary: `cargo test --workspace` builds it, because
# the worker package has integration tests of its own (worker/tests/cli.rs), with the same
# features as the rest of this one build. A separate `cargo build -p ocr-worker` first would
# resolve features for the worker alone and compile 52 crates (aws-sdk-s3 among them) twice.
cargo test --workspace --locked
