"""Settings of the limit project: no apps, no middleware, one database (the views read
DIALOGTECH_* and REDIS_URL from the environment)."""

from __future__ import annotations

import environ

env = environ.Env()

DEBUG = False
SECRET_KEY = "limit-project-for-benchmarks-only"  # noqa: S105
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
ROOT_URLCONF = "bench.limit.views"
DATABASES = {"default": env.db("DATABASE_URL")}
DATABASES["default"]["CONN_MAX_AGE"] = None
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # As the demo project (config/settings.py, DATABASE_PREPARED_STATEMENTS).
    DATABASES["default"]["OPTIONS"] = {"server_side_binding": True, "prepare_threshold": 2}
USE_TZ = True
