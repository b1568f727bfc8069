# urlsom: two commands on a fresh machine.
#   make book   build the Jupyter Book on the quick profile (embedded data, offline, CPU)  -> _build/html
#               (make book PROFILE=cifar10-cpu: on CIFAR-10 itself, about 2 hours on 2 cores)
#   make test-all  run ruff and the whole test suite (what CI runs)
#   make test      ruff and the fast tests only (no slow, no browser tests): the edit-test loop
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: env test test-all lint book lab reproduce-paper bench clean

env: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[book,dev]"
	touch $(STAMP)

lint: env
	$(BIN)/ruff check urlsom_core urlsom_book tests notebooks bench

test: env lint
	$(BIN)/python -m pytest -q -m "not slow and not browser"

test-all: env lint
	$(BIN)/python -m pytest -q

# The book: execute every figure notebook on a profile (runs/ caches trainings), then render it.
# PROFILE=cifar10-cpu: the CIFAR-10 figures on CIFAR-10's 60,000 images (data/cifar10-jpg/train.zip and test.zip).
# JOBS: notebooks at once. cifar10-cpu: 1 (one training with both cores did 1.25x the work of two with one each).
PROFILE ?= quick
JOBS ?= $(if $(filter cifar10-cpu,$(PROFILE)),1,2)
book: env
	$(BIN)/urlsom reproduce --profile $(PROFILE) --jobs $(JOBS)
	$(BIN)/jupyter-book build . -W

# JupyterLab on this checkout, 127.0.0.1 only: .py notebooks open as notebooks on double-click (.jupyter/labconfig),
# unmodified (.jupyter/jupyter_server_config.json: urlsom_book.lab). URLSOM_PROFILE=tiny make lab: every notebook in seconds.
# JupyterLab refuses to start as root without --allow-root (a container's usual user): passed only then.
lab: env
	JUPYTER_CONFIG_PATH=$(CURDIR)/.jupyter $(BIN)/jupyter lab --ip 127.0.0.1 $(if $(filter 0,$(shell id -u)),--allow-root) notebooks

# The paper's data and settings, on a GPU box (see book/reproduce.md).
reproduce-paper: env
	$(BIN)/urlsom reproduce --profile paper
	$(BIN)/jupyter-book build . -W

bench: env
	$(BIN)/urlsom bench --out bench.json

clean:
	rm -rf _build executed
