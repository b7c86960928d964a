"""Business rules for call attempts: the only code that writes CallAttempt."""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import DatabaseError, IntegrityError, models, transaction
from django.db.models import F, Q
from django.utils import timezone

from . import reliability
from .conf import app_settings, dialogtech_total_timeout
from .dialogtech.client import ClickToAgentRequest, get_client
from .dialogtech.responses import ClickToAgentResponse
from .exceptions import (
    ConfigurationError,
    IdempotencyConflictError,
    InvalidTransitionError,
    MaybeSentError,
    NotSentError,
    RejectedError,
    SendCancelledError,
    UnconfirmedRetryError,
)
from .models import Agent, CallAttempt, Queue
from .phone import normalize_phone
from .signals import call_attempt_finished

logger = logging.getLogger("clicktoagent")

Status = CallAttempt.Status
OUTCOME_NAMES = ("sid", "result", "result_description", "status", "finished_at")


@dataclass(frozen=True)
class CallRequest:
    """A validated request to place a call: numbers normalised, queue and agent checked."""

    queue: Queue
    agent: Agent
    phone_to_call: str
    first_callerid: str
    second_callerid: str
    record: int
    warning: int

    def fingerprint(self, *, contact_key: str) -> str:
        data = [
            self.queue.queue_id,
            self.agent.agent_id,
            self.phone_to_call,
            self.first_callerid,
            self.second_callerid,
            self.record,
            self.warning,
            contact_key,
        ]
        return hashlib.sha256(json.dumps(data).encode()).hexdigest()


def call_request_validate(
    *,
    queue_id: str,
    agent_id: str,
    phone_to_call: str,
    first_callerid: str = "",
    second_callerid: str = "",
    record: int | None = None,
    warning: int | None = None,
) -> CallRequest:
    """Check and normalise everything a call needs; raise ``ValidationError`` per field."""
    errors: dict[str, list[str]] = {}
    numbers: dict[str, str] = {}
    for field, value, required in (
        ("phone_to_call", phone_to_call, True),
        ("first_callerid", first_callerid, False),
        ("second_callerid", second_callerid, False),
    ):
        if not required and not (value or "").strip():
            numbers[field] = ""
            continue
        try:
            numbers[field] = normalize_phone(value)
        except ValidationError as err:
            errors[field] = err.messages

    record_value = app_settings.DEFAULT_RECORD if record is None else record
    warning_value = app_settings.DEFAULT_WARNING if warning is None else warning
    if record_value not in (0, 1):
        errors["record"] = [f"record must be 0 or 1, got {record_value!r}."]
    if warning_value not in (0, 1, 2, 3):
        errors["warning"] = [f"warning must be 0, 1, 2 or 3, got {warning_value!r}."]

    queue = Queue.objects.filter(queue_id=str(queue_id)).first() if queue_id else None
    agent = Agent.objects.filter(agent_id=str(agent_id)).first() if agent_id else None
    if not queue_id:
        errors["queue_id"] = ["A queue_id is required."]
    elif queue is None:
        errors["queue_id"] = [f"Unknown queue_id {queue_id!r}."]
    elif not queue.is_active:
        errors["queue_id"] = [f"Queue {queue_id!r} is inactive."]
    if not agent_id:
        errors["agent_id"] = ["An agent_id is required."]
    elif agent is None:
        errors["agent_id"] = [f"Unknown agent_id {agent_id!r}."]
    elif not agent.is_active:
        errors["agent_id"] = [f"Agent {agent_id!r} is inactive."]
    if (
        queue is not None
        and agent is not None
        and "queue_id" not in errors
        and "agent_id" not in errors
        and not agent.queues.filter(pk=queue.pk).exists()
    ):
        errors["agent_id"] = [f"Agent {agent_id!r} is not a member of queue {queue_id!r}."]
    if errors:
        raise ValidationError(errors)
    assert queue is not None and agent is not None
    return CallRequest(
        queue=queue,
        agent=agent,
        phone_to_call=numbers["phone_to_call"],
        first_callerid=numbers["first_callerid"],
        second_callerid=numbers["second_callerid"],
        record=int(record_value),
        warning=int(warning_value),
    )


