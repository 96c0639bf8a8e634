# Two entry points for a fresh machine:
#   make demo   build + install into .venv, then replay the bundled MKS audit sample through the plugin
#   make test   build + install into .venv with test extras, then run the whole test suite
#               (tests/, then benchmarks/ with the throughput guards: what CI runs, via .ci/run)
# and, once there:
#   make bench  benchmarks/ alone: the pytest-benchmark suites and the throughput guards
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test bench artifact test-image system-deps clean

system-deps:
	./scripts/install-system-deps.sh

$(PY): | system-deps
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed: $(PY) pyproject.toml CMakeLists.txt $(wildcard cython/*/*) $(wildcard src/*/*.py) $(wildcard src/*/*/*.py) $(wildcard src/shim/*) $(wildcard include/*)
	$(PY) -m pip install -q '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/k8saudit-ovh demo

test: $(VENV)/.installed
	$(PY) -m pytest -q -p no:cacheprovider tests benchmarks

bench: $(VENV)/.installed
	$(PY) -m pytest -q -p no:cacheprovider benchmarks

artifact: $(VENV)/.installed
	$(PY) -m k8saudit_ovh_release.artifact build --out dist

test-image: $(VENV)/.installed
	$(PY) -m pytest -q -m slow tests/distribution/test_image_debootstrap.py

clean:
	rm -rf $(VENV) build dist
