# The two commands a new user needs: `make run` and `make test`.
# Needs Python 3.11+ with its venv module (Debian: apt-get install python3-venv) and make.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: run setup local-env test lint format clean bench bench-admin screenshots

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
# set by hand. git ignores it and the test suite never reads it. `local-env`
# below then keeps two lines of it current.
.env:
	@umask 077 && printf '%s\n' \
	  '# Local development settings, written once by `make run`. git ignores this file and the' \
	  '# tests never read it. Not for production: there, pass real environment variables (.env.example).' \
	  'DEBUG=true' \
	  "SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')" \
	  '# PUBLIC_BASE_URL is left to its local default, http://localhost:$$PORT, with the PORT line below' \
	  '# (rewritten by each `make run`, so `PORT=9000 make run` is remembered by later commands).' \
	  '# To take real Plivo calls through a tunnel, set it here:' \
	  '# PUBLIC_BASE_URL=https://your-tunnel.example.com' \
	  '# Events may go to a receiver on this machine (production allows public addresses only).' \
	  'EVENTS_ALLOWED_NETWORKS=127.0.0.0/8,::1/128' > $@
	@echo "Wrote .env (DEBUG=true, a generated SECRET_KEY) for local development."

# Run by every `make setup` and `make run`, after .env exists; leaves every other line (SECRET_KEY
# included) as it is. PORT: the port served, so that commands run later from another shell
# (simulate_call, play_call) build the server's URLs, not port 8000's. PLIVO_AUTH_TOKEN, only when
# the file has no such line: a local token that play_call signs its requests with and the local server
# checks them against (your real Plivo auth token replaces it to take real calls).
local-env: .env
	@grep -qx 'PORT=$(PORT)' .env || { umask 077 && grep -v '^PORT=' .env > .env.new; \
	  echo 'PORT=$(PORT)' >> .env.new && mv .env.new .env && echo "Recorded PORT=$(PORT) in .env."; }
	@grep -q '^PLIVO_AUTH_TOKEN=' .env || { umask 077 && \
	  echo '# A local token for play_call and the local server only; your Plivo auth token replaces it.' >> .env && \
	  echo "PLIVO_AUTH_TOKEN=local-$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(24))')" >> .env && \
	  echo "Wrote a local PLIVO_AUTH_TOKEN to .env (for manage.py play_call)."; }

# Everything `make run` does before serving: install, settings, the Procfile's release step
# (migrations), demo data and an admin user. System checks run once, when the server starts.
setup: export PORT := $(PORT)
setup: export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
setup: $(VENV)/.installed local-env
	$(VENV)/bin/honcho start --no-colour release
	$(PY) manage.py seed_demo --skip-checks
	$(PY) manage.py shell -c "from django.contrib.auth.models import User; \
	User.objects.filter(username='admin').exists() or User.objects.create_superuser('admin', '', 'admin')"

# The Procfile's web and worker, as in production. honcho gives each process a PORT of its own
# (web gets PORT); the public URL is set here so every process builds the web's URLs, unless
# .env names one (a tunnel), which honcho passes on instead.
run: export PORT := $(PORT)
run: export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
run: export PUBLIC_BASE_URL ?= http://localhost:$(PORT)
run: setup
	@echo ""
	@echo "  Admin: http://localhost:$(PORT)/admin/  (user admin, password admin: demo only, change it)"
	@echo "  Call simulator: http://localhost:$(PORT)/admin/call-simulator/?caller=14156667777&proxy_number=14155550100"
	@echo "  Play a call, from another shell: .venv/bin/python manage.py play_call --from 14156667777 --to 14155550100"
	@echo "  Commands: .venv/bin/python manage.py <command> (see README, Commands)"
	@echo ""
	@echo "  Processes (Procfile): web (gunicorn) and worker (events and tasks); Ctrl-C stops both."
	@echo ""
	$(VENV)/bin/honcho start --no-colour --port $(PORT) web worker

test: $(VENV)/.installed-dev
	$(PY) -m pytest $(PYTEST_ARGS)

# The benchmarks: the webhook (bench/run.py, needs wrk), event delivery (bench/events.py) and the lines
# migration (bench/migrate_lines.py), on the
# local Postgres; about fifteen minutes; they write bench/RESULTS.md. Not part of `make test`.
bench: $(VENV)/.installed-dev
	$(PY) -m bench.run
	$(PY) -m bench.events
	$(PY) -m bench.migrate_lines

# The admin pages at 300,000 and 1,000,000 orders (bench/admin_pages.py): needs
# the local Postgres, takes a few minutes, adds its section to bench/RESULTS.md.
bench-admin: $(VENV)/.installed-dev
	$(PY) -m bench.admin_pages

# Refreshes docs/dashboard.png, the picture of the dashboard in docs/operating.md, from the browser test.
screenshots: $(VENV)/.installed-dev
	UPDATE_DOCS=1 $(PY) -m pytest -q tests/system/test_dashboard_browser.py

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

# Leaves .env alone: it holds the local SECRET_KEY (delete it by hand to start over).
clean:
	rm -rf $(VENV) db.sqlite3 staticfiles
