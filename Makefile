# The two commands a new user needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000

# The demo runs on the embedded SQLite database with DEBUG on unless told otherwise.
run: export DEBUG ?= true

.PHONY: run test lint format clean bench bench-admin

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.installed
	$(PY) manage.py migrate --no-input
	$(PY) manage.py seed_demo
	$(PY) manage.py shell -c "from django.contrib.auth.models import User; \
	User.objects.filter(username='admin').exists() or User.objects.create_superuser('admin', '', 'admin')"
	@echo ""
	@echo "  Admin: http://localhost:$(PORT)/admin/  (user admin, password admin: demo only, change it)"
	@echo "  Call simulator: http://localhost:$(PORT)/admin/call-simulator/?caller=14156667777&proxy_number=14155550100"
	@echo ""
	@echo "  Events: a worker (manage.py db_worker) runs beside the server and stops with it."
	@echo ""
	$(PY) manage.py db_worker --no-reload --no-startup-delay & worker=$$!; \
	trap 'kill $$worker 2>/dev/null' EXIT INT TERM; \
	$(PY) manage.py runserver 0.0.0.0:$(PORT)

test: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

# The webhook benchmark (bench/run.py): needs the local Postgres and wrk, takes
# about ten minutes, writes bench/RESULTS.md. Not part of `make test`.
bench: $(VENV)/.installed
	$(PY) -m bench.run

# The admin pages at 300,000 and 1,000,000 orders (bench/admin_pages.py): needs
# the local Postgres, takes a few minutes, adds its section to bench/RESULTS.md.
bench-admin: $(VENV)/.installed
	$(PY) -m bench.admin_pages

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles
