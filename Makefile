# The two commands a new user needs: `make run` and `make test`.
# Needs Python 3.11+ with its venv module (Debian: apt-get install python3-venv) and make.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: run setup test lint format clean bench bench-admin screenshots

# What the service itself needs: enough for `make run`.
$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

# The test and lint toolchain on top, for `make test`, `make lint` and `make bench`.
$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# Written once, never overwritten: local development settings, so that
# `.venv/bin/python manage.py <command>` works after `make run` with nothing
# set by hand. git ignores it and the test suite never reads it.
.env:
	@umask 077 && printf '%s\n' \
	  '# Local development settings, written once by `make run`. git ignores this file and the' \
	  '# tests never read it. Not for production: there, pass real environment variables (.env.example).' \
	  'DEBUG=true' \
	  "SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')" \
	  '# PUBLIC_BASE_URL is left to its local default, http://localhost:$$PORT (PORT defaults to 8000),' \
	  '# so it follows `PORT=9000 make run`. To take real Plivo calls through a tunnel, set it here:' \
	  '# PUBLIC_BASE_URL=https://your-tunnel.example.com' > $@
	@echo "Wrote .env (DEBUG=true, a generated SECRET_KEY) for local development."

# Everything `make run` does before serving: install, settings, database, demo data, admin user.
# System checks run once, when the server starts, so each warning prints once.
setup: export PORT := $(PORT)
setup: $(VENV)/.installed .env
	$(PY) manage.py migrate --no-input --skip-checks
	$(PY) manage.py seed_demo --skip-checks
	$(PY) manage.py shell -c "from django.contrib.auth.models import User; \
	User.objects.filter(username='admin').exists() or User.objects.create_superuser('admin', '', 'admin')"

run: export PORT := $(PORT)
run: setup
	@echo ""
	@echo "  Admin: http://localhost:$(PORT)/admin/  (user admin, password admin: demo only, change it)"
	@echo "  Call simulator: http://localhost:$(PORT)/admin/call-simulator/?caller=14156667777&proxy_number=14155550100"
	@echo "  Commands: .venv/bin/python manage.py <command> (see README, Commands)"
	@echo ""
	@echo "  Events: a worker (manage.py db_worker) runs beside the server and stops with it."
	@echo ""
	$(PY) manage.py db_worker --no-reload --no-startup-delay --skip-checks & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(PY) manage.py runserver 0.0.0.0:$(PORT)

test: $(VENV)/.installed-dev
	$(PY) -m pytest $(PYTEST_ARGS)

# The webhook benchmark (bench/run.py): needs the local Postgres and wrk, takes
# about ten minutes, writes bench/RESULTS.md. Not part of `make test`.
bench: $(VENV)/.installed-dev
	$(PY) -m bench.run

# The admin pages at 300,000 and 1,000,000 orders (bench/admin_pages.py): needs
# the local Postgres, takes a few minutes, adds its section to bench/RESULTS.md.
bench-admin: $(VENV)/.installed-dev
	$(PY) -m bench.admin_pages

# Refreshes docs/dashboard.png, the README's picture of the dashboard, from the browser test.
screenshots: $(VENV)/.installed-dev
	UPDATE_DOCS=1 $(PY) -m pytest -q tests/test_dashboard_browser.py

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Leaves .env alone: it holds the local SECRET_KEY (delete it by hand to start over).
clean:
	rm -rf $(VENV) db.sqlite3 staticfiles
