# The CMSI book. Two commands do everything from a fresh clone:
#   make book   build the whole book (venv, pinned deps, offline MathJax, atlas, strict build)
#   make test   the same set-up, then the whole test suite (incl. a browser test of the book)
#   make check  the fast lane: ruff (lint + format check) and the tests that need no built book
#               and no long run (under two minutes; needs only the venv)
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
MATHJAX_VERSION := 3.2.2
# The atlas index's sort and filter (no jQuery; LGPL-3.0, served unmodified with its licence)
SIMPLE_DATATABLES_VERSION := 10.3.0
# The galaxy pages' figures, drawn in the browser (scatter traces only: the basic bundle; MIT)
PLOTLY_VERSION := 4.1.1
# The local data mirror: ../shared/data when it exists (developer machines and CI).
CMSI_DATA_DIR ?= $(shell [ -d ../shared/data ] && cd ../shared/data && pwd)
export CMSI_DATA_DIR
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: check lint book test venv mathjax datatables plotly atlas survey clean help
.DEFAULT_GOAL := help

help:
	@echo "make book   build the whole book into _build/html (installs what it needs)"
	@echo "make check  lint (ruff) and the fast tests: no book, no survey, under two minutes"
	@echo "make test   build the book and run the test suite"
	@echo "make clean  remove generated files (venv kept: make distclean removes it too)"

venv: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "need $(PYTHON) (Python 3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[book,test]'
	touch $@

mathjax: _mathjax/mathjax/tex-mml-chtml.js
_mathjax/mathjax/tex-mml-chtml.js:
	@command -v npm >/dev/null || { echo "need npm to fetch the offline MathJax"; exit 1; }
	rm -rf _mathjax .npm-mathjax && mkdir -p _mathjax .npm-mathjax
	npm install --silent --no-audit --no-fund --prefix .npm-mathjax mathjax@$(MATHJAX_VERSION)
	cp -r .npm-mathjax/node_modules/mathjax/es5 _mathjax/mathjax
	rm -rf .npm-mathjax

# The same way for the table library: its browser bundle (dependencies included) and stylesheet go
# to _datatables/simple-datatables (untracked), which html_extra_path serves at the site root.
DATATABLES_JS := _datatables/simple-datatables/simple-datatables.js
datatables: $(DATATABLES_JS)
$(DATATABLES_JS):
	@command -v npm >/dev/null || { echo "need npm to fetch the offline table library"; exit 1; }
	rm -rf _datatables .npm-datatables && mkdir -p _datatables/simple-datatables .npm-datatables
	npm install --silent --no-audit --no-fund --prefix .npm-datatables simple-datatables@$(SIMPLE_DATATABLES_VERSION)
	cd .npm-datatables/node_modules/simple-datatables && cp dist/umd/simple-datatables.js dist/style.css LICENSE \
	  $(CURDIR)/_datatables/simple-datatables/
	rm -rf .npm-datatables

# And for the plotting library of the galaxy pages' figures: to _plotly/plotly (untracked), served at
# the site root; only the galaxy pages load it (cmsi_lib/page_figure.py).
PLOTLY_JS := _plotly/plotly/plotly-basic.min.js
plotly: $(PLOTLY_JS)
$(PLOTLY_JS):
	@command -v npm >/dev/null || { echo "need npm to fetch the offline plotting library"; exit 1; }
	rm -rf _plotly .npm-plotly && mkdir -p _plotly/plotly .npm-plotly
	npm install --silent --no-audit --no-fund --prefix .npm-plotly plotly.js-basic-dist-min@$(PLOTLY_VERSION)
	cd .npm-plotly/node_modules/plotly.js-basic-dist-min && cp plotly-basic.min.js LICENSE $(CURDIR)/_plotly/plotly/
	rm -rf .npm-plotly

# Everything the book's chapters read from results/ is made here, before the build.
# (python -m, not .venv/bin/cmsi: scripts carry the venv's absolute path in their shebang)
LIB_INPUTS := $(shell find cmsi_lib -name '*.py') data/registry.txt
results/survey/summary.json: $(VENV)/.installed $(LIB_INPUTS)
	$(BIN)/python -m cmsi_lib survey
results: venv results/survey/summary.json
	@# the 175 atlas pages at the current parameters (cached: only what changed is re-executed)
	$(BIN)/python -m cmsi_lib run --no-book

book: venv mathjax datatables plotly results
	@# strict build (-W -n --keep-going); drops the execution cache when the library, the data
	@# registry or the results the chapters read have changed (cmsi_lib/book.py)
	$(BIN)/python -m cmsi_lib.book

# Workers of pytest-xdist for make test (0: one process). Units of work: one test module each (the two
# Milky Way modules share one), the longest first (tests/conftest.py).
TEST_WORKERS ?= 2
test: book
	@# the 20 slowest tests are listed at the end (where make test's time goes)
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder --durations=20

# The fast lane: depends on the venv only (never on the results or the book).
LINTED := cmsi_lib tests benchmarks
lint: venv
	@# both checks run, so one pass reports every finding
	@status=0; \
	  $(BIN)/ruff check $(LINTED) || status=1; \
	  $(BIN)/ruff format --check $(LINTED) || status=1; \
	  exit $$status

check: lint
	@# `book` tests need _build/html, `slow` ones run pages, the atlas or galpy's Milky Way (pyproject markers)
	MPLBACKEND=Agg $(BIN)/pytest -m "not book and not slow" -q

clean:
	rm -rf _build _mathjax _datatables _plotly results chapters/sparc/galaxies

distclean: clean
	rm -rf $(VENV)