def call_attempt_get_or_create(
    *,
    queue_id: str,
    agent_id: str,
    phone_to_call: str,
    source: str,
    first_callerid: str = "",
    second_callerid: str = "",
    record: int | None = None,
    warning: int | None = None,
    contact: models.Model | None = None,
    contact_ref: str = "",
    requested_by: AbstractBaseUser | None = None,
    idempotency_key: str | None = None,
    retry_of: CallAttempt | None = None,
    dispatch: bool = True,
) -> tuple[CallAttempt, bool]:
    """Validate and store a ``pending`` attempt, and queue its dispatch once committed.

    Returns ``(attempt, created)``. With an ``idempotency_key`` already used for the
    same request, returns the first attempt and ``created=False`` (nothing is sent
    again); the same key with a different request raises ``IdempotencyConflictError``.
    """
    if source not in CallAttempt.Source.values:
        raise ValueError(f"Unknown source {source!r}")
    call = call_request_validate(
        queue_id=queue_id,
        agent_id=agent_id,
        phone_to_call=phone_to_call,
        first_callerid=first_callerid,
        second_callerid=second_callerid,
        record=record,
        warning=warning,
    )
    content_type = ContentType.objects.get_for_model(contact) if contact is not None else None
    object_id = str(contact.pk) if contact is not None else ""
    contact_key = f"{content_type.pk}:{object_id}" if content_type else ""
    fingerprint = call.fingerprint(contact_key=f"{contact_key}|{contact_ref}")
    key = idempotency_key or None

    if key is not None:
        existing = _idempotent_match(key, fingerprint)
        if existing is not None:
            return existing, False

    attempt = CallAttempt(
        queue=call.queue,
        agent=call.agent,
        phone_to_call=call.phone_to_call,
        first_callerid=call.first_callerid,
        second_callerid=call.second_callerid,
        record=call.record,
        warning=call.warning,
        content_type=content_type,
        object_id=object_id,
        contact_ref=contact_ref,
        source=source,
        requested_by=requested_by,  # type: ignore[misc]
        idempotency_key=key,
        request_fingerprint=fingerprint if key else "",
        retry_of=retry_of,
    )
    attempt.full_clean(exclude=["idempotency_key"], validate_constraints=False)
    try:
        with transaction.atomic():
            attempt.save()
            logger.info(
                "call attempt %s created",
                attempt.pk,
                extra={"attempt_id": attempt.pk, "status": attempt.status, "source": source},
            )
            if dispatch:
                pk = attempt.pk
                transaction.on_commit(lambda: call_attempt_enqueue(attempt_id=pk))
    except IntegrityError:
        # A concurrent request with the same key won the race: answer with its attempt.
        if key is None:
            raise
        existing = _idempotent_match(key, fingerprint)
        if existing is None:
            raise
        return existing, False
    return attempt, True


def call_attempt_create(**kwargs: Any) -> CallAttempt:
    """Like :func:`call_attempt_get_or_create`, returning only the attempt."""
    return call_attempt_get_or_create(**kwargs)[0]


def _idempotent_match(key: str, fingerprint: str) -> CallAttempt | None:
    existing = CallAttempt.objects.filter(idempotency_key=key).first()
    if existing is None:
        return None
    if existing.request_fingerprint != fingerprint:
        raise IdempotencyConflictError(
            f"This idempotency key was already used for a different request (call attempt "
            f"{existing.pk}); use a new key for a new call.",
            attempt_id=existing.pk,
        )
    return existing


def call_attempt_enqueue(*, attempt_id: int, run_after: datetime | None = None) -> None:
    """Queue the dispatch task. A failure to queue leaves the attempt ``pending``:
    ``clicktoagent_reconcile`` queues it again later, so nothing is lost."""
    from .tasks import dispatch_call_attempt

    task = dispatch_call_attempt.using(
        backend=app_settings.TASK_BACKEND,
        queue_name=app_settings.TASK_QUEUE_NAME,
        run_after=run_after,
    )
    try:
        task.enqueue(attempt_id=attempt_id)
    except Exception as err:
        logger.warning(
            "could not queue call attempt %s (%s); it stays pending for the reconciler",
            attempt_id,
            type(err).__name__,
            extra={"attempt_id": attempt_id},
        )


