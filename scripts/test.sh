#!/usr/bin/env bash
# The whole test suite, as CI runs it: formatting, lints, then every test against the real
# broker, the in-process S3-protocol server and the OCR emulator.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/ensure-rabbitmq.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The resilience tests start the real binaries; build them first.
cargo build --workspace --bins --locked
cargo test --workspace --locked
