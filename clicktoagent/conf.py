"""The app's settings: one ``CLICKTOAGENT`` dict, every default here.

Read lazily through ``app_settings.NAME``; an unknown key fails loudly, and the
cache is dropped whenever a test overrides ``CLICKTOAGENT``.
"""

from __future__ import annotations

from typing import Any

import phonenumbers
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver

SETTING_NAME = "CLICKTOAGENT"

# Every region of the North American Numbering Plan (country code 1), for PHONE_REGIONS.
NANP_REGIONS: tuple[str, ...] = tuple(phonenumbers.COUNTRY_CODE_TO_REGION_CODE[1])

DEFAULTS: dict[str, Any] = {
    # DialogTech endpoint and credentials (credentials come from the environment).
    "BASE_URL": "https://secure.dialogtech.com/ibp_api.php",
    "ACCESS_KEY": "",
    "SECRET_ACCESS_KEY": "",
    # Seconds to wait for the TCP connection, and for the answer once sent.
    "CONNECT_TIMEOUT": 5.0,
    "READ_TIMEOUT": 20.0,
    # Seconds one request may take in all, however slowly the answer trickles in;
    # None (or 0): CONNECT_TIMEOUT + READ_TIMEOUT.
    "TOTAL_TIMEOUT": None,
    # Largest response body accepted from DialogTech, in bytes.
    "MAX_RESPONSE_BYTES": 65536,
    # Sent on every call; the attempt stores what was sent.
    "DEFAULT_RECORD": 0,
    "DEFAULT_WARNING": 1,
    # Phone numbers: accepted regions, and full validation vs. length only.
    "PHONE_REGIONS": ("US", "CA"),
    # Number types that may be called (names of phonenumbers.PhoneNumberType); paid
    # types (PREMIUM_RATE, SHARED_COST, PERSONAL_NUMBER, UAN, PAGER...) are left out.
    "PHONE_ALLOWED_TYPES": ("FIXED_LINE", "MOBILE", "FIXED_LINE_OR_MOBILE", "TOLL_FREE", "VOIP"),
    "PHONE_DEFAULT_REGION": "US",
    "PHONE_STRICT_VALIDATION": True,
    # Automatic retries, only for requests that certainly never reached DialogTech.
    "MAX_TRIES": 3,
    "RETRY_BACKOFF": 1.0,
    "RETRY_BACKOFF_MAX": 60.0,
    # Longest wait before an in-process retry; longer waits are deferred to the task queue.
    "INLINE_RETRY_MAX_WAIT": 5.0,
    # Outcome name (sid, result, result_description, status, finished_at) -> contact field.
    "CONTACT_FIELDS": {},
    # Task backend alias and queue used for dispatch.
    "TASK_BACKEND": "default",
    "TASK_QUEUE_NAME": "default",
    # Where attempts wait for a dispatcher (``manage.py clicktoagent_dispatcher``): a Redis
    # URL ("redis://127.0.0.1:6379/0") puts their ids on a Redis list of their own
    # (deferred ones in a sorted set by due time); None: the dispatch task of
    # TASK_BACKEND. Other tasks (callbacks, CRM write-backs) stay on TASK_BACKEND.
    "DISPATCH_QUEUE": None,
    # Shared state of all workers (circuit breaker, request cap, and throttle counts when
    # it is Redis or Memcached): a Django cache alias. Use a cache every worker reaches
    # (Redis); a process-local cache shares nothing.
    "CACHE_ALIAS": "default",
    # Circuit breaker: after this many consecutive "never reached" failures dispatch
    # pauses for the cool-down (seconds), then one probe request decides. 0 turns it off.
    "CIRCUIT_BREAKER_THRESHOLD": 5,
    "CIRCUIT_BREAKER_COOLDOWN": 30.0,
    # Most requests to DialogTech per calendar minute, across all workers. 0: no cap.
    "RATE_LIMIT_PER_MINUTE": 0,
    # Reconciler: a pending attempt due this many seconds ago is queued again; a
    # dispatching attempt older than the total timeout + this margin is unknown. A worker
    # never starts sending an attempt it claimed longer ago than this margin.
    "RECONCILE_PENDING_AFTER": 60.0,
    "RECONCILE_DISPATCHING_MARGIN": 30.0,
    # Health check: unhealthy when the oldest pending attempt is older than this (seconds).
    "HEALTH_MAX_PENDING_AGE": 300.0,
    # CRM webhooks (docs/webhooks.md). Each provider's own keys (its secret, its field
    # names) are declared in its module, clicktoagent/webhooks/<provider>.py.
    "WEBHOOK_MAX_BODY_BYTES": 1048576,
    # Generic endpoint's callback_url: hosts it may name ("crm.example.com" exactly, or
    # ".example.com" with its subdomains); empty turns callbacks off.
    "CALLBACK_ALLOWED_HOSTS": (),
    # Also accept http:// callback URLs (development only; https otherwise).
    "CALLBACK_ALLOW_HTTP": False,
    # Total deadline in seconds of one callback try (resolve, connect, send, answer).
    "WEBHOOK_CALLBACK_TIMEOUT": 5.0,
    "WEBHOOK_CALLBACK_MAX_TRIES": 5,
    "WEBHOOK_CALLBACK_BACKOFF": 2.0,
    "WEBHOOK_CALLBACK_BACKOFF_MAX": 300.0,
    # Seconds a call button's signed token stays valid after its page was rendered.
    "BUTTON_TOKEN_MAX_AGE": 3600,
    # Deepest nesting of arrays and objects accepted in any JSON body (API, call button,
    # webhooks); checked before parsing, so a hostile body cannot exhaust the stack.
    "JSON_MAX_DEPTH": 32,
    # Largest request body, in bytes, the REST API and the call button accept (then 413).
    "API_MAX_BODY_BYTES": 65536,
    # Calls each user may place per period through the API (creates and retries) and the
    # call button together, e.g. "60/minute"; None turns it off. Counted once for all
    # processes: in CACHE_ALIAS when it is Redis or Memcached, else in the database.
    "API_CREATE_THROTTLE_RATE": "60/minute",
    # Call checks (POST /clicktoagent/api/call-checks/, dry runs) per user and period.
    "CALL_CHECK_THROTTLE_RATE": "600/minute",
    # Do-not-call list (docs/api.md, docs/admin.md): API adds and removals each user may
    # make per period, counted like API_CREATE_THROTTLE_RATE; None turns it off.
    "DNC_API_THROTTLE_RATE": "120/minute",
    # Largest CSV file, in bytes, and most data rows one do-not-call import accepts
    # (admin upload and command alike).
    "DNC_IMPORT_MAX_BYTES": 16 * 1024 * 1024,
    "DNC_IMPORT_MAX_ROWS": 200_000,
    # Failed webhook authentications per client address (REMOTE_ADDR) and minute; past
    # it the address gets 429 without its credential being checked. 0 turns it off.
    "WEBHOOK_AUTH_FAILURES_PER_MINUTE": 20,
    # CRM write-back (docs/crm.md): a finished call is logged on the record its
    # contact_ref names; each provider's write-back is on when its credentials are set.
    "HUBSPOT_ACCESS_TOKEN": "",  # private app access token (Bearer)
    "HUBSPOT_API_BASE_URL": "https://api.hubapi.com",  # HubSpot's API, or a stand-in
    "SALESFORCE_INSTANCE_URL": "",  # e.g. https://example.my.salesforce.com
    "SALESFORCE_CLIENT_ID": "",  # the connected app's consumer key
    "SALESFORCE_CLIENT_SECRET": "",  # the connected app's consumer secret
    "SALESFORCE_API_VERSION": "65.0",  # REST API version of /services/data/vXX.X/
    "PIPEDRIVE_API_TOKEN": "",  # a user's API token (x-api-token header)
    "PIPEDRIVE_API_BASE_URL": "https://api.pipedrive.com",  # Pipedrive's API, or a stand-in
    "CRM_WRITEBACK_TIMEOUT": 10.0,  # seconds one request to a CRM may take in all
    "CRM_WRITEBACK_MAX_TRIES": 5,  # tries of one write-back before it is failed
    # Safe calling (docs/safe-calling.md): the rules checked before every dial, when an
    # attempt is created and again right before it is sent. A list of rule codes;
    # () or None: no rules (for a deployment with its own compliance system).
    "SAFE_CALLING_RULES": (
        "calling_hours",
        "do_not_call",
        "daily_cap",
        "recording_consent",
        "queue_hours",
    ),
    # Region code ("US", "US-FL", "CA", "CA-QC", ...) -> entry, over the shipped rules
    # data (clicktoagent/policy/rules.toml): change any entry, or add one.
    "SAFE_CALLING_REGIONS": {},
    # Most attempts that may ring one number in a rolling 24 hours, for every number;
    # None: only the regions' own caps.
    "DAILY_CAP_PER_NUMBER": None,
    # A recorded call to an all-party-consent state without a warning the contact hears:
    # "adjust" raises warning to 1 and records that it did; "block" refuses the call.
    "RECORDING_CONSENT": "adjust",
    # When a time-based rule forbids a call now: "schedule" keeps it pending until the
    # next allowed moment; "block" ends it blocked. A request may ask for either.
    "OUTSIDE_HOURS": "schedule",
    # The contact model's field (or attribute) holding its state or province ("FL", "ON").
    "CONTACT_REGION_FIELD": "",
}