def call_attempt_dispatch(*, attempt_id: int) -> CallAttempt:
    """Place the call for a ``pending`` attempt, at most once, and record the outcome.

    The claim is one conditional UPDATE, so however many workers receive the same
    attempt only one sends it. Requests that certainly never reached DialogTech are
    retried with backoff up to ``MAX_TRIES``; anything that may have reached it and
    gave no usable answer ends ``unknown`` and is never retried automatically.

    While the circuit breaker is open, or the per-minute request cap is used up, the
    attempt is not claimed: it stays ``pending`` with ``next_try_at`` set, and a
    deferred task (or the reconciler) sends it later.
    """
    while True:
        status = CallAttempt.objects.filter(pk=attempt_id).values_list("status", flat=True).first()
        if status != Status.PENDING:
            # Checked before the breaker so a duplicate task never uses up the probe.
            return _not_dispatched(attempt_id)
        hold = reliability.circuit_allows() or reliability.rate_limit_acquire()
        if hold is not None:
            return _postpone(attempt_id, hold=hold)
        now = timezone.now()
        claimed = CallAttempt.objects.filter(pk=attempt_id, status=Status.PENDING).update(
            status=Status.DISPATCHING,
            dispatched_at=now,
            next_try_at=None,
            tries=F("tries") + 1,
        )
        if not claimed:
            return _not_dispatched(attempt_id)
        attempt = CallAttempt.objects.select_related("queue", "agent").get(pk=attempt_id)
        started = time.monotonic()
        logger.info(
            "call attempt %s dispatching",
            attempt_id,
            extra={"attempt_id": attempt_id, "status": attempt.status, "tries": attempt.tries},
        )
        request = ClickToAgentRequest(
            queue_id=attempt.queue.queue_id,
            agent_id=attempt.agent.agent_id,
            phone_to_call=attempt.phone_to_call,
            first_callerid=attempt.first_callerid,
            second_callerid=attempt.second_callerid,
            record=attempt.record,
            warning=attempt.warning,
        )
        try:
            response = get_client().click_to_agent(
                request, may_send=lambda: _still_ours_to_send(attempt_id)
            )
        except SendCancelledError:
            return _finish_not_sent_too_late(attempt, started=started)
        except NotSentError as err:
            reliability.circuit_record_not_sent()
            if attempt.tries >= app_settings.MAX_TRIES:
                return _finish(
                    attempt,
                    Status.FAILED,
                    error=f"{err} Gave up after {attempt.tries} tries.",
                    started=started,
                )
            delay = _backoff(attempt.tries, err.retry_after)
            if _release_for_retry(attempt, delay=delay, reason=str(err)):
                continue
            return CallAttempt.objects.get(pk=attempt_id)
        except (ConfigurationError, RejectedError) as err:
            if isinstance(err, RejectedError):
                reliability.circuit_record_reached()
            return _finish(attempt, Status.FAILED, error=str(err), started=started)
        except MaybeSentError as err:
            reliability.circuit_record_reached()
            return _finish(attempt, Status.UNKNOWN, error=str(err), started=started)
        except Exception as err:
            # A bug of ours after the claim: we cannot tell whether the call went out.
            logger.exception(
                "unexpected error dispatching call attempt %s",
                attempt_id,
                extra={"attempt_id": attempt_id},
            )
            return _finish(
                attempt,
                Status.UNKNOWN,
                error=f"Unexpected error while placing the call ({type(err).__name__}).",
                started=started,
            )
        reliability.circuit_record_reached()
        return _finish_with_response(attempt, response, started=started)


def dispatching_lost_after() -> float:
    """Seconds after its claim when the reconciler gives a ``dispatching`` attempt up as
    lost: the longest a request may take, plus ``RECONCILE_DISPATCHING_MARGIN``."""
    return dialogtech_total_timeout() + float(app_settings.RECONCILE_DISPATCHING_MARGIN)


def _still_ours_to_send(attempt_id: int) -> bool:
    """Asked right before the request is written: is the claim fresh enough to send?

    A request must start within ``RECONCILE_DISPATCHING_MARGIN`` of the claim, so that
    even at its total timeout it ends before the reconciler's cut-off: a worker that
    stalled (paused VM, stopped process) never sends an attempt the reconciler has
    given up on, or is about to.
    """
    window = float(app_settings.RECONCILE_DISPATCHING_MARGIN)
    return CallAttempt.objects.filter(
        pk=attempt_id,
        status=Status.DISPATCHING,
        dispatched_at__gte=timezone.now() - timedelta(seconds=window),
    ).exists()


