"""Settings, read only from the environment (see .env.example and docs/deploying.md, "Settings reference")."""

from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

import numbermasking

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A local .env (written by `make run`, git-ignored) is a convenience for
# development; real deployments pass the environment directly. Variables
# already in the environment win. ENV_FILE names another file, or none when
# empty: the test suite sets it empty so a developer's .env cannot change what
# it checks.
ENV_FILE = env.str("ENV_FILE", default=str(BASE_DIR / ".env"))
if ENV_FILE:
    environ.Env.read_env(ENV_FILE)

DEBUG = env.bool("DEBUG", default=False)
# Without DEBUG the key must come from the environment; a missing or empty key
# (.env.example ships "SECRET_KEY=") is an ImproperlyConfigured error at
# start-up, not a silently shared default.
SECRET_KEY = env.str("SECRET_KEY", default="") or ("insecure-development-key" if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is not set. It is required whenever DEBUG is off: set it to a long random string, e.g. "
        "the output of: python3 -c 'import secrets; print(secrets.token_urlsafe(50))' "
        "(for a local run, `make run` writes a .env with DEBUG=true and a generated key)."
    )

# The port `make run` serves on; the local default public URL follows it, so
# the XML's action URLs and the signature check name the port actually served.
PORT = env.int("PORT", default=8000)
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default=f"http://localhost:{PORT}").rstrip("/")
_public = urlsplit(PUBLIC_BASE_URL)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
if _public.hostname and _public.hostname not in ALLOWED_HOSTS:
    ALLOWED_HOSTS.append(_public.hostname)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "phonenumber_field",
    "rest_framework",
    "orders.apps.ApiKeysConfig",  # rest_framework_api_key, under an admin heading staff recognise
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_tasks",
    "django_tasks_db",
    "orders",
    "voice",
]

