#!/usr/bin/env bash
# `make kind-down`: delete the kind cluster `make kind-up` created, with everything on it (nothing else is touched).
set -euo pipefail

CLUSTER=luckygas

command -v kind >/dev/null || {
	echo "kind-down: kind is not installed, so there is no kind cluster to delete" >&2
	exit 1
}
if kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
	kind delete cluster --name "$CLUSTER"
else
	echo "kind-down: no kind cluster named $CLUSTER"
fi