def _finish_not_sent_too_late(attempt: CallAttempt, *, started: float) -> CallAttempt:
    """The worker resumed too long after its claim and sent nothing: the attempt fails
    (a retry is safe), unless the reconciler already closed it."""
    window = float(app_settings.RECONCILE_DISPATCHING_MARGIN)
    error = (
        f"Not sent: this worker was held up for more than {window:g} s between claiming "
        "the attempt and sending it (RECONCILE_DISPATCHING_MARGIN), so it sent nothing. "
        "The contact was not called; retry it to place the call."
    )
    now = timezone.now()
    with transaction.atomic():
        updated = CallAttempt.objects.filter(pk=attempt.pk, status=Status.DISPATCHING).update(
            status=Status.FAILED, error=error, finished_at=now, next_try_at=None
        )
        attempt.refresh_from_db()
        if updated:
            _copy_outcome_to_contact(attempt)
            transaction.on_commit(lambda: _send_finished(attempt))
    logger.warning(
        "call attempt %s not sent: its worker was held up after claiming it",
        attempt.pk,
        extra={
            "attempt_id": attempt.pk,
            "status": attempt.status,
            "tries": attempt.tries,
            "duration_ms": round((time.monotonic() - started) * 1000),
        },
    )
    return attempt


def _not_dispatched(attempt_id: int) -> CallAttempt:
    attempt = CallAttempt.objects.select_related("queue", "agent").get(pk=attempt_id)
    logger.info(
        "call attempt %s not dispatched: it is %s",
        attempt_id,
        attempt.status,
        extra={"attempt_id": attempt_id, "status": attempt.status},
    )
    return attempt


def _backoff(tries: int, retry_after: float | None) -> float:
    """Seconds to wait before try ``tries + 1``: DialogTech's ``Retry-After`` when it
    gave one (capped), else exponential backoff with jitter."""
    if retry_after is not None:
        return min(float(retry_after), float(app_settings.RETRY_BACKOFF_MAX))
    base = float(app_settings.RETRY_BACKOFF) * (2 ** (tries - 1))
    capped = min(base, float(app_settings.RETRY_BACKOFF_MAX))
    # Jitter spreads retries of many workers over time.
    return float(capped * random.uniform(0.5, 1.0))  # noqa: S311


def _task_backend_supports_defer() -> bool:
    from .taskcompat import task_backends

    return bool(task_backends[app_settings.TASK_BACKEND].supports_defer)


def _release_for_retry(attempt: CallAttempt, *, delay: float, reason: str) -> bool:
    """Put a never-sent attempt back to ``pending`` for another try.

    Returns True when the caller should retry now (in this process, after sleeping),
    False when a deferred task will retry it. A backend that can defer (RQ) always
    gets a deferred task, so a worker never sleeps; the immediate backend retries
    in-process when the wait is at most ``INLINE_RETRY_MAX_WAIT`` seconds, and leaves
    longer waits to the reconciler.
    """
    next_try_at = timezone.now() + timedelta(seconds=delay)
    released = CallAttempt.objects.filter(pk=attempt.pk, status=Status.DISPATCHING).update(
        status=Status.PENDING, next_try_at=next_try_at, error=reason
    )
    if not released:
        # The reconciler gave up on it meanwhile: never send it again.
        return False
    logger.info(
        "call attempt %s not sent (%s); retrying in %.1f s",
        attempt.pk,
        reason,
        delay,
        extra={"attempt_id": attempt.pk, "status": Status.PENDING, "tries": attempt.tries},
    )
    if _task_backend_supports_defer():
        call_attempt_enqueue(attempt_id=attempt.pk, run_after=next_try_at)
        return False
    if delay > float(app_settings.INLINE_RETRY_MAX_WAIT):
        # Too long to hold a request open (e.g. a long Retry-After): it stays pending
        # and the reconciler sends it once it is due.
        return False
    time.sleep(delay)
    return True


def _postpone(attempt_id: int, *, hold: reliability.Hold) -> CallAttempt:
    """Leave an unclaimed attempt ``pending`` until ``hold.retry_at``.

    A backend that can defer gets a task for then; otherwise the reconciler sends it
    once it is due (``next_try_at``).
    """
    next_try_at = datetime.fromtimestamp(hold.retry_at, tz=UTC)
    postponed = CallAttempt.objects.filter(pk=attempt_id, status=Status.PENDING).update(
        next_try_at=next_try_at
    )
    if postponed and _task_backend_supports_defer():
        call_attempt_enqueue(attempt_id=attempt_id, run_after=next_try_at)
    attempt = CallAttempt.objects.select_related("queue", "agent").get(pk=attempt_id)
    logger.info(
        "call attempt %s postponed until %s: %s",
        attempt_id,
        next_try_at.isoformat(),
        hold.reason,
        extra={"attempt_id": attempt_id, "status": attempt.status, "tries": attempt.tries},
    )
    return attempt


