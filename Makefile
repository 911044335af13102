# The two commands of the README, and the benchmarks. Each target does its own set-up:
# a virtual environment at .venv, the Python packages, htmx from the npm registry and,
# for the tests, a Chromium for the browser tests.
#
#   make run     start the web app on http://127.0.0.1:8000 (make run PORT=8001: another port)
#   make test    run the whole test suite
#   make bench   seconds per training epoch against PyTorch
#   make bench-web  predictions per second against bare Flask, stroke-to-screen latency
#   make bench-explain  what explaining costs: attribution, a unit's sums, dreams; the server CPU
#                       the page's why panels and the explain API add; this machine's speed
#   make bench-overlay  pen-up → DOM in Chromium with the why panels on and off (no wrk)
#   make bench-pen-up  where a pen-up's time goes in Chromium: its phases, and with TRACE=file
#                      the browser's main-thread work per answer (SLOWER=N: N times slower)
#   make bench-retrain  seconds for a default admin retrain on MNIST + 10,000 samples
#   make bench-corrections  corrections from 40 writers teach a style: before/after, MNIST
#   make bench-vandals  500 wrong labels from 5 clients among 500 honest ones: the review queue's
#                       precision, and MNIST / honest accuracy after retrains (needs DIGITS_DATA_DIR)
#   make loadtest  100 people drawing for 60 s, then 50 drawing through a retrain and a promote;
#                  then a class: 40 students and the board, then the same through a teach run
#                  (locust, loopback; the retrain and the teach run need DIGITS_DATA_DIR)
#   make bench-teach  seconds for a class's "Teach it our handwriting", before/after
#   make bench-slow  200 connections dripping a byte a second: are others still answered?
#   make bench-handwriting  pen handwriting by 100 writers training never saw, per digit
#                     (MODEL= another model; needs DIGITS_DATA_DIR)
#   make bench-reading  ms per reading: canvas, photo, hostile images; a worker's memory under
#                       40 concurrent uploads of the costliest image still read
#   make bench-forms  the world's digit forms: before/after per form and digit, calibration
#                     (BEFORE= a copy of the previous model; needs DIGITS_DATA_DIR)

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test bench bench-web bench-explain bench-overlay bench-pen-up bench-retrain bench-corrections bench-vandals bench-forms bench-teach bench-handwriting loadtest bench-slow bench-reading setup setup-test browser clean translations

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install when the project's dependencies change.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

setup: $(VENV)/.installed node_modules/.installed

browser: $(VENV)/.installed
	@$(BIN)/python -m tests.browser_setup

# PORT=8001 picks another port (else digits serve's own default: $DIGITS_PORT, else 8000).
run: setup
	$(BIN)/digits serve $(if $(PORT),--port $(PORT))

test: setup browser
	$(BIN)/pytest

bench: setup
	$(BIN)/pip install --quiet -e '.[test,bench]'
	$(BIN)/python -m bench.training

bench-web: setup browser
	@command -v wrk >/dev/null || { echo "bench-web needs wrk (Debian: apt-get install wrk)"; exit 1; }
	$(BIN)/python -m bench.web

bench-explain: setup
	$(BIN)/python -m bench.explain

bench-overlay: setup browser
	$(BIN)/python -m bench.web --latency-only

bench-pen-up: setup browser
	$(BIN)/python -m bench.pen_up $(if $(SLOWER),--slower $(SLOWER)) $(if $(TRACE),--trace $(TRACE))

bench-retrain: setup
	$(BIN)/python -m bench.retrain

bench-corrections: setup
	$(BIN)/python -m bench.corrections

bench-vandals: setup
	$(BIN)/python -m bench.vandals --json /tmp/digits-vandals.json

loadtest: setup
	$(BIN)/pip install --quiet -e '.[test,load]'
	$(BIN)/python -m bench.load
	$(BIN)/python -m bench.load_class

bench-teach: setup
	$(BIN)/python -m bench.teach

bench-slow: setup
	$(BIN)/python -m bench.slow_clients

MODEL ?= model/pretrained.npz
bench-handwriting: setup
	$(BIN)/python -m bench.handwriting report --model $(MODEL) $(if $(BEFORE_HW),--before $(BEFORE_HW))

bench-reading: setup
	$(BIN)/python -m bench.reading_cost

BEFORE ?= /tmp/pretrained-before.npz
bench-forms: setup
	$(BIN)/python -m bench.forms report --before $(BEFORE) --svg docs/reliability.svg
	$(BIN)/python -m bench.forms loto --before $(BEFORE)

clean:
	rm -rf $(VENV) node_modules digits.egg-info

# After changing a user-visible string: extract every string, merge them into each catalogue
# (webapp/translations/<code>/LC_MESSAGES/messages.po), translate the new ones, then compile
# the .mo files the app reads (committed, so a clone runs without this step).
translations: setup
	$(BIN)/pybabel extract -F babel.cfg -k lazy_gettext -k _l --no-location \
	  --add-comments=Translators: -o webapp/translations/messages.pot .
	$(BIN)/pybabel update -i webapp/translations/messages.pot -d webapp/translations \
	  --ignore-obsolete --no-wrap --no-fuzzy-matching
	$(BIN)/pybabel compile --statistics -d webapp/translations
