// Validate KEDA objects (ScaledObject, TriggerAuthentication) in YAML files against the
// schema @kubernetes-models/keda generates from KEDA's own API types. Unknown fields are
// errors too (the schema alone allows them in places). Exit 1 on any problem.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { ScaledObject } from "@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject";
import { TriggerAuthentication } from "@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication";

const kinds = { ScaledObject, TriggerAuthentication };
// Fields KEDA's ScaledObject/TriggerAuthentication spec knows (v2.x).
const known = {
  ScaledObject: ["scaleTargetRef", "pollingInterval", "initialCooldownPeriod", "cooldownPeriod",
    "idleReplicaCount", "minReplicaCount", "maxReplicaCount", "advanced", "triggers", "fallback"],
  TriggerAuthentication: ["podIdentity", "secretTargetRef", "env", "hashiCorpVault",
    "azureKeyVault", "awsSecretManager", "gcpSecretManager", "configMapTargetRef",
    "boundServiceAccountToken"],
};
let failed = false;
let checked = 0;
for (const file of process.argv.slice(2)) {
  for (const doc of parseAllDocuments(readFileSync(file, "utf8"))) {
    if (doc.errors.length) {
      console.error(`FAIL ${file}: ${doc.errors[0].message}`);
      failed = true;
      continue;
    }
    const obj = doc.toJS();
    if (!obj || !(obj.kind in kinds)) continue;
    try {
      if (obj.apiVersion !== "keda.sh/v1alpha1") throw new Error(`apiVersion ${obj.apiVersion}`);
      new kinds[obj.kind](obj).validate();
      for (const k of Object.keys(obj.spec || {})) {
        if (!known[obj.kind].includes(k)) throw new Error(`unknown field spec.${k}`);
      }
      for (const t of (obj.spec && obj.spec.triggers) || []) {
        for (const k of Object.keys(t)) {
          if (!["type", "name", "metadata", "authenticationRef", "metricType", "useCachedMetrics"].includes(k)) {
            throw new Error(`unknown field in trigger ${t.name}: ${k}`);
          }
        }
      }
      checked += 1;
      console.log(`OK   ${file}: ${obj.kind}/${obj.metadata.name}`);
    } catch (e) {
      console.error(`FAIL ${file}: ${obj.kind}/${obj.metadata && obj.metadata.name}: ${e.message}`);
      failed = true;
    }
  }
}
if (checked === 0) {
  console.error("FAIL no KEDA object found");
  failed = true;
}
process.exit(failed ? 1 : 0);
