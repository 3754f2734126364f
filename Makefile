# MusiScene Studio: the few commands people run. See README.md.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000
# The CPU build of torch; GPU users install their CUDA torch into .venv first and it is kept.
TORCH_SPEC ?= torch==2.13.0
TORCH_PIP_ARGS ?=
STAMP := $(VENV)/.installed

.PHONY: demo test install lint migrate worker clean

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
	$(PY) -m pip install -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

migrate: install
	DEBUG=1 $(PY) manage.py migrate --noinput

## make demo: set up, seed the demo study and serve it on 127.0.0.1:$(PORT)
demo: migrate
	DEBUG=1 PORT=$(PORT) $(PY) manage.py demo --port $(PORT)

## make test: set up and run the whole suite (DATABASE_URL chooses SQLite or PostgreSQL)
test: install
	$(PY) -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

## make worker: a Celery worker (needs CELERY_BROKER_URL)
worker: install
	$(VENV)/bin/celery -A studyserver worker -Q default,gpu -l info

clean:
	rm -rf var/ .pytest_cache .ruff_cache
