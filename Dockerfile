# The web image: gunicorn serving Django, the admin's static files from whitenoise.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PORT=8000

WORKDIR /app

# Dependencies first, so a code change does not reinstall them.
COPY requirements.txt .
RUN pip install -r requirements.txt

COPY . .

# collectstatic only reads settings; these throwaway values exist for the build
# step alone (the real ones come from the environment at run time).
RUN DEBUG=false SECRET_KEY=collectstatic-only DATABASE_URL=sqlite:////tmp/build.sqlite3 \
    python manage.py collectstatic --no-input \
    && useradd --system --no-create-home app

USER app
EXPOSE 8000

# The Procfile's web. Settings (the port from PORT, workers, threads, timeouts) come from
# gunicorn.conf.py and the environment.
CMD ["gunicorn", "numbermasking.wsgi"]
