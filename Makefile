# Single entry point. Two environments, both built from lock files:
#   .venv/airflow  Airflow 3 + MLflow server   (the machine's default Python, 3.11+)
#   .venv/tfx      TFX pipeline + MLflow client (Python 3.10, with pip inside)
# `make setup` is idempotent: a stamp per environment is newer than its lock file.

SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.ONESHELL:
.DEFAULT_GOAL := help

VENV        := .venv
UV_VERSION  := 0.13.9
UV          := $(VENV)/bootstrap/bin/uv
AIRFLOW_ENV := $(VENV)/airflow
TFX_ENV     := $(VENV)/tfx
# The default Python for the Airflow environment; override with `make PYTHON=python3.12 ...`.
PYTHON      ?= python3
# Set PYTHON310=/path/to/python3.10 to skip the search below.
PYTHON310   ?=
SRC         := dags core nas components pipelines plugins serving stack tests bench examples docs

.PHONY: help setup lock lint docs docs-serve test test-airflow test-tools stack-tools test-pipeline run stack stack-down leaderboard mlflow-ui conformance bench-autogluon clean

help:
	@echo "make run      set up if needed, then run the retraining on embedded defaults"
	@echo "             (DATA=/path/to/folder [LABEL=column]: on your own data; CONF='{...}': Params)"
	@echo "make test     set up if needed, then lint, build the docs and run the whole test suite"
	@echo "make docs     build the docs site (mkdocs.yml, docs/) with --strict into .local/site; make docs-serve"
	@echo "make stack    the production profile on this machine: PostgreSQL, Redis, MLflow with auth,"
	@echo "             Airflow on Celery with two workers (docker/compose.yaml's settings); make stack-down"
	@echo "make leaderboard  the NAS candidates of the latest run (RUN=<dag run id>), from MLflow"
	@echo "make mlflow-ui  serve the MLflow UI on the embedded store (127.0.0.1:5000)"
	@echo "make conformance  every dataset of the conformance corpus through the DAG (ARGS='--only iris')"
	@echo "make bench-autogluon  AutoGluon on the corpus's text, time and ID kinds, in its own .venv/autogluon"
	@echo "make setup    create both environments from the lock files (idempotent)"
	@echo "make lint     ruff over both trees"
	@echo "make lock     recompile the lock files from requirements*.txt"
	@echo "make clean    remove the environments and local state"

setup: $(AIRFLOW_ENV)/.synced $(TFX_ENV)/.synced

# uv itself comes from PyPI with pip, into a private bootstrap venv.
$(UV):
	command -v "$(PYTHON)" >/dev/null || { echo "error: no '$(PYTHON)' on PATH; install Python 3.11 or newer, or pass PYTHON=/path/to/python3" >&2; exit 1; }
	"$(PYTHON)" -m venv $(VENV)/bootstrap
	$(VENV)/bootstrap/bin/python -m pip install --quiet "uv==$(UV_VERSION)"