# Keys that hold secrets: never shown, logged or stored. Webhook providers add theirs
# through register_settings; the CRM write-back keys are declared above.
SECRET_KEYS: set[str] = {
    "ACCESS_KEY",
    "SECRET_ACCESS_KEY",
    "HUBSPOT_ACCESS_TOKEN",
    "SALESFORCE_CLIENT_SECRET",
    "PIPEDRIVE_API_TOKEN",
}


class AppSettings:
    """Lazy view of ``settings.CLICKTOAGENT`` merged over :data:`DEFAULTS`."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] | None = None

    def _load(self) -> dict[str, Any]:
        if self._cache is None:
            user = getattr(settings, SETTING_NAME, None) or {}
            if not isinstance(user, dict):
                raise ImproperlyConfigured(f"settings.{SETTING_NAME} must be a dict.")
            unknown = sorted(set(user) - set(DEFAULTS))
            if unknown:
                raise ImproperlyConfigured(
                    f"Unknown key(s) in settings.{SETTING_NAME}: {', '.join(unknown)}. "
                    f"Valid keys: {', '.join(sorted(DEFAULTS))}."
                )
            self._cache = {**DEFAULTS, **user}
        return self._cache

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        values = self._load()
        if name not in values:
            raise AttributeError(f"Invalid {SETTING_NAME} setting: {name!r}")
        return values[name]

    def reload(self) -> None:
        self._cache = None


app_settings = AppSettings()


def register_settings(defaults: dict[str, Any], *, secrets: frozenset[str] = frozenset()) -> None:
    """Add a feature's own keys, with their defaults (and which hold secrets), to
    ``CLICKTOAGENT``. A webhook provider's module calls it when it is imported, which
    the app does when it starts (``AppConfig.ready``)."""
    clash = sorted(set(defaults) & set(DEFAULTS))
    if clash:
        raise ImproperlyConfigured(f"CLICKTOAGENT key(s) declared twice: {', '.join(clash)}.")
    DEFAULTS.update(defaults)
    SECRET_KEYS.update(secrets)
    app_settings.reload()


def dialogtech_total_timeout() -> float:
    """Seconds one DialogTech request may take in all: ``TOTAL_TIMEOUT``, else connect + read."""
    total = app_settings.TOTAL_TIMEOUT
    if total:
        return float(total)
    return float(app_settings.CONNECT_TIMEOUT) + float(app_settings.READ_TIMEOUT)


@receiver(setting_changed)
def _reload_app_settings(*, setting: str, **kwargs: Any) -> None:
    if setting == SETTING_NAME:
        app_settings.reload()
