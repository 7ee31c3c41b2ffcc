#!/usr/bin/env bash
# Tools the ops checks need, installed idempotently from the package registries:
#   apt: prometheus (promtool), chromium (status-page test), docker-compose (v1, validates the
#        compose file without an engine), nodejs + npm (KEDA schema check)
#   pip: kubernetes-validate (pinned)
set -euo pipefail

KUBERNETES_VALIDATE_VERSION=1.34.1

need_apt=()
command -v promtool >/dev/null || need_apt+=(prometheus)
command -v prometheus >/dev/null || need_apt+=(prometheus)
command -v chromium >/dev/null || need_apt+=(chromium)
command -v docker-compose >/dev/null || need_apt+=(docker-compose)
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)
if [ ${#need_apt[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2068
  apt-get install -y -qq --no-install-recommends $(printf '%s\n' "${need_apt[@]}" | sort -u) >/dev/null
fi
# The Debian package starts a Prometheus service on :9090 when it can; the tests start their
# own on a free port and do not need it.

installed=$(python3 -m pip show kubernetes-validate 2>/dev/null | sed -n 's/^Version: //p' || true)
if [ "$installed" != "$KUBERNETES_VALIDATE_VERSION" ]; then
  python3 -m pip install -q --disable-pip-version-check "kubernetes-validate==${KUBERNETES_VALIDATE_VERSION}"
fi
