#!/usr/bin/env bash
# Validates the deployment artefacts under infra/deploy/ in the tools they are for:
#   promtool check rules / test rules (alert rules and their unit tests), promtool check config
#   kubernetes-validate --strict (core manifests), failing on any warning
#   KEDA's schema via npm @kubernetes-models/keda (ScaledObject, TriggerAuthentication)
#   docker-compose config (v1 validates without an engine)
#   cross-file invariants (port, replicas vs OCR concurrency, termination grace vs shutdown grace)
# The live checks (dashboard and alert queries on a real Prometheus, the status page in
# Chromium) are cargo tests: tests/tests/observability.rs, tests/tests/status_page.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
D=infra/deploy
TARGET=${CARGO_TARGET_DIR:-target}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== promtool: alert rules"
promtool check rules "$D/prometheus/alerts.yml"
(cd "$D/prometheus" && promtool test rules alerts.test.yml)

echo "== promtool: compose Prometheus config"
cp "$D/prometheus/alerts.yml" "$tmp/alerts.yml"
sed "s#/etc/prometheus/alerts.yml#$tmp/alerts.yml#" "$D/prometheus/prometheus.compose.yml" >"$tmp/prometheus.yml"
promtool check config "$tmp/prometheus.yml"

echo "== kubernetes-validate --strict (any warning fails)"
core=()
keda=()
for f in "$D"/k8s/*.yaml; do
  if grep -q '^apiVersion: keda.sh/' "$f"; then keda+=("$f"); else core+=("$f"); fi
done
out=$(kubernetes-validate --strict "${core[@]}" 2>&1) || { echo "$out"; exit 1; }
echo "$out"
if echo "$out" | grep -vq '^INFO '; then
  echo "kubernetes-validate printed a warning or error: failing" >&2
  exit 1
fi

echo "== KEDA schema (@kubernetes-models/keda)"
mkdir -p "$TARGET/keda-validate"
cp scripts/keda-validate/package.json scripts/keda-validate/package-lock.json scripts/keda-validate/validate.mjs "$TARGET/keda-validate/"
if ! (cd "$TARGET/keda-validate" && npm ls --silent >/dev/null 2>&1); then
  (cd "$TARGET/keda-validate" && npm ci --silent --no-audit --no-fund)
fi
node "$TARGET/keda-validate/validate.mjs" "${keda[@]}"

echo "== docker-compose config"
docker-compose -f docker-compose.yml config -q

echo "== cross-file invariants"
python3 - "$D" <<'PY'
import re, sys, yaml, json, pathlib
d = pathlib.Path(sys.argv[1])
docs = {}
for f in sorted((d / "k8s").glob("*.yaml")):
    for doc in yaml.safe_load_all(f.read_text()):
        if doc:
            docs[doc["kind"]] = doc
problems = []
cm = docs["ConfigMap"]["data"]
so = docs["ScaledObject"]["spec"]
dep = docs["Deployment"]["spec"]["template"]["spec"]
port = 8467
conc = int(cm["CLOVA_OCR_MAX_CONCURRENCY"])
# Replicas that get slots: one per slot, or with OCR_MIN_SLOTS_PER_REPLICA = k the oldest
# conc // k (at least 1), plus one standby to take over; more only idle.
k = int(cm.get("OCR_MIN_SLOTS_PER_REPLICA", "1"))
useful = conc if k <= 1 else max(1, conc // k) + 1
if not (1 <= so["minReplicaCount"] <= so["maxReplicaCount"] <= useful):
    problems.append(f"need 1 <= minReplicaCount <= maxReplicaCount <= {useful} (CLOVA_OCR_MAX_CONCURRENCY {conc}, OCR_MIN_SLOTS_PER_REPLICA {k}): {so['minReplicaCount']}, {so['maxReplicaCount']}")
queues = [t["metadata"]["queueName"] for t in so["triggers"] if t["type"] == "rabbitmq"]
if queues[:1] != [cm["OCR_JOBS_QUEUE"]] or len(set(queues)) != len(queues):
    problems.append(f"one rabbitmq trigger per lane, the jobs lane first: {queues}")
for t in so["triggers"]:
    if t["metadata"].get("mode") != "QueueLength" or t["metadata"].get("protocol") != "amqp":
        problems.append(f"trigger {t.get('name')}: QueueLength over amqp expected")
grace = float(cm["OCR_SHUTDOWN_GRACE_SECS"])
if not dep["terminationGracePeriodSeconds"] > grace + 10:
    problems.append(f"terminationGracePeriodSeconds must exceed the shutdown grace ({grace}) + 10 s of bounded closes")
c = dep["containers"][0]
if cm["OCR_HTTP_LISTEN"] != f"0.0.0.0:{port}":
    problems.append("the ConfigMap must listen on 0.0.0.0:%d" % port)
if [p["containerPort"] for p in c["ports"]] != [port]:
    problems.append("containerPort")
if c["livenessProbe"]["httpGet"]["path"] != "/healthz" or c["readinessProbe"]["httpGet"]["path"] != "/readyz":
    problems.append("probes must be /healthz and /readyz")
sc = c["securityContext"]
if not (sc["readOnlyRootFilesystem"] and sc["runAsNonRoot"] and isinstance(sc["runAsUser"], int) and sc["runAsUser"] > 0):
    problems.append("container must run numeric non-root with a read-only root filesystem")
if not (c["resources"].get("requests") and c["resources"].get("limits")):
    problems.append("resource requests and limits")
df = pathlib.Path("Dockerfile").read_text()
if f"EXPOSE {port}" not in df or "HEALTHCHECK" not in df or not re.search(r"^USER [0-9]+", df, re.M):
    problems.append("Dockerfile: EXPOSE, HEALTHCHECK, numeric USER")
compose = yaml.safe_load(pathlib.Path("docker-compose.yml").read_text())
w = compose["services"]["worker"]
if w.get("ports"):
    problems.append("compose worker must not publish a fixed host port (blocks --scale)")
if w["environment"]["OCR_HTTP_LISTEN"] != f"0.0.0.0:{port}":
    problems.append("compose worker listen address")
prom = yaml.safe_load((d / "prometheus/prometheus.compose.yml").read_text())
sd = prom["scrape_configs"][0]["dns_sd_configs"][0]
if sd["port"] != port or sd["names"] != ["worker"]:
    problems.append("compose Prometheus must find `worker` by DNS on the port")
for p in problems:
    print("FAIL", p)
sys.exit(1 if problems else 0)
PY
echo "deploy artefacts valid"
