"""Settings of the demo project that hosts ``clicktoagent``.

Everything that differs between machines comes from the environment (or a ``.env``
file beside ``manage.py``) through django-environ; see ``.env.example``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured

from clicktoagent import taskcompat

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DJANGO_DEBUG", default=False)
# The fallback is for local development only: `manage.py check --deploy` flags it.
SECRET_KEY = env.str(
    "DJANGO_SECRET_KEY", default="django-insecure-local-development-key-set-DJANGO_SECRET_KEY"
)
ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])

# One switch for a deployment behind a TLS-terminating proxy (README: "Deploying behind
# TLS"). Off by default so that local runs over plain http keep working.
HTTPS = env.bool("DJANGO_HTTPS", default=False)
if HTTPS:
    # The proxy must set this header itself (and drop any the client sent).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# Error pages and reports also hide connection URLs with passwords (DATABASE_URL...).
DEFAULT_EXCEPTION_REPORTER_FILTER = "config.reporting.ExceptionReporterFilter"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    *taskcompat.APPS,
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "clicktoagent",
    "config.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
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

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
# Persistent connections: web processes and workers (which run every job in one process,
# clicktoagent.dispatch.workers) keep a connection this many seconds (0: one per request or
# job; "none": forever), and check a kept one is alive before reusing it.
_conn_max_age = env.str("DATABASE_CONN_MAX_AGE", default="60").strip()
DATABASES["default"]["CONN_MAX_AGE"] = (
    None if _conn_max_age.lower() == "none" else int(_conn_max_age)
)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("DATABASE_CONN_HEALTH_CHECKS", default=True)
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # SQLite: take the write lock when a transaction starts, so that the daily cap's count
    # and the new attempt are one unit (clicktoagent/policy/locks.py) and concurrent
    # requests wait for each other instead of failing with "database is locked".
    DATABASES["default"].setdefault("OPTIONS", {}).setdefault("transaction_mode", "IMMEDIATE")
elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql" and env.bool(
    "DATABASE_PREPARED_STATEMENTS", default=True
):
    # PostgreSQL (psycopg 3): parameters bound by the server instead of merged into the
    # SQL in Python, and a statement run twice on a connection prepared (parsed and
    # planned once). Off (false) behind a pooler in transaction mode that cannot keep
    # prepared statements (PgBouncer without max_prepared_statements).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=True, prepare_threshold=2
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "static"
LOGIN_URL = "admin:login"

# Django's Tasks framework: "immediate" places the call inside the request; "rq" queues
# it on Redis for `make worker` processes (see docs/scale.md).
TASKS_BACKEND = env.str("TASKS_BACKEND", default="immediate")
REDIS_URL = env.str("REDIS_URL", default="")
TASKS: dict[str, dict[str, Any]]
if TASKS_BACKEND == "immediate":
    TASKS = {
        "default": {"BACKEND": taskcompat.IMMEDIATE_BACKEND},
    }
elif TASKS_BACKEND == "rq":
    import redis  # the rq extra

    INSTALLED_APPS.append("django_rq")
    TASKS = {"default": {"BACKEND": taskcompat.RQ_BACKEND, "QUEUES": ["default"]}}
    # One connection pool per process: given a URL, django-rq makes a new client, and so
    # a new connection, for every task it queues. HOST and PORT are required by
    # django-rq and ignored by redis-py when a pool is given; the pool has the URL.
    RQ_QUEUES = {
        "default": {
            "HOST": "",
            "PORT": 0,
            "REDIS_CLIENT_KWARGS": {
                "connection_pool": redis.ConnectionPool.from_url(
                    REDIS_URL or "redis://127.0.0.1:6379/0"
                )
            },
            # Seconds a job may run before RQ kills it (one call takes at most the
            # total timeout, DIALOGTECH_TOTAL_TIMEOUT).
            "DEFAULT_TIMEOUT": env.int("RQ_JOB_TIMEOUT", default=180),
        },
    }
    # Workers must run jobs with django-tasks-rq's job class (it calls the Task).
    RQ = {
        "JOB_CLASS": taskcompat.RQ_JOB_CLASS,
        "WORKER_CLASS": "clicktoagent.dispatch.workers.Worker",
        # Asks Redis for its version once per process, not once per task queued.
        "QUEUE_CLASS": "clicktoagent.dispatch.workers.Queue",
    }
else:
    raise ImproperlyConfigured(f"TASKS_BACKEND must be 'immediate' or 'rq', got {TASKS_BACKEND!r}.")

# Calls wait for `make dispatcher` processes on a Redis list of their own instead of as
# RQ jobs (docs/scale.md): "redis" (REDIS_URL's Redis) or a redis:// URL; empty: a task
# per call on TASKS_BACKEND. Other tasks (callbacks, CRM write-backs) stay on TASKS_BACKEND.
_dispatch_queue = env.str("CLICKTOAGENT_DISPATCH_QUEUE", default="").strip()
if _dispatch_queue.lower() == "redis":
    _dispatch_queue = REDIS_URL or "redis://127.0.0.1:6379/0"
elif _dispatch_queue and not _dispatch_queue.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured(
        "CLICKTOAGENT_DISPATCH_QUEUE must be empty, 'redis' (REDIS_URL's Redis) or a "
        f"redis:// URL, got {_dispatch_queue[:20]!r}."
    )

# Shared state of the workers (circuit breaker, request cap, throttle counts). Without
# REDIS_URL the cache is local to each process, so each process has its own breaker and
# cap; throttle counts are then kept in the database, shared all the same.
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# OpenAPI schema of the clicktoagent REST API (`manage.py spectacular`, /clicktoagent/api/schema/).
SPECTACULAR_SETTINGS = {
    "TITLE": "django-clicktoagent API",
    "DESCRIPTION": "Place DialogTech Click-to-Agent calls; manage agents and queues.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "PREPROCESSING_HOOKS": ["clicktoagent.api.schema.only_clicktoagent_api"],
}

_create_rate = env.str("CLICKTOAGENT_API_CREATE_THROTTLE_RATE", default="60/minute")
# Safe-calling rules (docs/safe-calling.md), comma-separated; "none": no rules. Unset: all.
_safe_calling = env.str("CLICKTOAGENT_SAFE_CALLING_RULES", default="").strip()
# Region entries over the shipped rules data, as a JSON object (docs/safe-calling.md).
_safe_calling_regions = env.str("CLICKTOAGENT_SAFE_CALLING_REGIONS_JSON", default="").strip()
try:
    _regions = json.loads(_safe_calling_regions) if _safe_calling_regions else {}
except ValueError as err:
    raise ImproperlyConfigured(
        f"CLICKTOAGENT_SAFE_CALLING_REGIONS_JSON is not valid JSON: {err}"
    ) from None
CLICKTOAGENT = {
    "BASE_URL": env.str("DIALOGTECH_BASE_URL", default="https://secure.dialogtech.com/ibp_api.php"),
    "ACCESS_KEY": env.str("DIALOGTECH_ACCESS_KEY", default=""),
    "SECRET_ACCESS_KEY": env.str("DIALOGTECH_SECRET_ACCESS_KEY", default=""),
    "READ_TIMEOUT": env.float("DIALOGTECH_TIMEOUT", default=20.0),
    "CONNECT_TIMEOUT": env.float("DIALOGTECH_CONNECT_TIMEOUT", default=5.0),
    # 0: connect + read timeout.
    "TOTAL_TIMEOUT": env.float("DIALOGTECH_TOTAL_TIMEOUT", default=0.0),
    "MAX_TRIES": env.int("CLICKTOAGENT_MAX_TRIES", default=3),
    "RETRY_BACKOFF": env.float("CLICKTOAGENT_RETRY_BACKOFF", default=1.0),
    "CIRCUIT_BREAKER_THRESHOLD": env.int("CLICKTOAGENT_CIRCUIT_BREAKER_THRESHOLD", default=5),
    "CIRCUIT_BREAKER_COOLDOWN": env.float("CLICKTOAGENT_CIRCUIT_BREAKER_COOLDOWN", default=30.0),
    "RATE_LIMIT_PER_MINUTE": env.int("CLICKTOAGENT_RATE_LIMIT_PER_MINUTE", default=0),
    "DISPATCH_QUEUE": _dispatch_queue or None,
    "RECONCILE_PENDING_AFTER": env.float("CLICKTOAGENT_RECONCILE_PENDING_AFTER", default=60.0),
    "RECONCILE_DISPATCHING_MARGIN": env.float(
        "CLICKTOAGENT_RECONCILE_DISPATCHING_MARGIN", default=30.0
    ),
    # Calls per user through the API and the call button, e.g. "600/minute" for an
    # integration account; "none" turns the limit off.
    "API_CREATE_THROTTLE_RATE": (
        None if _create_rate.strip().lower() == "none" else _create_rate.strip()
    ),
    "WEBHOOK_AUTH_FAILURES_PER_MINUTE": env.int(
        "CLICKTOAGENT_WEBHOOK_AUTH_FAILURES_PER_MINUTE", default=20
    ),
    **(
        {}
        if not _safe_calling
        else {
            "SAFE_CALLING_RULES": ()
            if _safe_calling.lower() == "none"
            else tuple(code.strip() for code in _safe_calling.split(",") if code.strip())
        }
    ),
    "SAFE_CALLING_REGIONS": _regions,
    # None: only the regions' own caps.
    "DAILY_CAP_PER_NUMBER": env.int("CLICKTOAGENT_DAILY_CAP_PER_NUMBER", default=None),
    "RECORDING_CONSENT": env.str("CLICKTOAGENT_RECORDING_CONSENT", default="adjust"),
    "OUTSIDE_HOURS": env.str("CLICKTOAGENT_OUTSIDE_HOURS", default="schedule"),
    # CRM webhooks (docs/webhooks.md): each endpoint refuses everything until configured.
    "WEBHOOK_SECRET": env.str("CLICKTOAGENT_WEBHOOK_SECRET", default=""),
    # Hosts the generic endpoint's callback_url may name (comma-separated); empty: off.
    "CALLBACK_ALLOWED_HOSTS": env.list("CLICKTOAGENT_CALLBACK_ALLOWED_HOSTS", default=[]),
    "CALLBACK_ALLOW_HTTP": env.bool("CLICKTOAGENT_CALLBACK_ALLOW_HTTP", default=False),
    "HUBSPOT_CLIENT_SECRET": env.str("HUBSPOT_CLIENT_SECRET", default=""),
    "SALESFORCE_ORGANIZATION_IDS": env.list("SALESFORCE_ORGANIZATION_IDS", default=[]),
    # Comma-separated: list the new token beside the old one while rotating.
    "SALESFORCE_WEBHOOK_TOKEN": env.list("SALESFORCE_WEBHOOK_TOKEN", default=[]),
    "PIPEDRIVE_WEBHOOK_USER": env.str("PIPEDRIVE_WEBHOOK_USER", default=""),
    "PIPEDRIVE_WEBHOOK_PASSWORD": env.str("PIPEDRIVE_WEBHOOK_PASSWORD", default=""),
    # CRM write-back (docs/crm.md): each provider's is on once its credentials are set.
    "HUBSPOT_ACCESS_TOKEN": env.str("HUBSPOT_ACCESS_TOKEN", default=""),
    "HUBSPOT_API_BASE_URL": env.str("HUBSPOT_API_BASE_URL", default="https://api.hubapi.com"),
    "SALESFORCE_INSTANCE_URL": env.str("SALESFORCE_INSTANCE_URL", default=""),
    "SALESFORCE_CLIENT_ID": env.str("SALESFORCE_CLIENT_ID", default=""),
    "SALESFORCE_CLIENT_SECRET": env.str("SALESFORCE_CLIENT_SECRET", default=""),
    "SALESFORCE_API_VERSION": env.str("SALESFORCE_API_VERSION", default="65.0"),
    "PIPEDRIVE_API_TOKEN": env.str("PIPEDRIVE_API_TOKEN", default=""),
    "PIPEDRIVE_API_BASE_URL": env.str(
        "PIPEDRIVE_API_BASE_URL", default="https://api.pipedrive.com"
    ),
    "CRM_WRITEBACK_TIMEOUT": env.float("CRM_WRITEBACK_TIMEOUT", default=10.0),
    "CRM_WRITEBACK_MAX_TRIES": env.int("CRM_WRITEBACK_MAX_TRIES", default=5),
    "CONTACT_FIELDS": {
        "sid": "last_call_sid",
        "result_description": "last_call_result",
        "status": "last_call_status",
        "finished_at": "last_called_at",
    },
    # The demo contact's state, for the safe-calling rules (docs/safe-calling.md).
    "CONTACT_REGION_FIELD": "state",
}

LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be 'plain' or 'json', got {LOG_FORMAT!r}.")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Both formats mask credential parameters and the configured secrets.
    "formatters": {
        "plain": {
            "()": "clicktoagent.logging.RedactingFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
        "json": {"()": "clicktoagent.logging.JsonFormatter"},
    },
    # LOG_FORMAT=json: one JSON object per line, with each attempt's fields.
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
        }
    },
    "loggers": {
        "clicktoagent": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
        # RQ workers' own lines, in the same format.
        "rq": {"handlers": ["console"], "level": "INFO", "propagate": False},
        # Every 500 (and 4xx warning), also with DEBUG off, where Django logs none.
        "django.request": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}