@dataclass(frozen=True)
class ReconcileReport:
    requeued: list[int]
    marked_unknown: list[int]


def call_attempt_reconcile(
    *,
    pending_after: float | None = None,
    dispatching_after: float | None = None,
    limit: int = 1000,
) -> ReconcileReport:
    """Repair what lost tasks and lost workers left behind; safe to run concurrently.

    - A ``pending`` attempt due (``next_try_at``, else ``created_at``) more than
      ``pending_after`` seconds ago lost its task: it is queued again. The
      conditional UPDATE that moves ``next_try_at`` to now is a lease, so of several
      reconcilers running at once exactly one queues each attempt.
    - A ``dispatching`` attempt claimed more than ``dispatching_after`` seconds ago
      (default :func:`dispatching_lost_after`: the total timeout +
      ``RECONCILE_DISPATCHING_MARGIN``) lost its worker mid-call: it becomes
      ``unknown`` and is never dialled again (a worker never starts sending later than
      the margin after its claim).
    """
    if pending_after is None:
        pending_after = float(app_settings.RECONCILE_PENDING_AFTER)
    if dispatching_after is None:
        dispatching_after = dispatching_lost_after()
    now = timezone.now()
    pending_cutoff = now - timedelta(seconds=pending_after)
    lost_task = Q(status=Status.PENDING) & (
        Q(next_try_at__isnull=True, created_at__lte=pending_cutoff)
        | Q(next_try_at__lte=pending_cutoff)
    )
    requeued: list[int] = []
    for pk in (
        CallAttempt.objects.filter(lost_task).order_by("pk").values_list("pk", flat=True)[:limit]
    ):
        if CallAttempt.objects.filter(lost_task, pk=pk).update(next_try_at=now):
            call_attempt_enqueue(attempt_id=pk)
            requeued.append(pk)
            logger.info(
                "call attempt %s queued again by the reconciler",
                pk,
                extra={"attempt_id": pk, "status": Status.PENDING},
            )

    dispatching_cutoff = now - timedelta(seconds=dispatching_after)
    lost_worker = Q(status=Status.DISPATCHING, dispatched_at__lte=dispatching_cutoff)
    marked: list[int] = []
    for pk in (
        CallAttempt.objects.filter(lost_worker).order_by("pk").values_list("pk", flat=True)[:limit]
    ):
        with transaction.atomic():
            updated = CallAttempt.objects.filter(lost_worker, pk=pk).update(
                status=Status.UNKNOWN,
                error=(
                    f"No outcome was recorded within {dispatching_after:g} s of sending "
                    "(the worker was lost); the call may have been placed."
                ),
                finished_at=now,
                next_try_at=None,
            )
            if not updated:
                continue
            attempt = CallAttempt.objects.get(pk=pk)
            _copy_outcome_to_contact(attempt)
            transaction.on_commit(lambda attempt=attempt: _send_finished(attempt))  # type: ignore[misc]
        marked.append(pk)
        logger.warning(
            "call attempt %s unknown: its worker was lost mid-call",
            pk,
            extra={"attempt_id": pk, "status": Status.UNKNOWN, "tries": attempt.tries},
        )
    return ReconcileReport(requeued=requeued, marked_unknown=marked)


def _finish_with_response(
    attempt: CallAttempt, response: ClickToAgentResponse, *, started: float
) -> CallAttempt:
    return _finish(
        attempt,
        Status.PLACED if response.ok else Status.FAILED,
        sid=response.sid if response.ok else "",
        result=response.result,
        result_description=response.result_description,
        started=started,
    )


def _finish(
    attempt: CallAttempt,
    status: str,
    *,
    started: float,
    sid: str = "",
    result: str = "",
    result_description: str = "",
    error: str = "",
) -> CallAttempt:
    now = timezone.now()
    with transaction.atomic():
        # An answer that arrives after the reconciler gave up on the attempt still wins.
        updated = CallAttempt.objects.filter(
            pk=attempt.pk, status__in=[Status.DISPATCHING, Status.UNKNOWN], sid=""
        ).update(
            status=status,
            sid=sid,
            result=result,
            result_description=result_description,
            error=error,
            finished_at=now,
            next_try_at=None,
        )
        attempt.refresh_from_db()
        if updated:
            _copy_outcome_to_contact(attempt)
            transaction.on_commit(lambda: _send_finished(attempt))
    logger.info(
        "call attempt %s %s",
        attempt.pk,
        attempt.status,
        extra={
            "attempt_id": attempt.pk,
            "status": attempt.status,
            "sid": attempt.sid,
            "tries": attempt.tries,
            "duration_ms": round((time.monotonic() - started) * 1000),
        },
    )
    return attempt


