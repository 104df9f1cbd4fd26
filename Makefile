# Two commands do all the set-up: `make train` and `make test`.
# Both create .venv on first use from requirements.lock (the set tested here) with torch pinned to the
# CPU wheel this machine has on disk; `make test` adds requirements-extras.lock (pytest, pytest-xdist and the optional
# features' packages: the Optuna sweeper, the SLURM launcher). pyproject.toml keeps loose ranges for
# users installing elsewhere.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TORCH_PIN ?= torch==2.13.0

.PHONY: venv train test bench clean-outputs

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_PIN)
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.installed-extras: $(VENV)/.installed requirements-extras.lock
	$(BIN)/python -m pip install --quiet -r requirements-extras.lock
	touch $@

train: venv
	$(BIN)/python train.py $(ARGS)

# Two pytest-xdist workers (tests/conftest.py gives each its share of the cores): on 2 cores the suite takes
# about two thirds of the time of one process. TEST_WORKERS=0: one process.
TEST_WORKERS ?= 2

test: $(VENV)/.installed-extras
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal $(ARGS)

bench: venv
	$(BIN)/python -m hrm.bench step

clean-outputs:
	rm -rf experiments/runs experiments/multiruns checkpoints/*/
