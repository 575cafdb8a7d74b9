#!/usr/bin/env bash
# Renders every kustomization under deploy/k8s (the two overlays and the k6 Job) and validates each
# manifest offline, strictly (no unknown fields), against the schemas of one pinned Kubernetes
# version. Needs kubectl (its built-in kustomize) and kubernetes-validate: .ci/run installs both.
set -euo pipefail
cd "$(dirname "$0")"
KUBERNETES_VERSION=${KUBERNETES_VERSION:-1.33.0}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for kustomization in overlays/local overlays/study k6; do
  rendered=$out/${kustomization//\//-}.yaml
  kubectl kustomize "$kustomization" >"$rendered"
  kubernetes-validate --strict --quiet --kubernetes-version "$KUBERNETES_VERSION" "$rendered"
  printf '%-16s %2d resources valid for Kubernetes %s\n' "$kustomization" \
    "$(grep -c '^kind:' "$rendered")" "$KUBERNETES_VERSION"
done
