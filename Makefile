# The two README commands: `make reproduce` (main job) and `make test` (tests).
# Both create .venv inside the clone and install the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= results

.PHONY: setup reproduce test lint bench package-check clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	# torch pinned to the CPU build on this machine's disk: never pull a CUDA build here.
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

reproduce: $(STAMP)
	$(BIN)/theoropt run all --quick --out $(OUT)
	$(BIN)/theoropt report $(OUT)

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# The wheel installed into a fresh environment, as users get it (also run by CI).
package-check: $(STAMP)
	bash .ci/package_check

clean:
	rm -rf $(VENV) $(OUT)
