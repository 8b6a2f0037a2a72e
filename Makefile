# The two README commands: `make reproduce` (main job) and `make test` (tests).
# Both create .venv inside the clone and install the project into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OUT ?= results

.PHONY: setup reproduce test lint bench package-check gpu-wheels clean

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
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# The wheel installed into a fresh environment, as users get it (also run by CI).
package-check: $(STAMP)
	bash .ci/package_check

# Wheels (Python 3.12, manylinux) of the dependencies a PyTorch + CUDA image usually lacks, at the
# versions installed here, into .whl/ for benchmarks/gpu_check.sh on a machine without an index.
GPU_WHEELS := pot dask distributed partd locket tornado tblib zict geomloss
gpu-wheels: $(STAMP)
	$(BIN)/python -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
	  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
	  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
	  -d .whl $$($(BIN)/python -c "from importlib.metadata import version as v; \
	    print(' '.join(f'{p}=={v(p)}' for p in '$(GPU_WHEELS)'.split()))")

clean:
	rm -rf $(VENV) $(OUT)