def _copy_outcome_to_contact(attempt: CallAttempt) -> None:
    fields: dict[str, str] = app_settings.CONTACT_FIELDS
    if not fields or attempt.content_type is None or not attempt.object_id:
        return
    model = attempt.content_type.model_class()
    if model is None:
        return
    values: dict[str, Any] = {}
    for outcome, field_name in fields.items():
        if outcome not in OUTCOME_NAMES:
            continue
        try:
            model._meta.get_field(field_name)
        except FieldDoesNotExist:
            logger.warning(
                "CONTACT_FIELDS maps %s to %s, which %s does not have",
                outcome,
                field_name,
                model._meta.label,
            )
            continue
        values[field_name] = getattr(attempt, outcome)
    if not values:
        return
    try:
        # A savepoint: a contact that cannot take the values never rolls back the outcome.
        with transaction.atomic():
            model._default_manager.filter(pk=attempt.object_id).update(**values)
    except (DatabaseError, ValueError, TypeError, ValidationError) as err:
        logger.error(
            "could not copy the outcome of call attempt %s onto %s %s (%s); check "
            "CLICKTOAGENT['CONTACT_FIELDS']",
            attempt.pk,
            model._meta.label,
            attempt.object_id,
            type(err).__name__,
            extra={"attempt_id": attempt.pk},
        )


def _send_finished(attempt: CallAttempt) -> None:
    """Tell the host project; a failing receiver is logged, never undoes the outcome."""
    for receiver, response in call_attempt_finished.send_robust(
        sender=CallAttempt, attempt=attempt
    ):
        if isinstance(response, Exception):
            logger.error(
                "call_attempt_finished receiver %s failed for call attempt %s (%s)",
                getattr(receiver, "__qualname__", receiver),
                attempt.pk,
                type(response).__name__,
                extra={"attempt_id": attempt.pk},
            )


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


def call_attempt_retry_get_or_create(
    *,
    attempt: CallAttempt,
    source: str,
    requested_by: AbstractBaseUser | None = None,
    confirm_unknown: bool = False,
) -> tuple[CallAttempt, bool]:
    """Make a new attempt with the same call details, linked by ``retry_of``.

    Only ``failed`` and ``unknown`` attempts can be retried. For ``unknown`` the
    contact may already have been called, so the caller must have asked the user and
    pass ``confirm_unknown=True``; otherwise ``UnconfirmedRetryError``. An attempt is
    retried at most once: retrying it again returns the same new attempt and
    ``created=False`` (no confirmation needed: nobody is dialled), so a double click
    never dials twice.
    """
    if attempt.status not in (Status.FAILED, Status.UNKNOWN):
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
        queue_id=attempt.queue.queue_id,
        agent_id=attempt.agent.agent_id,
        phone_to_call=attempt.phone_to_call,
        first_callerid=attempt.first_callerid,
        second_callerid=attempt.second_callerid,
        record=attempt.record,
        warning=attempt.warning,
        contact=attempt.contact,
        contact_ref=attempt.contact_ref,
        source=source,
        requested_by=requested_by,
        idempotency_key=key,
        retry_of=attempt,
    )


def call_attempt_retry(
    *,
    attempt: CallAttempt,
    source: str,
    requested_by: AbstractBaseUser | None = None,
    confirm_unknown: bool = False,
) -> CallAttempt:
    """Like :func:`call_attempt_retry_get_or_create`, returning only the new attempt."""
    return call_attempt_retry_get_or_create(
        attempt=attempt,
        source=source,
        requested_by=requested_by,
        confirm_unknown=confirm_unknown,
    )[0]


@dataclass(frozen=True)
class ContactCallOutcome:
    """What happened to one contact of a multi-contact call request.

    Either ``attempt`` is set (``created`` False when an earlier submission with the
    same idempotency key already made it: nothing was dialled again), or
    ``skipped_reason`` says why no attempt was made for this contact.
    """

    contact: models.Model
    phone: str
    attempt: CallAttempt | None = None
    created: bool = False
    skipped_reason: str = ""


