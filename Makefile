# One entry point for students, instructors and CI. Every target works from a
# fresh clone: it creates .venv and installs requirements.txt on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements.txt pyproject.toml | cksum | cut -d' ' -f1)
# nbgrader calls `alembic`, so the environment's bin/ must be on PATH.
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup node-deps system-deps book book-clean test lint \
        release autograde feedback grades report

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

## system-deps: Debian packages the tests need (Chromium for the browser test, bubblewrap for the grading sandbox)
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
PS ?= $(notdir $(patsubst %/,%,$(wildcard assignments/source/*/)))

## autograde: grade every submission in assignments/submitted/ (sandboxed, parallel; resumes if interrupted)
## feedback: feedback HTML (check names, points, messages; never hidden tests) -> assignments/feedback/
# Every problem set is processed even if one needs attention; the worst exit status is returned.
autograde feedback: setup
	@status=0; for ps in $(PS); do \
	  echo "== $@ $$ps"; $(BIN)/python -m grader $@ $$ps || { rc=$$?; [ $$rc -gt $$status ] && status=$$rc; }; \
	done; exit $$status

## report: class report -> assignments/reports/ (grades.csv, checks.csv, report.html with plots)
report: setup
	$(BIN)/python -m grader report

## grades: export every grade to assignments/reports/grades.csv (an older export is kept)
grades: setup
	assignments/course.sh export
