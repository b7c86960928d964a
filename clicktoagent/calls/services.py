"""Creating, retrying and cancelling call attempts: the only code that creates them.

Sending belongs to the engine (``clicktoagent.dispatch``): a new attempt is queued for
it once the transaction that stored it commits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from functools import partial
from typing import Any, TypedDict, Unpack

from django.contrib.auth.models import AbstractBaseUser
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, models, router, transaction
from django.utils import timezone

from ..conf import app_settings
from ..dispatch.outcome import call_attempt_block
from ..dispatch.tasks import (
    call_attempt_dispatch_claimed,
    call_attempt_enqueue,
    dispatch_can_defer,
    dispatch_inline_claim,
)
from ..exceptions import IdempotencyConflictError, InvalidTransitionError, UnconfirmedRetryError
from ..models import CallAttempt
from .guard import SafeCallingOptions, new_attempt_decide
from .request import CallFields, CallRequest

logger = logging.getLogger("clicktoagent")

Status = CallAttempt.Status
# The statuses an attempt can be retried from (a new attempt, linked by retry_of).
RETRYABLE = (Status.FAILED, Status.UNKNOWN)
RELATED_FIELDS = ("queue", "agent", "requested_by", "retry_of", "overridden_by", "content_type")


def _attempt_transaction(using: str, *, new_key: bool) -> AbstractContextManager[object]:
    """Where a new attempt is decided and stored. With safe-calling rules, a transaction
    (a savepoint inside the caller's, unless ``new_key``): a rule's count and the INSERT
    must be atomic under the number's lock. Without rules and outside any transaction,
    none: the INSERT is the only write, atomic on its own, committed when it returns (so
    on_commit callbacks run at once), and a refused one leaves nothing to roll back."""
    if (
        not app_settings.SAFE_CALLING_RULES
        and not transaction.get_connection(using).in_atomic_block
    ):
        return nullcontext()
    return transaction.atomic(using=using, savepoint=not new_key)


def call_attempt_get_or_create(
    *,
    source: str,
    call: CallRequest | None = None,
    contact: models.Model | None = None,
    contact_ref: str = "",
    requested_by: AbstractBaseUser | None = None,
    idempotency_key: str | None = None,
    new_key: bool = False,
    retry_of: CallAttempt | None = None,
    dispatch: bool = True,
    contact_region: str = "",
    outside_hours: str | None = None,
    override_reason: str = "",
    **fields: Unpack[CallFields],
) -> tuple[CallAttempt, bool]:
    """Validate and store a ``pending`` attempt, and queue its dispatch once committed.

    The call is ``call``, or the :class:`~clicktoagent.calls.request.CallFields` given as
    keyword arguments (``queue_id``, ``agent_id``, ``phone_to_call``...), validated here.
    Returns ``(attempt, created)``. With an ``idempotency_key`` already used for the
    same request, returns the first attempt and ``created=False`` (nothing is sent
    again); the same key with a different request raises ``IdempotencyConflictError``.
    ``new_key=True`` says the caller knows no attempt can hold the key yet (a webhook
    delivery stored in this transaction): the lookup is skipped and the attempt is
    inserted without a savepoint; if the key's unique constraint refuses it after all,
    the ``IntegrityError`` is raised and the caller's transaction must be rolled back.

    The safe-calling rules (docs/safe-calling.md) decide what happens to it: sent now;
    ``pending`` with ``next_try_at`` at the next allowed moment (``outside_hours``
    "schedule"); or ``blocked``, stored with its ``violations`` and never sent.
    ``contact_region`` is the contact's state or province (``"FL"``); a user with
    ``clicktoagent.override_guardrails`` may skip the time rules with an ``override_reason``.
    """
    if source not in CallAttempt.Source.values:
        raise ValueError(f"Unknown source {source!r}")
    if call is None:
        call = CallRequest.validate(**fields)
    options = SafeCallingOptions.validate(
        phone_to_call=call.phone_to_call,
        contact=contact,
        contact_region=contact_region,
        outside_hours=outside_hours,
        override_reason=override_reason,
        requested_by=requested_by,
    )
    content_type = ContentType.objects.get_for_model(contact) if contact is not None else None
    object_id = str(contact.pk) if contact is not None else ""
    contact_key = f"{content_type.pk}:{object_id}" if content_type else ""
    fingerprint = call.fingerprint(contact_key=f"{contact_key}|{contact_ref}")
    key = idempotency_key or None

    if key is not None and not new_key:
        existing = _idempotent_match(key, fingerprint)
        if existing is not None:
            return existing, False

    attempt = CallAttempt(
        **call.attempt_values(),
        content_type=content_type,
        object_id=object_id,
        contact_ref=contact_ref,
        source=source,
        requested_by=requested_by,  # type: ignore[misc]
        idempotency_key=key,
        request_fingerprint=fingerprint if key else "",
        retry_of=retry_of,
    )
    # The related rows are the ones just read (or the caller's): no query to check them.
    attempt.full_clean(exclude=["idempotency_key", *RELATED_FIELDS], validate_constraints=False)
    # What runs once the attempt is committed: registered after the block below, so that
    # without a transaction (where it runs at once) it runs after the INSERT's handling.
    after_commit: Callable[[], object] | None = None
    using = router.db_for_write(CallAttempt)
    try:
        with _attempt_transaction(using, new_key=new_key):
            decision = new_attempt_decide(call, options)
            for name, value in decision.values.items():
                setattr(attempt, name, value)
            # Sent by this process right after the commit: stored already claimed.
            claim = dispatch_inline_claim() if dispatch and decision.sendable_now else None
            for name, value in (claim or {}).items():
                setattr(attempt, name, value)
            attempt.save()
            logger.info(
                "call attempt %s created",
                attempt.pk,
                extra={"attempt_id": attempt.pk, "status": attempt.status, "source": source},
            )
            if decision.blocked:
                call_attempt_block(attempt, error=decision.error)
            elif claim is not None:
                after_commit = partial(call_attempt_dispatch_claimed, attempt)
            elif dispatch and (decision.run_after is None or dispatch_can_defer()):
                after_commit = partial(
                    call_attempt_enqueue, attempt_id=attempt.pk, run_after=decision.run_after
                )
            # A backend that cannot defer (immediate) leaves a scheduled attempt to
            # clicktoagent_reconcile, which queues it once next_try_at has passed.
    except IntegrityError:
        # A concurrent request with the same key won the race: answer with its attempt.
        if key is None or new_key:
            raise
        existing = _idempotent_match(key, fingerprint)
        if existing is None:
            raise
        return existing, False
    if after_commit is not None:
        transaction.on_commit(after_commit, using=using)
    return attempt, True


def call_attempt_create(**kwargs: Any) -> CallAttempt:
    """Like :func:`call_attempt_get_or_create`, returning only the attempt."""
    return call_attempt_get_or_create(**kwargs)[0]


def _idempotent_match(key: str, fingerprint: str) -> CallAttempt | None:
    existing = (
        CallAttempt.objects.select_related("queue", "agent").filter(idempotency_key=key).first()
    )
    if existing is None:
        return None
    if existing.request_fingerprint != fingerprint:
        raise IdempotencyConflictError(
            f"This idempotency key was already used for a different request (call attempt "
            f"{existing.pk}); use a new key for a new call.",
            attempt_id=existing.pk,
        )
    return existing


def call_attempt_cancel(*, attempt: CallAttempt) -> CallAttempt:
    """Cancel an attempt that has not been sent yet."""
    cancelled = CallAttempt.objects.filter(pk=attempt.pk, status=Status.PENDING).update(
        status=Status.CANCELLED, finished_at=timezone.now()
    )
    attempt.refresh_from_db()
    if not cancelled:
        raise InvalidTransitionError(
            f"Call attempt {attempt.pk} is {attempt.status}; only pending attempts can be "
            "cancelled."
        )
    logger.info("call attempt %s cancelled", attempt.pk, extra={"attempt_id": attempt.pk})
    return attempt


def call_attempt_can_retry(attempt: CallAttempt) -> bool:
    """Whether ``attempt`` ended in a way that can be retried: ``failed`` or ``unknown``."""
    return attempt.status in RETRYABLE


class RetryOptions(TypedDict, total=False):
    """The optional arguments of :func:`call_attempt_retry_get_or_create`."""

    requested_by: AbstractBaseUser | None
    confirm_unknown: bool
    override_reason: str


def call_attempt_retry_get_or_create(
    *,
    attempt: CallAttempt,
    source: str,
    requested_by: AbstractBaseUser | None = None,
    confirm_unknown: bool = False,
    override_reason: str = "",
) -> tuple[CallAttempt, bool]:
    """Make a new attempt with the same call details, linked by ``retry_of``.

    Only ``failed`` and ``unknown`` attempts can be retried. For ``unknown`` the
    contact may already have been called, so the caller must have asked the user and
    pass ``confirm_unknown=True``; otherwise ``UnconfirmedRetryError``. An attempt is
    retried at most once: retrying it again returns the same new attempt and
    ``created=False`` (no confirmation needed: nobody is dialled), so a double click
    never dials twice. The call is checked again (its queue or agent may be inactive now).
    """
    if not call_attempt_can_retry(attempt):
        raise InvalidTransitionError(
            f"Call attempt {attempt.pk} is {attempt.status}; only failed or unknown attempts "
            "can be retried."
        )
    key = f"clicktoagent:retry-of:{attempt.pk}"
    existing = CallAttempt.objects.filter(idempotency_key=key).first()
    if existing is not None:
        # Already retried: the same retry, even if the contact or agent changed since.
        return existing, False
    if attempt.status == Status.UNKNOWN and not confirm_unknown:
        raise UnconfirmedRetryError(
            f"Call attempt {attempt.pk} is unknown: the request may have reached DialogTech, "
            "so the contact may already have been called. Retry it only once you are sure "
            "they should be called again, and confirm it."
        )
    return call_attempt_get_or_create(
        **_retry_copy(attempt),
        override_reason=override_reason,
        source=source,
        requested_by=requested_by,
        idempotency_key=key,
        retry_of=attempt,
    )


def _retry_copy(attempt: CallAttempt) -> dict[str, Any]:
    """What a retry copies from the attempt it retries: the call as it was sent, the
    contact, and how the safe-calling rules apply to it; never an override."""
    return {
        **CallRequest.of_attempt(attempt).as_fields(),
        "contact": attempt.contact,
        "contact_ref": attempt.contact_ref,
        "contact_region": attempt.contact_region,
        "outside_hours": attempt.outside_hours,
    }


def call_attempt_retry(
    *, attempt: CallAttempt, source: str, **options: Unpack[RetryOptions]
) -> CallAttempt:
    """Like :func:`call_attempt_retry_get_or_create`, returning only the new attempt."""
    return call_attempt_retry_get_or_create(attempt=attempt, source=source, **options)[0]
