"""The app's exceptions. None of their messages ever contains a credential."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured


class ClickToAgentError(Exception):
    """Base of every error raised by this app."""


class ConfigurationError(ClickToAgentError, ImproperlyConfigured):
    """The app is not configured well enough to talk to DialogTech."""


class DialogTechError(ClickToAgentError):
    """DialogTech could not be asked, or gave no usable answer."""


class RetryableError(ClickToAgentError):
    """Nothing was done, so trying again is safe; ``retry_after`` is the delay (seconds)
    the other side asked for, when it asked."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotSentError(DialogTechError, RetryableError):
    """The request certainly never reached DialogTech: safe to retry.

    ``retry_after`` is the delay (seconds) DialogTech asked for, when it asked.
    """


class MaybeSentError(DialogTechError):
    """The request may have reached DialogTech: never retry automatically."""


class ResponseError(MaybeSentError):
    """DialogTech's answer could not be read (malformed, oversized or hostile XML)."""


class SendCancelledError(DialogTechError):
    """The caller withdrew the request right before it was written: nothing was sent.

    Unlike :class:`NotSentError` this is not retried automatically; the caller decided.
    """


class RejectedError(DialogTechError):
    """DialogTech refused the HTTP request itself (a 4xx status): no call was placed."""


class InvalidTransitionError(ClickToAgentError):
    """The attempt is not in a state that allows this operation."""


class UnconfirmedRetryError(ClickToAgentError):
    """An ``unknown`` attempt was to be retried without confirming that the contact
    (who may already have been called) should be called again."""


class IdempotencyConflictError(ClickToAgentError):
    """An idempotency key was reused with a different request.

    The message never shows the key: keys are stored with an internal scope (the
    entry point and the user), so each entry point names the caller's own key itself.
    """

    def __init__(self, message: str, *, attempt_id: int) -> None:
        super().__init__(message)
        self.attempt_id = attempt_id


class OverrideNotPermittedError(ClickToAgentError):
    """An ``override_reason`` from a user without ``clicktoagent.override_guardrails``."""


class AlreadyListedError(ClickToAgentError):
    """The number is already on the do-not-call list."""

    def __init__(self, message: str, *, phone_number: str, entry_id: int) -> None:
        super().__init__(message)
        self.phone_number = phone_number
        self.entry_id = entry_id


class DoNotCallImportError(ClickToAgentError):
    """A do-not-call CSV file was refused whole: too large, unreadable, or with bad rows
    (``errors``: (line number, what was wrong), line 1 being the header)."""

    def __init__(self, message: str, *, errors: list[tuple[int, str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []
