#!/usr/bin/env bash
# The main job end to end on local defaults:
#   RabbitMQ (started or reused on 127.0.0.1:5672) + a local S3-protocol server + the CLOVA OCR
#   emulator, N synthetic passports uploaded and enqueued, one worker run until every job has an
#   outcome, and a summary of results and dead letters.
# Usage: scripts/demo.sh [COUNT]   (default 24; every 4th sample is a failure scenario)
set -euo pipefail
cd "$(dirname "$0")/.."

COUNT="${1:-24}"
DATA=.data/demo
S3_ADDR=127.0.0.1:${DEMO_S3_PORT:-9000}
OCR_ADDR=127.0.0.1:${DEMO_OCR_PORT:-8090}
HTTP_ADDR=127.0.0.1:${DEMO_HTTP_PORT:-8467}
PREFIX="demo-$(date +%s)"

export AWS_ACCESS_KEY_ID=local-access-key
export AWS_SECRET_ACCESS_KEY=local-secret-key
export AWS_REGION=us-east-1
export AWS_ENDPOINT_URL_S3="http://$S3_ADDR"
export AMQP_URL="${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"
export CLOVA_OCR_INVOKE_URL="http://$OCR_ADDR/custom/v1/demo/local"
export CLOVA_OCR_SECRET=local-secret
export CLOVA_EMULATOR_SECRET=local-secret
export CLOVA_OCR_RATE_PER_SEC="${CLOVA_OCR_RATE_PER_SEC:-20}"
export CLOVA_OCR_MAX_CONCURRENCY="${CLOVA_OCR_MAX_CONCURRENCY:-4}"
# Fresh queue names per run, so the summary counts only this run's outcomes.
export OCR_JOBS_QUEUE="$PREFIX.jobs" OCR_POISON_QUEUE="$PREFIX.jobs.poison"
export OCR_RESULTS_EXCHANGE="$PREFIX.results" OCR_RESULTS_QUEUE="$PREFIX.results"
export OCR_DEAD_EXCHANGE="$PREFIX.dead" OCR_DEAD_QUEUE="$PREFIX.dead"
export OCR_QUEUE_EXPIRES_SECS=3600 OCR_RETRY_DELAYS=1s,5s OCR_HTTP_LISTEN="$HTTP_ADDR"
export RUST_LOG="${RUST_LOG:-warn}"

step() { printf '\n==> %s\n' "$*"; }

step "RabbitMQ on 127.0.0.1:5672"
scripts/ensure-rabbitmq.sh

step "Building (cargo build --locked; the first build takes a few minutes)"
cargo build --locked --bins -q
BIN=target/debug

mkdir -p "$DATA"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

step "Starting the S3-protocol server on $S3_ADDR and the OCR emulator on $OCR_ADDR"
"$BIN/ocr-infra" s3 --listen "$S3_ADDR" --root "$DATA/s3" >"$DATA/s3.log" 2>&1 & pids+=($!)
"$BIN/ocr-infra" emulator --listen "$OCR_ADDR" --latency "${DEMO_LATENCY:-uniform:50..150}" >"$DATA/emulator.log" 2>&1 & pids+=($!)
for addr in "$S3_ADDR" "$OCR_ADDR"; do
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/${addr%:*}/${addr#*:}") 2>/dev/null && break; sleep 0.1; done
  (exec 3<>"/dev/tcp/${addr%:*}/${addr#*:}") 2>/dev/null || { echo "nothing listening on $addr; see $DATA/*.log" >&2; exit 1; }
done

step "Generating $COUNT synthetic passports and uploading them to s3://passports/$PREFIX/"
rm -rf "$DATA/samples"
"$BIN/ocr-infra" samples --count "$COUNT" --out "$DATA/samples" --scenarios --seed "$(date +%s)"
"$BIN/ocr-infra" upload --dir "$DATA/samples" --to "s3://passports/$PREFIX/"

step "Enqueueing one job per object"
"$BIN/ocr-worker" enqueue "s3://passports/$PREFIX/"

step "Running the worker until every job has an outcome"
"$BIN/ocr-worker" run >"$DATA/worker.log" 2>&1 & worker=$!; pids+=($worker)
"$BIN/ocr-worker" summary --expect "$COUNT" --timeout-secs 300 | tee "$DATA/summary.json"
kill -TERM "$worker" 2>/dev/null || true
wait "$worker" 2>/dev/null || true

step "Done. Logs and samples are under $DATA/"
