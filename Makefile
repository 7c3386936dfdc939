# Two commands do everything on a fresh machine (as root):
#   make site   bring up the local test hosts and deploy onto them (the main job)
#   make test   the whole test suite: lint, sanity, unit and functional tests, Molecule
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
export BRAIN_OA_WORK ?= /var/tmp/brain-ops-assurance
ENV := . $(CURDIR)/tests/harness/env.sh &&
# Longest first: tests/harness/molecule.sh runs them two at a time. `site` replaces the main job's
# hosts (same names as the example inventory) and removes them.
SCENARIOS := site prometheus ha evidence_archive evidence reference_backend

.PHONY: test site bootstrap lint build sanity unit functional molecule bench bench-drill bench-capacity interop
# `test`'s prerequisites run in their order, also under `make -j`.
.NOTPARALLEL:

test: bootstrap lint build sanity unit functional molecule

site:
	tests/harness/site.sh

bootstrap:
	tests/harness/bootstrap.sh

lint:
	$(ENV) ruff check . && ruff format --check .
	$(ENV) yamllint --strict .
	$(ENV) pymarkdown --config .pymarkdown.json scan -r README.md docs roles
	$(ENV) ansible-lint --offline

# The tarball as published, imported by galaxy-importer (Galaxy's and Automation Hub's checks).
build:
	$(ENV) tests/harness/build.sh

# Every ansible-core of tests/sanity/legs.txt; run it under flock /var/tmp/oa-ansible-test.lock.
sanity:
	$(ENV) tests/harness/sanity.sh

# In-process tests, well under a minute.
unit:
	$(ENV) pytest tests/unit

# Tests that drive real subprocesses: ansible-playbook, promtool, the scripts, the reference backend.
# One pytest-xdist worker per CPU, each test file whole on one worker (docs/test-harness.md).
functional:
	$(ENV) pytest tests/functional -n auto --dist loadfile

molecule:
	$(ENV) tests/harness/molecule.sh $(SCENARIOS)

# Not part of `test`: figures, not pass/fail (see bench/).
bench:
	$(ENV) python3 bench/evidence.py

# Series per backend, samples per second for 1/10/100 backends and VictoriaMetrics disk per day,
# from the reference backend and real Prometheus and victoria-metrics processes (docs/topology.md).
bench-capacity:
	$(ENV) python3 bench/capacity.py

# Tabletop 001's detection time over five drills against the local site (brought up first).
bench-drill: site
	$(ENV) python3 bench/drill.py --runs 5

# Not part of `test`: the collection against the real BRAiN routers from a checkout outside this
# repository (make interop BRAIN_SRC=<checkout>; tests/interop/run.sh, docs/test-harness.md).
interop:
	BRAIN_SRC="$(BRAIN_SRC)" tests/interop/run.sh