MIDDLEWARE = [
    # Outermost: every error under /api/ leaves in the API's JSON shape.
    "orders.api.errors.JsonErrorsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Right after security: static files are answered before sessions and auth run.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "numbermasking.middleware.RefuseNulInAdminQueryMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "numbermasking.urls"
WSGI_APPLICATION = "numbermasking.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# Webhooks must not hold a transaction open for the whole request: each write
# commits on its own, which keeps the answer path to one lookup and one insert.
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

# Every database wait on the request path is bounded, so a stalled database
# costs a caller a few seconds and the apology, not silence until Plivo gives
# up (about 15 s) or gunicorn kills the worker (30 s). Connecting is bounded
# everywhere; statement and lock waits only in the web process
# (numbermasking.wsgi), because migrations and purge_personal_data may
# rightly run longer. Seconds; 0 turns a limit off.
DATABASE_CONNECT_TIMEOUT = env.int("DATABASE_CONNECT_TIMEOUT", default=3)
DATABASE_STATEMENT_TIMEOUT = env.float("DATABASE_STATEMENT_TIMEOUT", default=3.0)
_database = DATABASES["default"]
# On SQLite every writer queues for the one write lock, so under a burst of
# writes the wait is a queue, not a stall: the web's default there is longer,
# still within Plivo's patience.
_sqlite = _database["ENGINE"] == "django.db.backends.sqlite3"
DATABASE_LOCK_TIMEOUT = env.float("DATABASE_LOCK_TIMEOUT", default=10.0 if _sqlite else 2.0)
_options = _database.setdefault("OPTIONS", {})
if _database["ENGINE"] == "django.db.backends.postgresql":
    if DATABASE_CONNECT_TIMEOUT:
        # libpq's limit covers the whole handshake, so a server that accepts the
        # connection and then never answers is bounded too.
        _options.setdefault("connect_timeout", DATABASE_CONNECT_TIMEOUT)
    if numbermasking.serving_requests:
        # Sent with the connection's startup packet: no query, no round trip.
        limits = f"-c statement_timeout={int(DATABASE_STATEMENT_TIMEOUT * 1000)} "
        limits += f"-c lock_timeout={int(DATABASE_LOCK_TIMEOUT * 1000)}"
        _options["options"] = f"{_options['options']} {limits}" if _options.get("options") else limits
elif _sqlite:
    # The embedded default under several concurrent clients (Django 5.1+). With
    # SQLite's defaults, a deferred transaction that turns into a writer while
    # another writes gets "database is locked" at once, without waiting: three
    # API clients assigning orders saw most of their requests answered 503.
    # WAL lets readers and one writer go on together; synchronous=NORMAL is
    # safe under WAL (a power cut may lose the last commits, never corrupt);
    # IMMEDIATE takes the write lock when a transaction starts, where the busy
    # timeout makes it wait its turn instead of failing.
    _options.setdefault("init_command", "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
    _options.setdefault("transaction_mode", "IMMEDIATE")
    # SQLite's only wait is for another writer's lock: a web request waits as
    # long as DATABASE_LOCK_TIMEOUT lets it (0: as long as a command), commands
    # and the worker up to 20 s (SQLite's default is 5 s).
    _options.setdefault(
        "timeout", DATABASE_LOCK_TIMEOUT if numbermasking.serving_requests and DATABASE_LOCK_TIMEOUT else 20.0
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
# The zone the admin shows times in; stored times, logs and the API stay in UTC.
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
# Admin times name their zone ("4:46 a.m. UTC"): numbermasking/formats.
FORMAT_MODULE_PATH = ["numbermasking.formats"]
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# whitenoise serves the admin's files from gunicorn: hashed names cached forever,
# compressed once at collectstatic time (the image runs it at build).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# HTTPS hardening follows from the public URL, never from DEBUG: a plain-http
# local run must not redirect Plivo's webhooks to a scheme nobody serves.
if _public.scheme == "https":
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    # The load balancer probes over plain http inside the private network.
    # Prometheus scrapes each web host directly too (docs/operating.md, "Metrics").
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    CSRF_TRUSTED_ORIGINS = [f"{_public.scheme}://{_public.netloc}"]

# Plivo
PLIVO_AUTH_ID = env.str("PLIVO_AUTH_ID", default="")
PLIVO_AUTH_TOKEN = env.str("PLIVO_AUTH_TOKEN", default="")
PLIVO_VALIDATE_SIGNATURES = env.bool("PLIVO_VALIDATE_SIGNATURES", default=True)
# Plivo documents V2 signatures (URL and nonce, not the body) on SMS callbacks;
# off, /voice/message/ accepts V3 only, like every other webhook.
PLIVO_ACCEPT_V2 = env.bool("PLIVO_ACCEPT_V2", default=True)
# Host of Plivo's REST API for the account commands; a regional endpoint or a local fake.
PLIVO_API_URL = env.str("PLIVO_API_URL", default="https://api.plivo.com").rstrip("/")
# Seconds to connect to Plivo's REST API, and to wait for its answer (docs/plivo.md, "REST API").
# Only the background worker and the commands talk to it, never a web request.
PLIVO_CONNECT_TIMEOUT = env.float("PLIVO_CONNECT_TIMEOUT", default=3.0)
PLIVO_READ_TIMEOUT = env.float("PLIVO_READ_TIMEOUT", default=10.0)

# Masking rules
MASKING_DEFAULT_REGION = env.str("MASKING_DEFAULT_REGION", default="US").upper()
MASKING_SESSION_TTL = env.int("MASKING_SESSION_TTL", default=24 * 3600)
MASKING_GRACE_PERIOD = env.int("MASKING_GRACE_PERIOD", default=60 * 60)
MASKING_CALL_TIME_LIMIT = env.int("MASKING_CALL_TIME_LIMIT", default=3600)
MASKING_RING_TIMEOUT = env.int("MASKING_RING_TIMEOUT", default=30)
MASKING_PIN_LENGTH = env.int("MASKING_PIN_LENGTH", default=4)
# Store lines (docs/architecture.md, "Lines"): a customer–store line beside the store–agent
# line, and whether marking an order picked up closes its store lines.
MASKING_CUSTOMER_STORE_LINE = env.bool("MASKING_CUSTOMER_STORE_LINE", default=False)
MASKING_CLOSE_STORE_LINE_ON_PICKUP = env.bool("MASKING_CLOSE_STORE_LINE_ON_PICKUP", default=False)
MASKING_UNKNOWN_CALLER_MESSAGE = env.str(
    "MASKING_UNKNOWN_CALLER_MESSAGE",
    default="Sorry, we could not find an active delivery for this number. Goodbye.",
)
MASKING_SUPPORT_NUMBER = env.str("MASKING_SUPPORT_NUMBER", default="")
# The countries whose phones a party may have (docs/security.md, "Callable numbers"), as
# ISO regions; empty: the countries of the active proxy numbers
# (orders.pool.party_countries). A system check refuses an unknown region.
MASKING_PARTY_COUNTRIES = [
    code.strip().upper() for code in env.list("MASKING_PARTY_COUNTRIES", default=[]) if code.strip()
]
# Abuse controls (docs/security.md, "Abuse controls"): calls a party may make through one
# order's line in an hour (0: no limit), and what the caller over it hears.
MASKING_MAX_CALLS_PER_HOUR = env.int("MASKING_MAX_CALLS_PER_HOUR", default=20)
MASKING_CALL_LIMIT_MESSAGE = env.str(
    "MASKING_CALL_LIMIT_MESSAGE",
    default="You have reached the limit of calls on this line for now. Please try again later. Goodbye.",
)

# What callers and callees hear (docs/plivo.md, "What callers hear"). Every text is a
# setting; a system check (voice.E003) refuses one that holds a phone number.
MASKING_SPEAK_LANGUAGE = env.str("MASKING_SPEAK_LANGUAGE", default="en-US")
MASKING_SPEAK_VOICE = env.str("MASKING_SPEAK_VOICE", default="WOMAN")
MASKING_APOLOGY_MESSAGE = env.str(
    "MASKING_APOLOGY_MESSAGE",
    default="Sorry, we cannot connect your call right now. Please try again in a few minutes. Goodbye.",
)
MASKING_PIN_PROMPT = env.str(
    "MASKING_PIN_PROMPT", default="You have more than one delivery on this number. Please enter your order code."
)
MASKING_PIN_RETRY = env.str(
    "MASKING_PIN_RETRY", default="That code was not recognised. Please enter your order code again."
)
MASKING_PIN_GOODBYE = env.str("MASKING_PIN_GOODBYE", default="Sorry, that code is not valid. Goodbye.")
MASKING_NO_INPUT_GOODBYE = env.str("MASKING_NO_INPUT_GOODBYE", default="We did not receive a code. Goodbye.")
# The callee hears who is calling about which order before being connected.
MASKING_WHISPER = env.bool("MASKING_WHISPER", default=True)
# {caller} is "customer" or "delivery agent", {reference} the order reference spelled out.
MASKING_WHISPER_TEXT = env.str("MASKING_WHISPER_TEXT", default="Call from your {caller} about order {reference}.")
# Click-to-call: what the party rung first hears before the other is dialled
# ({callee} as {caller} above), and how many calls one order may start per minute (0: no limit).
MASKING_BRIDGE_TEXT = env.str("MASKING_BRIDGE_TEXT", default="Connecting you to your {callee} for order {reference}.")
MASKING_CLICK_TO_CALL_PER_MINUTE = env.int("MASKING_CLICK_TO_CALL_PER_MINUTE", default=3)
# Click-to-calls the whole service may request in an hour, whatever the order (0: no budget).
MASKING_CLICK_TO_CALL_PER_HOUR = env.int("MASKING_CLICK_TO_CALL_PER_HOUR", default=200)
# The key the callee presses to be connected, so a voicemail box is never bridged; empty: no key.
MASKING_ACCEPT_KEY = env.str("MASKING_ACCEPT_KEY", default="1")
MASKING_ACCEPT_PROMPT = env.str("MASKING_ACCEPT_PROMPT", default="Press {key} to accept.")
# Seconds the callee has to press the key, counted from their answer (Plivo's default is 120).
MASKING_ACCEPT_TIMEOUT = env.int("MASKING_ACCEPT_TIMEOUT", default=20)
# A missed call (no answer, busy, failed, or the key not pressed): the caller
# hears this, or with MASKING_VOICEMAIL the voicemail prompt and can leave a message.
MASKING_NOT_AVAILABLE_MESSAGE = env.str(
    "MASKING_NOT_AVAILABLE_MESSAGE",
    default="The person you are calling is not available right now. Please try again later. Goodbye.",
)
MASKING_VOICEMAIL = env.bool("MASKING_VOICEMAIL", default=True)
MASKING_VOICEMAIL_MAX_SECONDS = env.int("MASKING_VOICEMAIL_MAX_SECONDS", default=60)
MASKING_VOICEMAIL_PROMPT = env.str(
    "MASKING_VOICEMAIL_PROMPT",
    default="The person you are calling is not available right now. "
    "Please leave a message after the tone, and press the hash key when you are done.",
)
MASKING_VOICEMAIL_THANKS = env.str(
    "MASKING_VOICEMAIL_THANKS", default="Thank you, your message will be passed on. Goodbye."
)
# The callee gets a text from the proxy number; {proxy_number} is the only number it may hold.
# Recording with consent: both parties hear the notice (the callee in the
# whisper), and only the bridged conversation is recorded.
MASKING_RECORD_CALLS = env.bool("MASKING_RECORD_CALLS", default=False)
MASKING_RECORDING_NOTICE = env.str(
    "MASKING_RECORDING_NOTICE", default="This call may be recorded for quality and safety."
)
# Days recordings and voicemails are kept at Plivo; purge_personal_data queues
# their deletion (voice/tasks.py), and at once for the orders it purges.
MASKING_RECORDING_RETENTION_DAYS = env.int("MASKING_RECORDING_RETENTION_DAYS", default=30)
MASKING_MISSED_CALL_SMS = env.bool("MASKING_MISSED_CALL_SMS", default=True)
MASKING_MISSED_CALL_SMS_TEXT = env.str(
    "MASKING_MISSED_CALL_SMS_TEXT",
    default="Missed call from your {caller} about order {reference}. Call back on {proxy_number}.",
)

# HTTP API for the dispatch system (orders/api/). Throttling counts requests
# per API key in the cache, so several gunicorn workers or hosts need a shared
# cache (CACHE_URL, e.g. dbcache://api_cache) for the rate to hold overall.
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}
# The throttle counts with cache.incr, which Django's database cache does not
# make atomic; this subclass does (numbermasking/cache.py).
if CACHES["default"]["BACKEND"] == "django.core.cache.backends.db.DatabaseCache":
    CACHES["default"]["BACKEND"] = "numbermasking.cache.AtomicDatabaseCache"
API_THROTTLE_RATE = env.str("API_THROTTLE_RATE", default="1200/min")
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["orders.api.keys.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["orders.api.keys.HasApiKey"],
    "DEFAULT_THROTTLE_CLASSES": ["orders.api.keys.ApiKeyRateThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["orders.api.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "orders.api.errors.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Number masking API",
    "DESCRIPTION": "Open and close masked phone lines for delivery orders. "
    "Send `Authorization: Api-Key <key>` (create one with `manage.py create_api_key NAME`).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Our users may run offline: Swagger UI comes from drf-spectacular-sidecar's static files, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One name for the event types, whether a field holds one of them or a list.
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "orders.models.Order.Status",
        "EventTypeEnum": "orders.models.EventType",
        # Click-to-call's "from" and "to", and a line's parties: one set of roles.
        "PartyEnum": ["customer", "agent", "store"],
    },
}

# Events to the platform (orders/events/). One-off tasks (line expiry,
# click-to-call, recording deletion) go through Django's Tasks API; the
# database backend needs no other service and makes a task part of the
# change's transaction. The worker (`manage.py worker`) runs them and sends
# event deliveries. See docs/events.md.
TASKS = {"default": {"BACKEND": env.str("TASKS_BACKEND", default="django_tasks_db.DatabaseBackend")}}
# Seconds of wall clock an attempt may take, however the receiver trickles
# (Standard Webhooks asks for 15 to 30).
EVENTS_DELIVERY_TIMEOUT = env.float("EVENTS_DELIVERY_TIMEOUT", default=15)
# Seconds before each retry: the Standard Webhooks schedule (5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h).
EVENTS_RETRY_SCHEDULE = [
    int(seconds) for seconds in env.list("EVENTS_RETRY_SCHEDULE", default=[5, 300, 1800, 7200, 18000, 36000, 36000])
]
# A receiver's Retry-After (on 429, 502, 503, 504) is honoured up to this many seconds.
EVENTS_RETRY_AFTER_MAX = env.int("EVENTS_RETRY_AFTER_MAX", default=36000)
# Seconds an endpoint may fail every attempt before it is disabled (5 days).
EVENTS_DISABLE_AFTER = env.int("EVENTS_DISABLE_AFTER", default=5 * 24 * 3600)
# Networks (CIDRs) events may be delivered to although they are not public:
# loopback, private, link-local and the like are refused otherwise.
EVENTS_ALLOWED_NETWORKS = env.list("EVENTS_ALLOWED_NETWORKS", default=[])
# Endpoints one worker sends to at once: a slow endpoint holds one of these, not the others.
EVENTS_DELIVERY_CONCURRENCY = env.int("EVENTS_DELIVERY_CONCURRENCY", default=8)
EVENTS_SWEEP_INTERVAL = env.int("EVENTS_SWEEP_INTERVAL", default=30)
# A task shown running this long (seconds) lost its worker; the sweep runs it again.
EVENTS_ORPHAN_AFTER = env.int("EVENTS_ORPHAN_AFTER", default=60)
EVENTS_RETENTION_DAYS = env.int("EVENTS_RETENTION_DAYS", default=30)
# The worker runs purge_personal_data every day at this time (HH:MM in
# TIME_ZONE), so no cron is needed; empty: never (run the command yourself).
MASKING_PURGE_AT = env.str("MASKING_PURGE_AT", default="03:30")

# /metrics (numbermasking/metrics.py) answers only a bearer of this token; empty, it does not exist.
# prometheus-client reads PROMETHEUS_MULTIPROC_DIR from the environment itself.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")

PHONENUMBER_DEFAULT_REGION = MASKING_DEFAULT_REGION
PHONENUMBER_DB_FORMAT = "E164"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # SafeFormatter hides phone numbers that reach a log line in text the code
    # does not control (a database error's detail) and keeps a message on one line.
    "formatters": {
        "plain": {
            "()": "numbermasking.logsafe.SafeFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    # Django's default config gives the "django" logger a console handler of
    # its own and lets it propagate to ours, so every django.request line
    # printed twice. Only the root handler prints now.
    "loggers": {"django": {"handlers": [], "propagate": True}},
}
