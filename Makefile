# Two commands a newcomer needs:  make run  (set up and start)   make test  (set up and test)
PYTHON ?= python3.11
VENV   ?= .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: setup run test lint bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,bench,cluster]'
	touch $@

setup: $(VENV)/.installed data/mnist.npz

# MNIST, downloaded and converted once (hash-checked). Order-only on the venv: a reinstall must
# not refetch it, and the script leaves a good cache untouched, so its date would not change.
data/mnist.npz: | $(VENV)/.installed
	$(PY) scripts/get_mnist.py

run: setup
	@echo "Open http://$(HOST):$(PORT)/ in your browser (Ctrl-C stops the app)."
	$(VENV)/bin/uvicorn app.main:create_app --factory --host $(HOST) --port $(PORT)

test: setup
	@scripts/ensure-chromium.sh
	$(VENV)/bin/ruff check app tests bench scripts
	REQUIRE_MNIST=1 $(PY) -m pytest

bench: setup
	$(PY) -m bench.kernel_vs_opencv
	$(PY) -m bench.kernel_lab_request
	$(PY) -m bench.stepper_trace
	$(PY) -m bench.training_throughput
	$(PY) -m bench.inspector_request
	$(PY) -m bench.generative_slider
	$(PY) -m bench.cluster_runs

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
