#!/usr/bin/env python3
"""Check the rendered deploy/k8s objects for the fields the deployment relies on."""
import sys

import yaml

docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
by_kind = {}
for d in docs:
    by_kind.setdefault(d["kind"], []).append(d)
problems = []


def need(cond, what):
    if not cond:
        problems.append(what)


for kind in ("Namespace", "ConfigMap", "Secret", "Job", "Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"):
    need(kind in by_kind, "no %s" % kind)
dep = by_kind["Deployment"][0]
spec = dep["spec"]
pod = spec["template"]["spec"]
c = pod["containers"][0]
need(spec["replicas"] == 3, "Deployment replicas should be 3")
need(c["livenessProbe"]["httpGet"]["path"] == "/healthz", "liveness probe on /healthz")
need(c["readinessProbe"]["httpGet"]["path"] == "/readyz", "readiness probe on /readyz")
need("startupProbe" in c, "a startup probe")
need(all(k in c["resources"].get(x, {}) for x in ("requests", "limits") for k in ("cpu", "memory")), "requests and limits")
need(pod["securityContext"].get("runAsNonRoot") is True, "runAsNonRoot")
need(c["securityContext"].get("readOnlyRootFilesystem") is True, "read-only root filesystem")
need(c["securityContext"].get("allowPrivilegeEscalation") is False, "no privilege escalation")
need("preStop" in c.get("lifecycle", {}), "a preStop delay")
need(pod.get("terminationGracePeriodSeconds", 30) > 10, "grace period longer than the preStop delay")
envs = {e["name"]: e for e in c.get("env", [])}
need("secretKeyRef" in envs.get("DATABASE_URL", {}).get("valueFrom", {}), "DATABASE_URL from the Secret")
need(any(r["configMapRef"]["name"] == "shelfcast" for r in c.get("envFrom", [])), "configuration from the ConfigMap")
job = by_kind["Job"][0]["spec"]["template"]["spec"]["containers"][0]
need(job["args"] == ["migrate"], "the Job runs shelfcast migrate")
hpa = by_kind["HorizontalPodAutoscaler"][0]["spec"]
need(hpa["scaleTargetRef"]["name"] == dep["metadata"]["name"] and hpa["minReplicas"] >= 2, "HPA targets the Deployment")
pdb = by_kind["PodDisruptionBudget"][0]["spec"]
need(pdb["selector"]["matchLabels"].items() <= spec["selector"]["matchLabels"].items(), "PDB selects the Deployment's pods")
svc = by_kind["Service"][0]["spec"]
need(svc["selector"].items() <= spec["template"]["metadata"]["labels"].items(), "Service selects the pods")
for d in docs:
    need(d["kind"] == "Namespace" or d["metadata"].get("namespace") == "shelfcast", "%s not in namespace shelfcast" % d["kind"])
if problems:
    print("\n".join("deploy/k8s: " + p for p in problems))
    sys.exit(1)
print("deploy/k8s: %d objects, all checks passed" % len(docs))
