"""Django's error reports (DEBUG pages, admin e-mails) without connection passwords.

Django's own filter hides settings whose *name* looks secret (``SECRET_KEY``,
``DATABASES["default"]["PASSWORD"]``...). Connection URLs carry their password in the
*value*: ``DATABASE_URL`` and ``REDIS_URL`` in the environment (which runserver copies
into ``request.META``), the Redis URL in ``CACHES`` and ``RQ_QUEUES``, a user:password in
``CLICKTOAGENT["BASE_URL"]``. This filter also hides those.
"""

from __future__ import annotations

import re
from typing import Any

from django.views.debug import SafeExceptionReporterFilter

# scheme://user:password@host -> scheme://user:********@host
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^/\s:@]*:)[^/\s@]+@", re.IGNORECASE)


class ExceptionReporterFilter(SafeExceptionReporterFilter):
    hidden_settings = re.compile(
        "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|DATABASE_URL|REDIS_URL|DSN",
        flags=re.IGNORECASE,
    )

    def cleanse_setting(self, key: Any, value: Any) -> Any:
        cleansed = super().cleanse_setting(key, value)
        if isinstance(cleansed, str):
            return _URL_PASSWORD.sub(rf"\g<head>{self.cleansed_substitute}@", cleansed)
        return cleansed
