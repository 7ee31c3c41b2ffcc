#!/usr/bin/env bash
# Start (idempotently) an extra local RabbitMQ node beside the main one, with its own name,
# ports and data directory, for the TLS test and the cluster soak.
#
#   scripts/rabbitmq-node.sh tls             node ocr-tls@localhost, AMQPS only on 5681, with a
#                                            CA and server certificate generated here
#                                            ($OCR_NODE_BASE/tls/ca.pem; hosts localhost and
#                                            127.0.0.1)
#   scripts/rabbitmq-node.sh plain NAME PORT node NAME@localhost, AMQP on PORT
#   scripts/rabbitmq-node.sh stop NAME       stop node NAME@localhost
#   scripts/rabbitmq-node.sh kill NAME       SIGKILL node NAME@localhost (no clean shutdown)
#   scripts/rabbitmq-node.sh cluster         a 3-node cluster of its own: ocr-c1, ocr-c2 and
#                                            ocr-c3 on AMQP 5682-5684 (a stopped member's app
#                                            is started again); never joins the main node
#
# Distribution port: AMQP port + 20000. No plugins (the main node's Prometheus and management
# ports stay free). `+sbwt none` keeps idle schedulers from spinning on the 2 cores. Data and logs under $OCR_NODE_BASE (default /tmp/ocr-rabbit-nodes), owned
# by the rabbitmq user. Prints the node's directory.
set -euo pipefail

command -v openssl >/dev/null 2>&1 || {
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null
}

BASE="${OCR_NODE_BASE:-/tmp/ocr-rabbit-nodes}"

ctl() { rabbitmqctl "$@"; }

running() { ctl -n "$1@localhost" -q status >/dev/null 2>&1; }

start_node() { # name port dir
  local name="$1" port="$2" dir="$3"
  if ! running "$name"; then
    echo '[].' >"$dir/enabled_plugins"
    chown -R rabbitmq:rabbitmq "$dir" 2>/dev/null || true
    env RABBITMQ_NODENAME="$name@localhost" \
      RABBITMQ_NODE_PORT="$port" \
      RABBITMQ_DIST_PORT="$((port + 20000))" \
      RABBITMQ_CONFIG_FILE="$dir/rabbitmq.conf" \
      RABBITMQ_ENABLED_PLUGINS_FILE="$dir/enabled_plugins" \
      RABBITMQ_MNESIA_BASE="$dir/mnesia" \
      RABBITMQ_LOG_BASE="$dir/log" \
      RABBITMQ_PID_FILE="$dir/pid" \
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="+sbwt none +sbwtdcpu none +sbwtdio none" \
      rabbitmq-server -detached >/dev/null 2>&1
    for _ in $(seq 1 120); do
      running "$name" && break
      sleep 0.5
    done
  fi
  ctl -n "$name@localhost" -q await_startup --timeout 60 >/dev/null
  ctl -n "$name@localhost" -q enable_feature_flag all >/dev/null 2>&1 || true
}

case "${1:-}" in
  tls)
    dir="$BASE/tls"
    mkdir -p "$dir"
    if [ ! -s "$dir/server.pem" ]; then
      (
        cd "$dir"
        openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 30 \
          -subj "/CN=ocr-worker test CA" 2>/dev/null
        openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr \
          -subj "/CN=localhost" 2>/dev/null
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >ext.cnf
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
          -out server.pem -days 30 -extfile ext.cnf 2>/dev/null
        chmod 644 ./*.pem ./*.key
      )
    fi
    cat >"$dir/rabbitmq.conf" <<EOF
listeners.tcp = none
listeners.ssl.default = 127.0.0.1:5681
ssl_options.cacertfile = $dir/ca.pem
ssl_options.certfile = $dir/server.pem
ssl_options.keyfile = $dir/server.key
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false
EOF
    start_node ocr-tls 5681 "$dir"
    echo "$dir"
    ;;
  plain)
    name="${2:?node name}" port="${3:?AMQP port}"
    dir="$BASE/$name"
    mkdir -p "$dir"
    printf 'listeners.tcp.local = 127.0.0.1:%s\nloopback_users = none\n' "$port" >"$dir/rabbitmq.conf"
    start_node "$name" "$port" "$dir"
    echo "$dir"
    ;;
  cluster)
    for i in 1 2 3; do
      "$0" plain "ocr-c$i" "$((5681 + i))" >/dev/null
      ctl -n "ocr-c$i@localhost" -q start_app >/dev/null 2>&1 || true
    done
    for i in 2 3; do
      node="ocr-c$i@localhost"
      if ! ctl -n "$node" -q cluster_status --formatter json 2>/dev/null | grep -q 'ocr-c1@localhost'; then
        ctl -n "$node" -q stop_app >/dev/null 2>&1
        ctl -n "$node" -q reset >/dev/null 2>&1
        ctl -n "$node" -q join_cluster ocr-c1@localhost >/dev/null 2>&1
        ctl -n "$node" -q start_app >/dev/null 2>&1
      fi
    done
    for i in 1 2 3; do
      ctl -n "ocr-c$i@localhost" -q await_startup --timeout 60 >/dev/null
    done
    ctl -n ocr-c1@localhost -q enable_feature_flag all >/dev/null 2>&1 || true
    echo "amqp://guest:guest@127.0.0.1:5682/%2f,amqp://guest:guest@127.0.0.1:5683/%2f,amqp://guest:guest@127.0.0.1:5684/%2f"
    ;;
  kill)
    name="${2:?node name}"
    pid="$(cat "$BASE/$name/pid" 2>/dev/null || true)"
    [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do
      running "$name" || break
      sleep 0.25
    done
    ;;
  stop)
    name="${2:?node name}"
    ctl -n "$name@localhost" -q stop >/dev/null 2>&1 || true
    ;;
  *)
    sed -n '2,18p' "$0" >&2
    exit 2
    ;;
esac
