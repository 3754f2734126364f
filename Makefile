# MusiScene Studio: the few commands people run. See README.md and docs/ (make docs-serve).
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
# The CPU build of torch; GPU users install their CUDA torch into .venv first and it is kept.
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
STAMP := $(VENV)/.installed

.PHONY: demo test install env lint migrate worker clean docs docs-serve screenshots messages

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed (set PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --upgrade pip >/dev/null
	@if $(PY) -c "import torch" 2>/dev/null; then \
		echo "keeping the installed torch $$($(PY) -c 'import torch; print(torch.__version__)')"; \
	else \
		$(PY) -m pip install $(TORCH_PIP_ARGS) "$(TORCH_SPEC)"; \
	fi
	$(PY) -m pip install -e ".[dev,docs]"
	touch $(STAMP)

install: $(STAMP)

## make env: write a local .env (DEBUG=1, a generated SECRET_KEY) unless there is one; settings read it
env: install
	$(PY) -m studyserver.dotenv .env

migrate: env
	$(PY) manage.py migrate --noinput

## make demo: set up, seed the demo study and serve it on 127.0.0.1:$(PORT) (runs until Ctrl-C)
demo: migrate
	PORT=$(PORT) $(PY) manage.py demo --port $(PORT)

## make test: set up and run the whole suite (DATABASE_URL chooses SQLite or PostgreSQL)
test: install
	$(PY) -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

## make worker: a Celery worker (needs CELERY_BROKER_URL)
worker: install
	$(VENV)/bin/celery -A studyserver worker -Q default,gpu -l info

## make docs: build the documentation site into site/ (strict: a broken link fails)
docs: install
	DISABLE_MKDOCS_2_WARNING=true NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

## make docs-serve: the documentation with live reload on 127.0.0.1:8001
docs-serve: install
	DISABLE_MKDOCS_2_WARNING=true NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs serve -a 127.0.0.1:8001

## make screenshots: photograph the trial page and the report of the demo into docs/images (Chromium)
screenshots: install
	MUSISCENE_SCREENSHOTS=1 $(PY) -m pytest tests/browser/test_screenshots.py -q -n 0

## make messages: update the participant pages' catalogs (locale/) from the sources, then compile them (GNU gettext)
MESSAGE_LANGS ?= de es fr zh_Hans ar
messages: install
	MUSISCENE_NO_DOTENV=1 DEBUG=1 $(PY) manage.py makemessages $(foreach l,$(MESSAGE_LANGS),-l $(l)) \
		--no-obsolete --no-location --ignore='.venv/*' --ignore='var/*' --ignore='site/*' \
		--ignore='generation/*' --ignore='analysis/*' --ignore='modeling/*' --ignore='studyserver/*' \
		--ignore='tests/*' --ignore='docs/*' --ignore='benchmarks/*' --ignore='deploy/*' \
		--ignore='templates/admin/*'
	MUSISCENE_NO_DOTENV=1 DEBUG=1 $(PY) manage.py compilemessages --ignore='.venv/*'

## make clean: DELETES var/ (the SQLite database, all media, the demo's admin password) and caches
clean:
	@echo "deleting var/ (database, media), site/ and the caches"
	rm -rf var/ site/ .pytest_cache .ruff_cache
