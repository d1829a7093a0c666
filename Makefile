# One entry point for students, instructors and CI. Every target works from a
# fresh clone: it creates .venv and installs requirements.txt on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt pyproject.toml | cksum | cut -d' ' -f1)
# nbgrader calls `alembic`, so the environment's bin/ must be on PATH.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup node-deps system-deps book book-clean test lint \
        release autograde feedback grades report export restore

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt
	rm -f $(VENV)/.installed-* && touch $@

# axe-core (the browser tests' accessibility audit), pinned in package-lock.json.
NODE_STAMP := node_modules/.installed-$(shell cat package.json package-lock.json | cksum | cut -d' ' -f1)

$(NODE_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "setup: npm (Node.js >= 18) is needed to install axe-core for the browser tests" >&2; exit 1; }
	npm ci --ignore-scripts --no-audit --no-fund
	rm -f node_modules/.installed-* && touch $@

## setup: create .venv with the whole course stack and rnn_lib (editable)
setup: $(STAMP)

## node-deps: node_modules from package-lock.json (axe-core for the accessibility audit)
node-deps: $(NODE_STAMP)

## system-deps: Debian packages the tests need (Chromium for the browser test, bubblewrap for the grading sandbox, PostgreSQL for the shared-gradebook tests)
system-deps:
	bash tools/install_system_deps.sh

## book: set up, then build the book (executes every chapter; cached between builds)
book: setup
	$(BIN)/python tools/build_book.py

## book-clean: a cold build, execution cache discarded
book-clean: setup
	$(BIN)/python tools/build_book.py --clean

## test: the whole test suite (package, book build + browser, accessibility, assignments, grading)
test: setup system-deps node-deps
	$(BIN)/python -m pytest

## lint: ruff over everything
lint: setup
	$(BIN)/ruff check .

## release: student versions of every problem set -> assignments/release/
release: setup
	assignments/course.sh release $(PS)

# Problem sets to work on: all of them unless PS="ps1_state_machines ..." is given.
COURSE ?= assignments
PS ?= $(notdir $(patsubst %/,%,$(wildcard $(COURSE)/source/*/)))

## autograde: grade every released problem set's submissions (sandboxed, parallel; resumes if interrupted)
## feedback: feedback HTML (check names, points, messages; never hidden tests) -> assignments/feedback/
# GNU make can only fail (2) or succeed: a run that graded everything succeeds, even when
# some submissions need attention (the summary lists them loudly); it fails only for a
# course error (grader status 2), an incomplete run (3) or an interruption. Scripts that
# need the grader's own 0/1/2/3 call `python -m grader` directly. Problem sets not
# released yet (no assignments/release/<ps>/) are skipped with a note.
# SCHEDULER=tcp://HOST:8786 grades on a Dask cluster's workers (grader/README.md,
# "Grading a large class"); without it, a local cluster of one worker per core.
SCHEDULER ?=
autograde feedback: setup
	@status=0; for ps in $(PS); do \
	  if [ ! -d $(COURSE)/release/$$ps ]; then \
	    echo "== $@ $$ps: skipped, not released yet (make release PS=$$ps)"; continue; fi; \
	  if [ $@ = feedback ] && [ ! -d $(COURSE)/.grader/results/$$ps ]; then \
	    echo "== $@ $$ps: skipped, nothing graded yet (make autograde PS=$$ps)"; continue; fi; \
	  echo "== $@ $$ps"; rc=0; $(BIN)/python -m grader $@ $$ps --course $(COURSE) \
	    $(if $(and $(SCHEDULER),$(filter autograde,$@)),--scheduler $(SCHEDULER)) || rc=$$?; \
	  if [ $$rc -eq 1 ]; then echo "== $@ $$ps: done; some submissions NEED ATTENTION (listed above)"; \
	  elif [ $$rc -ne 0 ]; then echo "== $@ $$ps: FAILED (status $$rc)" >&2; status=1; fi; \
	done; exit $$status

## export: grades for Canvas -> assignments/reports/grades-canvas.csv (FORMAT=wide|long for the others)
FORMAT ?= canvas
export: setup
	$(BIN)/python -m grader export --format $(FORMAT) --course $(COURSE)

## restore: put the newest gradebook backup back (one is made before every autograde)
restore: setup
	$(BIN)/python -m grader restore --course $(COURSE)

## report: class report -> assignments/reports/ (grades.csv, checks.csv, report.html with plots)
report: setup
	$(BIN)/python -m grader report --course $(COURSE)

## grades: export every grade to assignments/reports/grades.csv (an older export is kept)
grades: setup
	assignments/course.sh export
