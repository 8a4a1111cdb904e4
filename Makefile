# Two commands do all set-up: `make demo` (the main job on the embedded default, offline) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEMO_OUT ?= runs/demo

.PHONY: demo test test-zoo test-numerics bench replicate clean docs docs-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: pyproject.toml setup.py constraints.txt | $(BIN)/python
	$(BIN)/pip install -q -c constraints.txt -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml setup.py constraints.txt | $(BIN)/python
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	touch $@ $(VENV)/.installed

demo: $(VENV)/.installed
	HF_HUB_OFFLINE=1 $(BIN)/metazoo demo --out $(DEMO_OUT)
	@echo "next: source $(BIN)/activate && metazoo report $(DEMO_OUT) --out $(DEMO_OUT)/report.html   (then README's first-hour tour)"

test: $(VENV)/.installed-docs
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m "not zoo"

test-zoo: $(VENV)/.installed-test
	HF_HUB_OFFLINE=1 $(BIN)/python -m pytest -q -m zoo tests/test_anymodel.py

# The `numerics` tests under several kernel paths (scripts/numerics_matrix.py; NUMERICS_CONFIGS=a,b to choose).
test-numerics: $(VENV)/.installed-test
	HF_HUB_OFFLINE=1 $(BIN)/python scripts/numerics_matrix.py $(if $(NUMERICS_CONFIGS),--configs $(NUMERICS_CONFIGS))

replicate: $(VENV)/.installed-test
	HF_HUB_OFFLINE=1 OMP_NUM_THREADS=$${OMP_NUM_THREADS:-2} $(BIN)/metazoo replicate mini --out docs/replication

bench: $(VENV)/.installed-test
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/metamer_step.py
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/cochleagram.py
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/metamer_step.py --frozen
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/null_scale.py
	HF_HUB_OFFLINE=1 $(BIN)/python benchmarks/generate_workers.py

# The documentation site: tutorials executed where their source changed (scripts/execute_tutorials.py, cached by
# the source's sha256), then mkdocs with warnings as errors. The docs tools are installed with --no-deps at the
# versions pinned in constraints.txt's docs section (see pyproject.toml's `docs` extra for why).
$(VENV)/.installed-docs: constraints.txt $(VENV)/.installed-test
	$(BIN)/pip install -q --no-deps -c constraints.txt $$(sed -n '/^# docs:/,$$s/==.*//p' constraints.txt | grep -v '^#')
	touch $@

docs-deps: $(VENV)/.installed-docs

docs: $(VENV)/.installed-docs
	HF_HUB_OFFLINE=1 $(BIN)/python scripts/execute_tutorials.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) runs .pytest_cache
