#!/usr/bin/env bash
# Make sure a RabbitMQ broker answers on 127.0.0.1:5672 with guest/guest, with the feature
# flags the worker's quorum queue needs (stream_queue: at-least-once dead-lettering on 3.10).
# Idempotent: installs (Debian apt) only if absent, starts only if down.
set -euo pipefail

port_open() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }

if ! port_open; then
  if ! command -v rabbitmq-server >/dev/null 2>&1; then
    echo "ensure-rabbitmq: installing rabbitmq-server (apt)" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq rabbitmq-server >/dev/null
  fi
  echo "ensure-rabbitmq: starting rabbitmq-server" >&2
  rabbitmq-server -detached >/dev/null 2>&1 || true
  for _ in $(seq 1 120); do
    port_open && break
    sleep 0.5
  done
  port_open || { echo "ensure-rabbitmq: broker did not come up on 5672" >&2; exit 1; }
fi
# Wait until the node accepts management commands, then enable every stable feature flag.
if command -v rabbitmqctl >/dev/null 2>&1; then
  rabbitmqctl await_startup >/dev/null 2>&1 || true
  rabbitmqctl enable_feature_flag all >/dev/null 2>&1 || true
  # Without stream_queue a quorum queue silently falls back to at-most-once dead-lettering.
  if ! rabbitmqctl -q list_feature_flags name state 2>/dev/null | grep -Eq '^stream_queue[[:space:]]+enabled'; then
    echo "ensure-rabbitmq: feature flag stream_queue is not enabled (at-least-once dead-lettering needs it)" >&2
    exit 1
  fi
fi
# The test harness names its queues `t-<hex>.…`. The worker never puts `x-expires` on queues
# that hold outcomes or retries, so a test that fails before its cleanup would leave those
# behind: this lowest-priority policy expires them instead (any other policy wins over it).
if command -v rabbitmqctl >/dev/null 2>&1; then
  rabbitmqctl -q set_policy --apply-to queues --priority -1 ocr-test-expiry '^t-[0-9a-f]+\.' \
    '{"expires":600000}' >/dev/null
fi
