# The two commands of the README: `make lab` (open the series) and `make test` (run every test).
# Both create .venv if there is none and install requirements.txt and vaelib into it; nothing is
# installed or registered outside .venv.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# Use ../shared/data when it exists (this project's offline MNIST); else vaelib's default, <repo>/data.
SHARED_DATA := $(abspath ../shared/data)
ifeq ($(strip $(VAELIB_DATA)),)
  ifneq ($(wildcard $(SHARED_DATA)/MNIST/raw),)
    export VAELIB_DATA := $(SHARED_DATA)
  endif
endif
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
LAB_FLAGS := --ip=127.0.0.1 --notebook-dir=notebooks --LabApp.news_url=None \
             --LabApp.extension_manager=readonly \
             --LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate $(ROOT_FLAG)
PYTEST_NB := --nbval-lax --nbval-current-env --nbval-cell-timeout=600

.PHONY: setup lab test unit notebooks bench pretrained clean-outputs help html fresh-check

help:
	@echo "make lab        set up .venv and open the series in JupyterLab (127.0.0.1, with a token)"
	@echo "make test       set up .venv, run the unit tests and every notebook (smoke mode)"
	@echo "make unit       unit tests only;  make notebooks  notebooks only (smoke mode)"
	@echo "make bench      python benchmarks/train_speed.py --epochs 3"
	@echo "make pretrained rebuild the shipped checkpoints (python -m vaelib.pretrained build)"
	@echo "make html       executed HTML edition in _build/html/ (offline maths, figures, widgets)"
	@echo "make fresh-check clone the committed repo into a temp folder and run make test + make lab there"

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

setup: $(STAMP)

lab: setup
	$(BIN)/jupyter lab $(LAB_FLAGS)

test: setup
	VAELIB_SMOKE=1 $(BIN)/python -m pytest -p no:cacheprovider tests notebooks $(PYTEST_NB)

unit: setup
	$(BIN)/python -m pytest -p no:cacheprovider tests

notebooks: setup
	VAELIB_SMOKE=1 $(BIN)/python -m pytest -p no:cacheprovider notebooks $(PYTEST_NB)

bench: setup
	$(BIN)/python benchmarks/train_speed.py --epochs 3

pretrained: setup
	$(BIN)/python -m vaelib.pretrained build

clean-outputs: setup
	$(BIN)/jupyter nbconvert --clear-output --inplace notebooks/*.ipynb

# The executed HTML edition in _build/html/ (VAELIB_SMOKE=1 make html for the quick one). MathJax,
# require.js and the widget renderer are fetched once with `npm pack` into _build/web-deps/ and
# copied next to the pages, so they render offline.
HTML_DIR ?= _build/html

html: setup
	$(BIN)/python tools/html_edition.py --out $(HTML_DIR)

# Clone the committed repo into an empty folder and run the README's commands there (slow: a new .venv).
fresh-check:
	tools/fresh_check.sh
