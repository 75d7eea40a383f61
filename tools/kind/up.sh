#!/usr/bin/env bash
# `make kind-up`: the platform on a local kind cluster (deploy/kind/cluster.yaml), installed with the chart and
# checked by `helm test`. Needs Docker and kind; Helm and kubectl come from `make tools` (HELM, KUBECTL override).
# Rerunning it rebuilds and reloads the image and upgrades the release on the cluster already there.
#   KIND_CNI=calico  create the cluster without kindnet and install Calico (for kind before v0.24 or a kernel
#                    without nfqueue, where kindnet accepts NetworkPolicies but does not enforce them)
set -euo pipefail

cd "$(dirname "$0")/../.."

CLUSTER=luckygas
CONTEXT="kind-$CLUSTER"
RELEASE=luckygas
NAMESPACE=luckygas
CLUSTER_CONFIG=deploy/kind/cluster.yaml
VALUES=deploy/kind/values.yaml
CHART=charts/luckygas
HELM=${HELM:-.venv/tools/bin/helm}
KUBECTL=${KUBECTL:-.venv/tools/bin/kubectl}
PYTHON=${PYTHON:-.venv/bin/python}
KIND_CNI=${KIND_CNI:-kindnet}
CALICO_VERSION=${CALICO_VERSION:-v3.31.3}

fail() {
	echo "kind-up: $*" >&2
	exit 1
}

command -v docker >/dev/null || fail "docker is not installed: install Docker (https://docs.docker.com/get-docker/)"
docker info >/dev/null 2>&1 || fail "docker is installed but its daemon does not answer: start Docker, or add yourself to the docker group"
command -v kind >/dev/null || fail "kind is not installed: see https://kind.sigs.k8s.io/docs/user/quick-start/#installation (v0.24 or later)"
[ -x "$HELM" ] || fail "no Helm at $HELM: run 'make tools' (or set HELM to a Helm 3 or 4 of your own)"
[ -x "$KUBECTL" ] || fail "no kubectl at $KUBECTL: run 'make tools' (or set KUBECTL)"
case "$KIND_CNI" in kindnet | calico) ;; *) fail "KIND_CNI is kindnet or calico, not '$KIND_CNI'" ;; esac

# The image tag is the project's version, which is the chart's appVersion and so the tag the chart deploys.
VERSION=$("$PYTHON" -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')
IMAGE="luckygas/platform:$VERSION"

if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
	echo "== kind cluster $CLUSTER exists; using it"
elif [ "$KIND_CNI" = calico ]; then
	echo "== creating kind cluster $CLUSTER without kindnet, then Calico $CALICO_VERSION"
	config=$(mktemp)
	trap 'rm -f "$config"' EXIT
	# The same cluster with Calico's default pod pool; nodes become Ready once Calico runs.
	"$PYTHON" - "$CLUSTER_CONFIG" >"$config" <<'EOF'
import sys

import yaml

with open(sys.argv[1]) as file:
    cluster = yaml.safe_load(file)
cluster["networking"].update(disableDefaultCNI=True, podSubnet="192.168.0.0/16")
yaml.safe_dump(cluster, sys.stdout, sort_keys=False)
EOF
	kind create cluster --name "$CLUSTER" --config "$config"
	"$KUBECTL" --context "$CONTEXT" apply --server-side \
		-f "https://raw.githubusercontent.com/projectcalico/calico/$CALICO_VERSION/manifests/calico.yaml"
	"$KUBECTL" --context "$CONTEXT" -n kube-system rollout status daemonset/calico-node --timeout=10m
	"$KUBECTL" --context "$CONTEXT" wait --for=condition=Ready nodes --all --timeout=5m
else
	echo "== creating kind cluster $CLUSTER"
	kind create cluster --name "$CLUSTER" --config "$CLUSTER_CONFIG" --wait 5m
fi

echo "== building $IMAGE"
docker build -t "$IMAGE" -f Containerfile .

echo "== loading $IMAGE into the cluster's nodes"
kind load docker-image "$IMAGE" --name "$CLUSTER"

echo "== installing the chart (release $RELEASE, namespace $NAMESPACE)"
"$HELM" upgrade --install "$RELEASE" "$CHART" --kube-context "$CONTEXT" \
	--namespace "$NAMESPACE" --create-namespace --values "$VALUES" --wait --timeout 10m

echo "== helm test"
"$HELM" test "$RELEASE" --kube-context "$CONTEXT" --namespace "$NAMESPACE" --logs --timeout 5m

cat <<EOF

The platform runs on kind cluster $CLUSTER (kubectl context $CONTEXT).
  Gateway:  http://127.0.0.1:8080   (API under /api/v1, docs at /docs)
  Log in as admin with the password the chart generated:
    $KUBECTL --context $CONTEXT -n $NAMESPACE get secret luckygas-secrets -o jsonpath='{.data.admin-password}' | base64 -d
    curl -s http://127.0.0.1:8080/api/v1/auth/login -H 'content-type: application/json' \\
      -d '{"username": "admin", "password": "<the password>"}'
  The demo users (dispatcher, driver01…driver08, sre, customer01) have the password luckygas-demo.
  Pods:     $KUBECTL --context $CONTEXT -n $NAMESPACE get pods -o wide
  Remove:   make kind-down
EOF