# Prints the path of a Python 3.10 interpreter, or fails with a message saying how to get one.
define find_python310
find_python310() {
  is310() { [ -n "$$1" ] && "$$1" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' >/dev/null 2>&1; }
  local c
  for c in "$(PYTHON310)" "$$(command -v python3.10 || true)" \
           $$(ls -d "$${PYENV_ROOT:-$$HOME/.pyenv}"/versions/3.10*/bin/python3.10 2>/dev/null | sort -rV) \
           "$$($(UV) python find 3.10 2>/dev/null || true)"; do
    if is310 "$$c"; then echo "$$c"; return 0; fi
  done
  echo "uv: trying to download a managed Python 3.10 ..." >&2
  if $(UV) python install 3.10 >&2 && c="$$($(UV) python find 3.10)" && is310 "$$c"; then echo "$$c"; return 0; fi
  echo "error: no Python 3.10 found (TFX 1.16 needs it). Install it with 'pyenv install 3.10'," >&2
  echo "       'uv python install 3.10' or your OS packages (python3.10), or pass PYTHON310=/path/to/python3.10" >&2
  return 1
}
endef

$(AIRFLOW_ENV)/.synced: requirements-airflow.lock $(UV)
	$(UV) venv --quiet --allow-existing --python "$(PYTHON)" $(AIRFLOW_ENV)
	$(UV) pip sync --quiet --python $(AIRFLOW_ENV)/bin/python requirements-airflow.lock
	touch $@

$(TFX_ENV)/.synced: requirements.lock $(UV)
	@$(find_python310)
	py=$$(find_python310)
	# --seed puts pip into the venv: TFX pip-installs user-module wheels at run time.
	$(UV) venv --quiet --seed --allow-existing --python "$$py" $(TFX_ENV)
	$(UV) pip sync --quiet --python $(TFX_ENV)/bin/python requirements.lock
	$(TFX_ENV)/bin/python -m pip --version >/dev/null || { echo "error: pip is missing from $(TFX_ENV)" >&2; exit 1; }
	touch $@

lock: $(UV)
	@$(find_python310)
	py=$$(find_python310)
	$(UV) pip compile --quiet --universal --python "$$py" --generate-hashes \
	  -c constraints-tfx.txt requirements.txt -o requirements.lock
	$(UV) pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	  requirements-airflow.txt -o requirements-airflow.lock

lint: $(AIRFLOW_ENV)/.synced
	$(AIRFLOW_ENV)/bin/ruff check $(SRC)
	$(AIRFLOW_ENV)/bin/ruff format --check $(SRC)

# The docs site. --strict: a broken link or anchor, a page missing from the nav, or an unknown
# generated table (docs/hooks.py) fails the build.
export NO_MKDOCS_2_WARNING := 1
docs: $(AIRFLOW_ENV)/.synced
	$(AIRFLOW_ENV)/bin/python -m mkdocs build --strict --quiet

docs-serve: $(AIRFLOW_ENV)/.synced
	$(AIRFLOW_ENV)/bin/python -m mkdocs serve --strict

# Each tree's tests run in the environment they belong to; both run, and either failing fails.
# The two trees run side by side, each line of their output prefixed with the tree's name: on a
# 2-core machine the Airflow tree leaves a core mostly idle (servers, subprocesses, waiting on
# the scheduler), and one after the other they took past CI's 90 minutes on a slow machine.
# Each test is a line of its own (-v), a test running longer than a minute says so once a
# minute (tests/progress.py), and the end is a summary per step and tree (tests/summary.py,
# from each tree's JUnit XML under .local/test-results).
# The system tools are installed first (both trees use PostgreSQL's binaries).
RESULTS := .local/test-results
PYTEST_OPTS := --durations=25 -v -p tests.progress

test: setup test-tools
	@mkdir -p $(RESULTS) && rm -f $(RESULTS)/*.xml
	lint=0 docs=0 airflow=0 pipeline=0
	$(MAKE) --no-print-directory lint || lint=$$?
	$(MAKE) --no-print-directory docs || docs=$$?
	{ $(MAKE) --no-print-directory test-pipeline 2>&1 | sed -u 's/^/[pipeline] /'; } &
	background=$$!
	$(MAKE) --no-print-directory test-airflow 2>&1 | sed -u 's/^/[airflow] /' || airflow=$$?
	wait $$background || pipeline=$$?
	$(AIRFLOW_ENV)/bin/python -m tests.summary --step lint=$$lint --step docs=$$docs \
	  --tree airflow=$(RESULTS)/airflow.xml:$$airflow --tree pipeline=$(RESULTS)/pipeline.xml:$$pipeline

test-airflow: $(AIRFLOW_ENV)/.synced test-tools
	@mkdir -p $(RESULTS)
	$(AIRFLOW_ENV)/bin/python -m pytest $(PYTEST_OPTS) --junitxml=$(RESULTS)/airflow.xml tests/airflow

# System tools the Airflow tests use, from Debian's packages when missing (CI runs as root):
# docker-compose validates docker/compose.yaml (there is no Docker engine to run it),
# chromium is the browser of the UI test (Playwright drives it; it never downloads its own),
# and the production profile (make stack, tests/airflow/test_production.py) runs PostgreSQL's
# server binaries and redis-server.
test-tools: stack-tools
	@missing=""
	command -v docker-compose >/dev/null || missing="$$missing docker-compose"
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"
	[ -z "$$missing" ] && exit 0
	echo "installing Debian packages for the tests:$$missing"
	command -v apt-get >/dev/null || { echo "error: missing$$missing and there is no apt-get; install them (docker-compose 1.29+, chromium)" >&2; exit 1; }
	apt-get update -q >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null

stack-tools:
	@missing=""
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || missing="$$missing postgresql"
	command -v redis-server >/dev/null || missing="$$missing redis-server"
	[ -z "$$missing" ] && exit 0
	echo "installing Debian packages for the production profile:$$missing"
	command -v apt-get >/dev/null || { echo "error: missing$$missing and there is no apt-get; install PostgreSQL's server and redis-server" >&2; exit 1; }
	apt-get update -q >/dev/null
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null

# The production profile (docker/compose.yaml's services and settings) natively, state and
# generated secrets under .local/stack; `make stack-down` stops it (the state stays).
stack: $(AIRFLOW_ENV)/.synced $(TFX_ENV)/.synced stack-tools
	$(AIRFLOW_ENV)/bin/python -m stack up

stack-down: $(AIRFLOW_ENV)/.synced
	$(AIRFLOW_ENV)/bin/python -m stack down

test-pipeline: $(TFX_ENV)/.synced
	@mkdir -p $(RESULTS)
	$(TFX_ENV)/bin/python -m pytest $(PYTEST_OPTS) --junitxml=$(RESULTS)/pipeline.xml tests/pipeline tests/nas

# Embedded defaults: SQLite for Airflow and ML Metadata, everything under .local/, bundled data.
export AIRFLOW_HOME ?= $(CURDIR)/.local/airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export RETRAIN_STATE_DIR ?= $(CURDIR)/.local
GPU_SLOTS ?= 1
AIRFLOW := $(AIRFLOW_ENV)/bin/airflow
# Params for the run, as JSON (see dags/retrain.py), e.g. make run CONF='{"strategy": "bayesian"}'
CONF ?= {}
# make run DATA=/path/to/folder [LABEL=column]: train on that folder. Whoever types make run is
# the operator, so the folder is trusted for that run (dags/retrain_support/keyboard.py).
# Set here, not taken from the environment: only the command line names them.
DATA =
LABEL =

run: setup
	@mkdir -p "$$AIRFLOW_HOME" "$$RETRAIN_STATE_DIR/logs"
	conf='$(CONF)'
	if [ -n "$(DATA)" ]; then
	  out=$$($(AIRFLOW_ENV)/bin/python -m dags.retrain_support.keyboard \
	    "$(DATA)" "$(LABEL)" "$$conf") || exit 2
	  conf=$$(sed -n 1p <<<"$$out")
	  export RETRAIN_SETTINGS=$$(sed -n 2p <<<"$$out")
	elif [ -n "$(LABEL)" ]; then
	  echo "error: LABEL=$(LABEL) goes with DATA=/path/to/folder" >&2; exit 2
	fi
	$(AIRFLOW) db migrate >"$$AIRFLOW_HOME/db-migrate.log" 2>&1 \
	  || { cat "$$AIRFLOW_HOME/db-migrate.log" >&2; exit 1; }
	$(AIRFLOW) pools set gpu $(GPU_SLOTS) "GPU slots for Tuner and Trainer" >/dev/null
	log="$$RETRAIN_STATE_DIR/logs/make-run-$$(date +%Y%m%dT%H%M%S).log"
	echo "running DAG retrain with airflow dags test; full log: $$log"
	status=0
	$(AIRFLOW) dags test retrain -c "$$conf" >"$$log" 2>&1 || status=$$?
	run_id=$$(sed -n 's/.*DagRun Finished: dag_id=retrain, .* run_id=\([^,]*\),.*/\1/p' "$$log" | tail -1)
	grep -h "RETRAIN FAILED" "$$log" | sed 's/^.*RETRAIN FAILED/RETRAIN FAILED/' || true
	[ -n "$$run_id" ] || { tail -40 "$$log"; echo "error: the DAG run did not finish; see $$log" >&2; exit 1; }
	echo "== task states ($$run_id)"
	$(AIRFLOW) tasks states-for-dag-run retrain "$$run_id" -o plain 2>/dev/null | awk '{printf "  %-18s %s\n", $$3, $$4}'
	echo "== pipeline"
	$(TFX_ENV)/bin/python -m pipelines.summary --run-id "$$run_id" \
	  --settings '{"metadata_path": "'"$$RETRAIN_STATE_DIR"'/metadata.sqlite"}' 2>/dev/null
	grep -q "state=success" <(grep "DagRun Finished" "$$log" | tail -1) || { echo "DAG run failed; see $$log" >&2; exit 1; }
	exit $$status

# The NAS candidates of the latest run, or of RUN=<DAG run id>, read from MLflow; ARGS='--json'.
RUN ?=
ARGS ?=
leaderboard: $(TFX_ENV)/.synced
	@$(TFX_ENV)/bin/python -m pipelines.leaderboard $(if $(RUN),--run "$(RUN)") \
	  --tracking-uri "$${MLFLOW_TRACKING_URI:-sqlite:///$$RETRAIN_STATE_DIR/mlflow.db}" $(ARGS)

# A real MLflow server from the Airflow environment, on the store `make run` writes to.
MLFLOW_PORT ?= 5000
mlflow-ui: $(AIRFLOW_ENV)/.synced
	@mkdir -p "$$RETRAIN_STATE_DIR/mlartifacts"
	echo "MLflow UI: http://127.0.0.1:$(MLFLOW_PORT)  (Ctrl-C to stop)"
	exec $(AIRFLOW_ENV)/bin/mlflow server --host 127.0.0.1 --port $(MLFLOW_PORT) \
	  --backend-store-uri "sqlite:///$$RETRAIN_STATE_DIR/mlflow.db" \
	  --artifacts-destination "$$RETRAIN_STATE_DIR/mlartifacts"

# The conformance corpus (bench/conformance): each dataset through the generic DAG on a small
# budget, then its @champion's pyfunc on raw rows; writes bench/conformance/RESULTS.md. Resumable:
# datasets already in .local/conformance/results.json are skipped. ARGS='--only iris,wine --force'.
conformance: setup
	$(TFX_ENV)/bin/python bench/conformance/run.py $(ARGS)

# AutoGluon beside the product on the corpus's kinds with text, time and ID columns
# (bench/conformance/autogluon.py): its own environment, never the product's locks nor `make test`.
AUTOGLUON_ENV := $(VENV)/autogluon
AUTOGLUON_REQ := bench/conformance/requirements-autogluon.txt
$(AUTOGLUON_ENV)/.synced: $(AUTOGLUON_REQ)
	$(PYTHON) -m venv $(AUTOGLUON_ENV)
	$(AUTOGLUON_ENV)/bin/pip install -q -r $(AUTOGLUON_REQ)
	touch $@

bench-autogluon: $(AUTOGLUON_ENV)/.synced
	$(AUTOGLUON_ENV)/bin/python bench/conformance/autogluon.py $(ARGS)

clean:
	rm -rf $(VENV) .local