def contact_phone_check(*, phone: str) -> str:
    """Return ``""`` when ``phone`` can be called, else the reason it cannot."""
    if not (phone or "").strip():
        return "No phone number."
    try:
        normalize_phone(phone)
    except ValidationError as err:
        return " ".join(err.messages)
    return ""


def contacts_call(
    *,
    contacts: list[tuple[models.Model, str]],
    queue_id: str,
    agent_id: str,
    source: str,
    first_callerid: str = "",
    second_callerid: str = "",
    record: int | None = None,
    warning: int | None = None,
    requested_by: AbstractBaseUser | None = None,
    idempotency_prefix: str | None = None,
) -> list[ContactCallOutcome]:
    """Make one attempt per ``(contact, phone)`` pair, linked to the contact.

    Contacts whose phone is empty or invalid are skipped with the reason; the others
    are called. Options shared by every call (queue, agent, caller ids, record,
    warning) are checked first: if any is wrong ``ValidationError`` is raised and
    nothing is stored. All attempts are stored in one transaction and dispatched once
    it commits. With ``idempotency_prefix`` each attempt gets the key
    ``<prefix>:<content type id>:<pk>``, so submitting the same request again returns
    the same attempts (``created=False``) instead of dialling again.
    """
    outcomes: list[ContactCallOutcome | None] = []
    callable_phone = ""
    for contact, phone in contacts:
        reason = contact_phone_check(phone=phone)
        if reason:
            outcomes.append(ContactCallOutcome(contact=contact, phone=phone, skipped_reason=reason))
        else:
            outcomes.append(None)
            callable_phone = callable_phone or phone
    if not callable_phone:
        return [outcome for outcome in outcomes if outcome is not None]
    # The shared options are checked once, up front, so a wrong option stores nothing.
    call_request_validate(
        queue_id=queue_id,
        agent_id=agent_id,
        phone_to_call=callable_phone,
        first_callerid=first_callerid,
        second_callerid=second_callerid,
        record=record,
        warning=warning,
    )
    with transaction.atomic():
        for index, (contact, phone) in enumerate(contacts):
            if outcomes[index] is not None:
                continue
            key = None
            if idempotency_prefix:
                content_type = ContentType.objects.get_for_model(contact)
                key = f"{idempotency_prefix}:{content_type.pk}:{contact.pk}"
            try:
                attempt, created = call_attempt_get_or_create(
                    queue_id=queue_id,
                    agent_id=agent_id,
                    phone_to_call=phone,
                    first_callerid=first_callerid,
                    second_callerid=second_callerid,
                    record=record,
                    warning=warning,
                    contact=contact,
                    source=source,
                    requested_by=requested_by,
                    idempotency_key=key,
                )
            except IdempotencyConflictError:
                outcomes[index] = ContactCallOutcome(
                    contact=contact,
                    phone=phone,
                    skipped_reason=(
                        "This form was already submitted with other options; nothing was "
                        "dialled again. Start again from the contact list to place a new call."
                    ),
                )
                continue
            outcomes[index] = ContactCallOutcome(
                contact=contact, phone=phone, attempt=attempt, created=created
            )
    return [outcome for outcome in outcomes if outcome is not None]


def contact_call(
    *,
    phone_to_call: str,
    source: str,
    requested_by: AbstractBaseUser,
    contact: models.Model | None = None,
    queue_id: str = "",
    agent_id: str = "",
    idempotency_key: str | None = None,
) -> tuple[CallAttempt, bool]:
    """Call one contact for a user, e.g. from a call button on a host page.

    Without ``agent_id`` the call goes to the agent the user works as; without
    ``queue_id``, to that agent's first active queue. Returns ``(attempt, created)``
    as :func:`call_attempt_get_or_create` does.
    """
    from .selectors import agent_first_queue, agent_for_user

    if not agent_id:
        own_agent = agent_for_user(user=requested_by)
        if own_agent is None:
            raise ValidationError(
                {
                    "agent_id": [
                        "No agent to ring: you do not work as an active agent. Link your user "
                        "to an agent, or give the call button an agent and a queue."
                    ]
                }
            )
        agent_id = own_agent.agent_id
    if not queue_id:
        agent = Agent.objects.filter(agent_id=agent_id).first()
        queue = agent_first_queue(agent=agent) if agent is not None else None
        if queue is None:
            raise ValidationError(
                {"queue_id": [f"Agent {agent_id!r} is not a member of any active queue."]}
            )
        queue_id = queue.queue_id
    return call_attempt_get_or_create(
        queue_id=queue_id,
        agent_id=agent_id,
        phone_to_call=phone_to_call,
        contact=contact,
        source=source,
        requested_by=requested_by,
        idempotency_key=idempotency_key,
    )


