// Validates custom resources against the schemas of their APIs, offline.
//
//   node tools/crd-validate/validate.mjs < documents.json
//
// Reads a JSON array of Kubernetes objects; prints one line per object that is invalid
// (kind/name: path message) and exits 1 if any is, 2 when a kind is unknown here.
// The schemas come from @kubernetes-models/prometheus-operator and
// @kubernetes-models/gateway-api (versions pinned in package.json and package-lock.json),
// generated from the Go API types of prometheus-operator and Gateway API from which those
// projects also generate their CRDs.
import { readFileSync } from "node:fs";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";
import { HTTPRoute } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute";

const MODELS = {
  "monitoring.coreos.com/v1/ServiceMonitor": ServiceMonitor,
  "monitoring.coreos.com/v1/PrometheusRule": PrometheusRule,
  "gateway.networking.k8s.io/v1/HTTPRoute": HTTPRoute,
};

const docs = JSON.parse(readFileSync(0, "utf8"));
let invalid = 0;
for (const doc of docs) {
  const key = `${doc.apiVersion}/${doc.kind}`;
  const Model = MODELS[key];
  const where = `${doc.kind}/${doc.metadata?.name}`;
  if (!Model) {
    console.log(`${where}: no schema for ${key}`);
    process.exit(2);
  }
  try {
    new Model(doc).validate();
  } catch (error) {
    invalid += 1;
    const details = (error.errors ?? []).map((e) => `${e.instancePath || "/"} ${e.message}`);
    console.log(`${where}: ${details.join("; ") || error.message}`);
  }
}
console.log(`crd-validate: ${docs.length} object(s), ${invalid} invalid`);
process.exit(invalid ? 1 : 0);
