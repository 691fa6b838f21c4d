# Two commands a newcomer needs:  make run  (set up and start)   make test  (set up and test)
# PYTHON: the first of python3.11, 3.12, 3.13 that runs (a pyenv shim may exist and not run).
PYTHON ?= $(firstword $(foreach p,python3.11 python3.12 python3.13,$(shell command -v $(p) \
            >/dev/null 2>&1 && $(p) -c '' >/dev/null 2>&1 && echo $(p))) python3.11)
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip install --quiet -c constraints.txt
HOST   ?= 127.0.0.1
PORT   ?= 8000
# torch's CPU build (~200 MB) comes first from here: PyPI's torch is a multi-GB CUDA build on
# Linux. Set it empty where pip already finds a CPU torch (CI does: TORCH_INDEX= make test).
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
TORCH  := $(shell grep -m1 '^torch==' constraints.txt)

.PHONY: setup run test lint bench clean

# The runtime only (what `make run` needs); exact versions from constraints.txt. torch without
# its dependencies: they come next, from PyPI, at their pinned versions.
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(if $(TORCH_INDEX),$(PY) -m pip install --quiet --no-deps --index-url $(TORCH_INDEX) $(TORCH))
	$(PIP) -e .
	touch $@

# The test tools, and Ray: tests/cluster starts a real local one.
$(VENV)/.installed-test: $(VENV)/.installed
	$(PIP) -e '.[test,cluster]'
	touch $@

# OpenCV (the reference) and httpx for bench/, Ray for bench.cluster_runs.
$(VENV)/.installed-bench: $(VENV)/.installed
	$(PIP) -e '.[bench,cluster]'
	touch $@

setup: $(VENV)/.installed data/mnist.npz data/sequences/manifest.json data/photos/coffee.png

# MNIST, downloaded and converted once (hash-checked). Order-only on the venv: a reinstall must
# not refetch it, and the script leaves a good cache untouched, so its date would not change.
data/mnist.npz: | $(VENV)/.installed
	$(PY) scripts/get_mnist.py

# The sequence lab's names, series and Python source, prepared the same way (hash-checked wheels,
# downloaded, never installed); the manifest is written last, so it marks a complete set.
data/sequences/manifest.json: | $(VENV)/.installed
	$(PY) scripts/get_sequences.py

# The kernel lab's real photos (astronaut, the cat, coffee), from the scikit-image wheel the same
# way, each PNG hash-checked; coffee.png is the last one written, so it marks a complete set.
data/photos/coffee.png: | $(VENV)/.installed
	$(PY) scripts/get_photos.py

run: setup
	@echo "Open http://$(HOST):$(PORT)/ in your browser (Ctrl-C stops the app)."
	$(VENV)/bin/uvicorn app.main:create_app --factory --host $(HOST) --port $(PORT)

test: setup $(VENV)/.installed-test
	@scripts/ensure-chromium.sh
	$(VENV)/bin/ruff check app tests bench scripts
	REQUIRE_MNIST=1 $(PY) -m pytest

bench: setup $(VENV)/.installed-bench
	$(PY) -m bench.kernel_vs_opencv
	$(PY) -m bench.kernel_lab_request
	$(PY) -m bench.stepper_trace
	$(PY) -m bench.training_throughput
	$(PY) -m bench.inspector_request
	$(PY) -m bench.generative_slider
	$(PY) -m bench.cluster_runs
	$(PY) -m bench.sequence_trace
	$(PY) -m bench.sequence_generate
	$(PY) -m bench.sequence_training

clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