# --------------------------------------------------------------------------- agents, queues

AGENT_FIELDS = frozenset({"agent_id", "name", "phone", "is_active", "queue_ids"})
QUEUE_FIELDS = frozenset({"queue_id", "name", "is_active"})


def _queues_by_id(queue_ids: Iterable[str]) -> list[Queue]:
    wanted = list(dict.fromkeys(str(queue_id) for queue_id in queue_ids))
    found = {queue.queue_id: queue for queue in Queue.objects.filter(queue_id__in=wanted)}
    unknown = [queue_id for queue_id in wanted if queue_id not in found]
    if unknown:
        raise ValidationError(
            {"queue_ids": [f"Unknown queue_id {queue_id!r}." for queue_id in unknown]}
        )
    return [found[queue_id] for queue_id in wanted]


def _agent_save(agent: Agent, *, queue_ids: Iterable[str] | None) -> Agent:
    errors: dict[str, list[str]] = {}
    if agent.phone:
        try:
            agent.phone = normalize_phone(agent.phone)
        except ValidationError as err:
            errors["phone"] = err.messages
    queues: list[Queue] | None = None
    if queue_ids is not None:
        try:
            queues = _queues_by_id(queue_ids)
        except ValidationError as err:
            errors.update(err.message_dict)
    try:
        agent.full_clean(exclude=["phone"] if "phone" in errors else None)
    except ValidationError as err:
        errors.update(err.message_dict)
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            agent.save()
            if queues is not None:
                agent.queues.set(queues)
    except IntegrityError:
        # A concurrent request stored the same agent_id first.
        raise ValidationError(
            {"agent_id": [f"An agent with agent_id {agent.agent_id!r} already exists."]}
        ) from None
    return agent


def agent_create(
    *,
    agent_id: str,
    name: str = "",
    phone: str = "",
    is_active: bool = True,
    queue_ids: Iterable[str] = (),
) -> Agent:
    """Store a DialogTech agent and its queue memberships (``queue_ids``).

    The phone number is normalised like every other number; an unknown ``queue_id``,
    a duplicate ``agent_id`` or a bad phone number raise ``ValidationError`` per field.
    """
    agent = Agent(agent_id=agent_id, name=name, phone=phone, is_active=is_active)
    return _agent_save(agent, queue_ids=queue_ids)


def agent_update(*, agent: Agent, data: Mapping[str, Any]) -> Agent:
    """Change the given fields of an agent (any of :data:`AGENT_FIELDS`).

    ``queue_ids``, when given, replaces the agent's queue memberships.
    """
    unknown = sorted(set(data) - AGENT_FIELDS)
    if unknown:
        raise TypeError(f"agent_update() got unknown field(s): {', '.join(unknown)}")
    for field in AGENT_FIELDS - {"queue_ids"}:
        if field in data:
            setattr(agent, field, data[field])
    return _agent_save(agent, queue_ids=data.get("queue_ids"))


def _queue_save(queue: Queue) -> Queue:
    queue.full_clean()
    try:
        with transaction.atomic():
            queue.save()
    except IntegrityError:
        raise ValidationError(
            {"queue_id": [f"A queue with queue_id {queue.queue_id!r} already exists."]}
        ) from None
    return queue


def queue_create(*, queue_id: str, name: str = "", is_active: bool = True) -> Queue:
    """Store a DialogTech queue (a call distributor building block)."""
    return _queue_save(Queue(queue_id=queue_id, name=name, is_active=is_active))


def queue_update(*, queue: Queue, data: Mapping[str, Any]) -> Queue:
    """Change the given fields of a queue (any of :data:`QUEUE_FIELDS`)."""
    unknown = sorted(set(data) - QUEUE_FIELDS)
    if unknown:
        raise TypeError(f"queue_update() got unknown field(s): {', '.join(unknown)}")
    for field in QUEUE_FIELDS:
        if field in data:
            setattr(queue, field, data[field])
    return _queue_save(queue)
