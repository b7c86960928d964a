"""WSGI entry of the limit project (``gunicorn bench.limit.wsgi``)."""

from __future__ import annotations

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.limit.settings")
application = get_wsgi_application()
