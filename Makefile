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
# `make lab`: JupyterLab on 127.0.0.1 with a token, opening the first notebook of LAB_DIR (00 when present).
# Quiet (log level WARN), so the token URL is the terminal's last line; offline and without pop-ups: no
# news, no update check (flags here, and the settings in LAB_OVERRIDES, which this venv's Lab reads
# first). expose_app_in_browser lets a script in the page (tests/test_browser.py) reach the app object.
# LAB_DIR=... serves another folder (the browser test serves a copy); JUPYTER_PORT=... picks the port.
LAB_DIR   ?= notebooks
LAB_FIRST := $(notdir $(firstword $(sort $(wildcard $(LAB_DIR)/[0-9][0-9]_*.ipynb))))
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)
# No warning a learner cannot act on: kernels talk over local sockets (ipc; Windows has none, so TCP there), no
# websocket keep-alive pings on 127.0.0.1 (Jupyter Server's ping timeout is longer than its interval, which tornado
# warns about; equal values make its own check drop live connections), and the series' own notebooks
# (committed without outputs) are signed as trusted in a notary kept inside .venv ("Notebook ... is not trusted").
# Opening a notebook must not mark it modified: tools/lab_contents.py serves notebooks with the kernel's language_info.
NOTARY_DIR := $(abspath $(VENV))/share/jupyter/notary
LAB_NOTARY := --NotebookNotary.db_file=$(NOTARY_DIR)/nbsignatures.db --NotebookNotary.secret_file=$(NOTARY_DIR)/notebook_secret
LAB_QUIET := $(if $(filter Windows_NT,$(OS)),,--KernelManager.transport=ipc) \
             --ServerApp.tornado_settings='{"ws_ping_interval": 0}' $(LAB_NOTARY) \
             --ServerApp.contents_manager_class=lab_contents.SeriesContentsManager
LAB_FLAGS := --ip=127.0.0.1 --notebook-dir=$(LAB_DIR) \
             --ServerApp.log_level=WARN --LabApp.log_level=WARN \
             $(if $(LAB_FIRST),--LabApp.default_url=/lab/tree/$(LAB_FIRST)) \
             --LabApp.news_url=None --LabApp.extension_manager=readonly \
             --LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate \
             --LabApp.expose_app_in_browser=True $(ROOT_FLAG) $(LAB_QUIET)
LAB_OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json
EDITIONS_DIR ?= _build/editions
PYTEST_NB := --nbval-lax --nbval-current-env --nbval-cell-timeout=600
# pytest-xdist: PYTEST_WORKERS processes (2: the 2-core CPU; PYTEST_WORKERS=0 runs in this process, for debugging).
# --dist loadfile keeps each file on one worker, so a notebook's cells run in order in one kernel (nbval's advice);
# each worker gets its own runs/ folder and one torch thread (tests/conftest.py), so no two write one checkpoint;
# --no-loadscope-reorder keeps the order tests/conftest.py gives (the longest files first).
PYTEST_WORKERS ?= 2
PYTEST_XDIST := $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadfile --no-loadscope-reorder)

.PHONY: setup lab test unit notebooks bench pretrained clean-outputs help html fresh-check

help:
	@echo "make lab        set up .venv and open the series in JupyterLab (127.0.0.1, with a token)"
	@echo "make test       set up .venv, run the unit tests and every notebook (smoke mode)"
	@echo "make unit       unit tests only (no kernel, browser or shipped-file checks);  make notebooks  notebooks only (smoke mode)"
	@echo "make bench      benchmarks/train_speed.py (s/epoch) and benchmarks/time_to_quality.py (time to a good VAE)"
	@echo "make pretrained rebuild everything in pretrained/, in dependency order (hours: see the recipe)"
	@echo "make html       the course website in _build/html/ (notebooks executed; works offline)"
	@echo "make fresh-check clone the committed repo into a temp folder and run make test + make lab there"

# TORCH=cpu (e.g. `make lab TORCH=cpu` on a fresh clone): PyTorch's CPU-only build from its own index first, a few
# hundred MB instead of the default Linux wheels with CUDA (about 3 GB to download); requirements.txt then finds it.
TORCH ?=
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu
ifneq ($(filter-out cpu,$(TORCH)),)
  $(error TORCH=$(TORCH) is not a choice: use TORCH=cpu for the CPU-only PyTorch, or leave TORCH unset)
endif

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(if $(TORCH),$(BIN)/python -m pip install --quiet --index-url $(TORCH_CPU_INDEX) torch torchvision)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

setup: $(STAMP)

# The first free port from the asked one on (Jupyter's own retry is silent at log level WARN, so we say it).
export LAB_FREE_PORT := import socket, sys; asked = int(sys.argv[1]); free = lambda p: socket.socket().connect_ex(("127.0.0.1", p)) != 0; print(next((p for p in range(asked, asked + 50) if free(p)), asked))
lab: setup $(LAB_OVERRIDES)
	@echo "make lab: JupyterLab serves $(LAB_DIR)/ on 127.0.0.1 only; Control-C twice stops it."
	@$(if $(ROOT_FLAG),echo "make lab: running as root: Jupyter gets --allow-root (it refuses root otherwise).")
	@echo "make lab: open the URL below (it holds the token); it opens $(if $(LAB_FIRST),$(LAB_DIR)/$(LAB_FIRST): start there,the notebook list)."
	@asked=$${JUPYTER_PORT:-8888}; port=$$($(BIN)/python -c "$$LAB_FREE_PORT" $$asked) || exit 1; \
	  if [ "$$port" != "$$asked" ]; then echo "make lab: port $$asked is busy, so Lab takes port $$port (JUPYTER_PORT=... picks another)."; fi; \
	  $(if $(LAB_FIRST),mkdir -p $(NOTARY_DIR) && $(BIN)/jupyter trust $(LAB_NOTARY) $(LAB_DIR)/[0-9][0-9]_*.ipynb >/dev/null 2>&1;) \
	  JUPYTER_PORT=$$port PYTHONPATH=$(CURDIR)/tools$${PYTHONPATH:+:$$PYTHONPATH} $(BIN)/jupyter lab $(LAB_FLAGS)

