# GridAtlas: `make run` serves the app on the embedded PostGIS with the demo district;
# `make test` runs every test (unit, PostGIS, browser). Both install what they need.

SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
# Debian's interpreter (python3-venv); any python3 >= 3.11 works.
PYTHON ?= $(shell command -v /usr/bin/python3 || command -v python3)
APT_PACKAGES := python3-venv postgresql-15-postgis-3 fonts-noto-cjk chromium poppler-utils redis-server
PYTEST_ARGS ?=

.PHONY: run test deps system-deps venv dev-venv db-up db-down clean-db lint help redis-up redis-down worker

help:
	@echo "make run   - the app at http://127.0.0.1:8050 (gunicorn) on the embedded PostGIS, demo loaded,"
	@echo "             the demo simulator and the minute tick beside it (DEMO_SIMULATOR=0: tick only)"
	@echo "make test  - lint, then the whole test suite (unit, PostGIS, browser)"
	@echo "make lint  - ruff with the project's configuration (ruff.toml)"
	@echo "make redis-up / redis-down - a local Redis for background jobs on Celery (prints REDIS_URL)"
	@echo "make worker - a Celery worker for the background jobs (needs REDIS_URL)"

# Debian packages: installed only when missing (root, or passwordless sudo).
system-deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then sudo=""; \
	  elif sudo -n true 2>/dev/null; then sudo="sudo -n"; \
	  else echo "GridAtlas needs these Debian packages:$$missing" >&2; \
	       echo "Install them as root: apt-get install$$missing" >&2; exit 1; fi; \
	  echo "installing Debian packages:$$missing"; \
	  $$sudo apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -q --no-install-recommends $$missing; \
	fi

$(VENV)/.runtime: requirements.txt | system-deps
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements.txt
	@touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@touch $@

venv: system-deps $(VENV)/.runtime
dev-venv: system-deps $(VENV)/.dev

run: venv
	$(PY) -m geo db up
	$(PY) -m geo demo load
	$(PY) -m geo users ensure-admin
	$(PY) -m geo users seed-demo
	@# the living demo and the minute tick run as their own process beside the web server
	@# (DEMO_SIMULATOR=0: the tick only); it ends with the server
	@# gunicorn: WORKERS processes x THREADS threads on HOST:PORT (gunicorn.conf.py, geo/serve.py);
	@# `python app.py` is the single-process development server
	@$(PY) -m geo demo simulate --background & sim=$$!; \
	trap 'kill $$sim 2>/dev/null; wait $$sim 2>/dev/null' EXIT INT TERM; \
	$(PY) -m gunicorn -c gunicorn.conf.py app:server

# Starts the embedded cluster if it was down and stops it afterwards, pass or fail.
test: lint
	@if [ -z "$$DATABASE_URL" ] && ! $(PY) -m geo db status >/dev/null 2>&1; then \
	  started=1; $(PY) -m geo db up >/dev/null || exit 1; else started=0; fi; \
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$started = 1 ]; then $(PY) -m geo db down >/dev/null; fi; \
	exit $$rc

# The project's own ruff configuration (ruff.toml), with the ruff pinned in requirements-dev.txt.
lint: dev-venv
	$(VENV)/bin/ruff check .

db-up: venv
	$(PY) -m geo db up
db-down: venv
	$(PY) -m geo db down

# Background jobs on Celery (REDIS_URL, docs/SCALING.md): Debian's redis-server on loopback,
# behind a generated password, its files in .cache/redis; `make worker` runs the jobs.
# The tests start their own Redis and worker (tests/celery_fixtures.py).
REDIS_DIR  := $(CURDIR)/.cache/redis
REDIS_PORT ?= 6379
redis-up: system-deps
	@mkdir -p $(REDIS_DIR) && chmod 700 $(REDIS_DIR)
	@test -s $(REDIS_DIR)/password || (umask 077; od -An -N16 -tx1 /dev/urandom | tr -d ' \n' > $(REDIS_DIR)/password)
	@umask 077; printf 'port %s\nbind 127.0.0.1\nprotected-mode yes\ndir %s\nrequirepass %s\nsave ""\nappendonly no\ndaemonize yes\npidfile %s/redis.pid\nlogfile %s/redis.log\n' \
	  $(REDIS_PORT) $(REDIS_DIR) "$$(cat $(REDIS_DIR)/password)" $(REDIS_DIR) $(REDIS_DIR) > $(REDIS_DIR)/redis.conf
	@if [ -f $(REDIS_DIR)/redis.pid ] && kill -0 $$(cat $(REDIS_DIR)/redis.pid) 2>/dev/null; then \
	  echo "Redis is already up"; else redis-server $(REDIS_DIR)/redis.conf; fi
	@umask 077; echo "redis://:$$(cat $(REDIS_DIR)/password)@127.0.0.1:$(REDIS_PORT)/0" > $(REDIS_DIR)/url
	@echo "Redis up on 127.0.0.1:$(REDIS_PORT); for the app and the worker: export REDIS_URL=\$$(cat $(REDIS_DIR)/url)"
redis-down:
	@if [ -f $(REDIS_DIR)/redis.pid ] && kill -0 $$(cat $(REDIS_DIR)/redis.pid) 2>/dev/null; then \
	  kill $$(cat $(REDIS_DIR)/redis.pid) && echo "Redis stopped"; else echo "Redis is not running"; fi
worker: venv
	$(PY) -m geo worker
