# Every target sets up what it needs: a fresh machine needs only Python 3.11 and make.
PYTHON      ?= python3
VENV        := .venv
BIN         := $(VENV)/bin
COLLECTIONS := build/collections
COLLECTION  := $(COLLECTIONS)/ansible_collections/cloudops/aws
export PATH := $(CURDIR)/$(BIN):$(PATH)
export PYTHONPATH := $(CURDIR)/$(COLLECTIONS):$(CURDIR)/tests
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/$(COLLECTIONS)
# Python caches its compiled modules: this machine's environment turns that off
# (PYTHONDONTWRITEBYTECODE), and uv installs no bytecode, so every ansible-playbook compiled
# ansible-core again (1.14 s of CPU for a one-task play, 0.84 s with the cache) and every boto3
# import botocore (0.57 s, 0.33 s). make test starts Python some thousands of times.
unexport PYTHONDONTWRITEBYTECODE
# The virtualenvs are filled by uv, which downloads in parallel: pip took 218 s for
# requirements-dev.txt on a fresh machine, uv 28 s, with the same versions. uv trusts the
# system's CA store (native TLS), as pip is configured to here.
UV_VERSION  := 0.13.9
export UV_NATIVE_TLS := 1
# pytest-xdist workers, each with its own simulator. The tests mostly wait on the simulator and
# on ansible-playbook start-up, so more workers than the 2 CI cores still shorten the run.
# loadgroup: the tests of one xdist_group (a file's shared playbook run) go to one worker.
PYTEST_WORKERS ?= 4

.PHONY: demo test checks sanity lint galaxy-import pytest unit integration molecule bench soak venv galaxy-venv collection ee docs clean

demo: venv collection  ## Back up a demo fleet twice on the local AWS simulator
	$(BIN)/python scripts/demo.py

# The static checks (one job: sanity, lint, galaxy-import) run beside pytest: they mostly wait on
# downloads and one core while pytest's workers wait on the simulator, so on 2 cores the pair takes
# little longer than pytest alone. Each job's output is printed whole when it ends (--output-sync).
# Of the molecule scenarios, make test runs the patch role's (SSM, load balancer, AMI and health
# checks in one converge) to keep within its 10-minute budget; make molecule runs every role's.
test: venv galaxy-venv collection  ## Everything CI runs
	$(MAKE) --no-print-directory -j2 --output-sync=target checks pytest
	$(MAKE) --no-print-directory molecule MOLECULE_SCENARIOS=patch

checks: venv galaxy-venv collection  ## sanity, lint and galaxy-import, one after the other
	$(MAKE) --no-print-directory sanity
	$(MAKE) --no-print-directory lint
	$(MAKE) --no-print-directory galaxy-import

venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv==$(UV_VERSION)
	$(BIN)/uv pip install --quiet --python $(BIN)/python -r requirements-dev.txt
	touch $@

# ansible and the unit tests find this collection as ansible_collections.cloudops.aws. Made only when
# missing: make test's parallel jobs must not replace the link while the other one reads through it.
collection: $(COLLECTION)
$(COLLECTION):
	mkdir -p $(dir $(COLLECTION))
	ln -sfn $(CURDIR) $(COLLECTION)

sanity: venv
	bash scripts/sanity.sh

# ansible-lint; the changelog fragments and changelogs/changelog.yaml (antsibull-changelog); the modules' and roles'
# documentation as antsibull-docs renders it (schema, markup, references, reStructuredText). antsibull-docs copies
# the collection and amazon.aws from .venv to a scratch directory: git must not take .venv for part of this
# repository, or only tracked files would be copied.
lint: venv collection
	$(BIN)/ansible-lint --profile production
	$(BIN)/antsibull-changelog lint
	$(BIN)/antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml
	GIT_CEILING_DIRECTORIES=$(CURDIR)/$(VENV) $(BIN)/antsibull-docs lint-collection-docs --plugin-docs .

docs: venv collection  ## the module and role reference as HTML in build/docs/html (antsibull-docs and Sphinx), failing on any warning
	bash scripts/docs.sh

# galaxy-importer pins dependencies that clash with requirements-dev.txt: it gets its own virtualenv.
galaxy-venv: .venv-galaxy/.installed
.venv-galaxy/.installed: requirements-galaxy.txt | $(VENV)/.installed
	$(PYTHON) -m venv .venv-galaxy
	$(BIN)/uv pip install --quiet --python .venv-galaxy/bin/python -r requirements-galaxy.txt
	touch $@

galaxy-import: venv galaxy-venv  ## build the tarball, run Galaxy's import check on it; fails on any warning
	bash scripts/galaxy_import.sh

pytest: venv collection  ## unit, simulator and integration tests in one run
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup --durations=15 tests

unit: venv collection
	$(BIN)/pytest tests/unit tests/simulator

integration: venv collection
	$(BIN)/pytest tests/integration

# A collection's scenarios live in extensions/molecule/<name> (one per role, named after it), found by molecule
# from the repository root. Delegated driver: each starts the local AWS simulator itself and stops it
# (tests/molecule/create.yml, destroy.yml). Molecule looks for a scenario named default to share state
# with, and says "CRITICAL ... default/molecule.yml glob failed" when there is none: it goes on without.
MOLECULE_SCENARIOS ?= $(sort $(notdir $(patsubst %/molecule.yml,%,$(wildcard extensions/molecule/*/molecule.yml))))
molecule: venv collection  ## every role's molecule scenario against the simulator: converge, idempotence, verify; a few minutes
	set -e; for scenario in $(MOLECULE_SCENARIOS); do $(BIN)/molecule test -s $$scenario; done

# No container engine needed: this renders the context; `podman build build/ee/context` builds the image.
ee: venv  ## the execution environment's build context in build/ee/context (this collection's tarball, execution-environment.yml)
	rm -rf build/ee && mkdir -p build/ee
	$(BIN)/ansible-galaxy collection build --output-path build/ee .
	$(BIN)/ansible-builder create -f execution-environment.yml -c build/ee/context --output-filename Containerfile

# Not part of test: about 20 minutes on 2 cores, and it measures rather than asserts (docs/performance.md).
bench: venv collection  ## this collection against the amazon.aws way and AWS's limits: table, and JSON in build/bench.json; BENCH_ARGS selects other runs
	$(BIN)/python tests/benchmarks/bench.py $(BENCH_ARGS)

soak: venv collection  ## the long fault campaigns of every module (3 rounds, seed from the clock), and every action of docs/iam/ removed in turn
	$(BIN)/python tests/reliability/soak.py
	$(BIN)/python tests/reliability/iam_campaign.py

clean:
	rm -rf build tests/output .pytest_cache