# Lab's defaults for this venv: never ask about news (the toast), never check for updates, and never autosave:
# running a notebook must not write outputs into the committed file (File > Save, or Ctrl+S, still saves).
$(LAB_OVERRIDES): $(STAMP) Makefile
	@mkdir -p $(@D)
	@printf '%s\n' '{"@jupyterlab/apputils-extension:notification":' \
	    '  {"fetchNews": "false", "checkForUpdates": false},' \
	    ' "@jupyterlab/docmanager-extension:plugin": {"autosave": false}}' > $@

# A test run starts dozens of Python processes (workers, kernels, the grader, Sphinx, the wheel's venv) that import
# the same vaelib and test modules: they may cache compiled bytecode (__pycache__/, git-ignored) even where the
# environment sets PYTHONDONTWRITEBYTECODE, so each module is compiled once, not once per process.
PYC := PYTHONDONTWRITEBYTECODE=

# Every notebook runs as its "check edition" (tools/editions.py): the committed notebook, whose exercise checks
# must report "not attempted" (VAELIB_EXERCISES_EXPECT=stub), then each folded solution with its checks, which
# must pass (=solution), in the same kernel: the exercises are tested both ways at the cost of one run.
# tests/conftest.py puts the longest files first (browser, grader, wheel, site, the longest notebooks): loadfile
# hands files out in that order, so the two workers finish close together.
test: setup
	$(BIN)/python tools/editions.py --out $(EDITIONS_DIR) --only check
	$(PYC) VAELIB_SMOKE=1 $(BIN)/python -m pytest -p no:cacheprovider $(PYTEST_XDIST) $(EDITIONS_DIR)/check tests $(PYTEST_NB)

# The unit tests alone: no kernel, no browser, no subprocess, no re-evaluation of shipped files (make test runs all).
unit: setup
	$(PYC) $(BIN)/python -m pytest -p no:cacheprovider $(PYTEST_XDIST) tests -m "not slow and not integrity"

notebooks: setup
	$(BIN)/python tools/editions.py --out $(EDITIONS_DIR) --only check
	$(PYC) VAELIB_SMOKE=1 $(BIN)/python -m pytest -p no:cacheprovider $(PYTEST_XDIST) $(EDITIONS_DIR)/check $(PYTEST_NB)

bench: setup
	$(BIN)/python benchmarks/train_speed.py --epochs 3
	$(BIN)/python benchmarks/time_to_quality.py

# Everything shipped, in dependency order: the models and the classifier, then what is computed from them (notebooks
# 06-07's intermediates, 08's study and seed replicas), and the sweep. Each command ships only its complete result,
# through vaelib.manifest.ship; tests/test_manifest.py checks that every manifest entry's command is run here.
pretrained: setup
	$(BIN)/python -m vaelib.build
	$(BIN)/python -m vaelib.artefacts nb06 nb07
	$(BIN)/python -m vaelib.sweep --ship
	$(BIN)/python -m vaelib.twostage --ship
	$(BIN)/python -m vaelib.twostage --seeds --ship

clean-outputs: setup
	$(BIN)/jupyter nbconvert --clear-output --inplace notebooks/*.ipynb

# The course website in _build/html/ (VAELIB_SMOKE=1 make html for the quick one): Sphinx + myst-nb
# run every notebook, and a failing cell or a Sphinx warning fails the build (docs/conf.py says the rest).
# -E: a fresh environment, so a full build never reuses a smoke build's outputs; -T: a failing cell is
# printed with its traceback. The pages work offline, from file://.
HTML_DIR ?= _build/html

html: setup
	$(BIN)/sphinx-build -E -W --keep-going -T -c docs . $(HTML_DIR)
	@echo "open $(HTML_DIR)/index.html"

# Clone the committed repo into an empty folder and run the README's commands there (slow: a new .venv).
fresh-check:
	tools/fresh_check.sh

# Exercises (docs/grading.md). One source, the committed notebooks, gives four editions in _build/editions/:
# learner (as committed: self-study), student (no solutions: a graded course), instructor (stubs solved),
# check (what CI runs: every stub must not pass, then every solution must, in one kernel per notebook).
.PHONY: editions exercises-check grade

editions: setup
	$(BIN)/python tools/editions.py --out $(EDITIONS_DIR)

exercises-check: setup
	$(BIN)/python tools/editions.py --out $(EDITIONS_DIR) --only check
	VAELIB_SMOKE=1 $(BIN)/python -m pytest -p no:cacheprovider $(EDITIONS_DIR)/check $(PYTEST_NB)

# make grade SUBMISSIONS="alice/01_elbo.ipynb bob/01_elbo.ipynb" [GRADES=grades.csv] [SANDBOX=1] [GRADE_FLAGS=--smoke]
# SANDBOX=1: each kernel inside bubblewrap (refuses when bwrap is missing); docs/grading.md says what each mode stops.
GRADES ?= grades.csv
grade: setup
	$(BIN)/python tools/grade.py $(SUBMISSIONS) --out $(GRADES) $(if $(SANDBOX),--sandbox) $(GRADE_FLAGS)
