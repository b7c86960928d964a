"""Sending one attempt: claim it, send it, record the outcome, or say when to try again.

Nothing here queues a task: :func:`call_attempt_send` returns when the attempt is due
again, and ``tasks.py`` decides how that later try happens.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import router
from django.db.models import Q
from django.utils import timezone

from ..conf import app_settings, dialogtech_total_timeout
from ..dialogtech.client import ClickToAgentRequest, get_client
from ..exceptions import (
    ConfigurationError,
    MaybeSentError,
    NotSentError,
    RejectedError,
    SendCancelledError,
)
from ..models import CallAttempt
from ..policy.checks import call_check_for
from . import breaker, rate_limit
from .claim import (
    ANSWERABLE,
    call_attempt_claim,
    call_attempt_claim_and_read,
    call_attempt_read,
    claim_and_read_supported,
)
from .hold import Hold
from .outcome import call_attempt_block, call_attempt_finish
from .retry import backoff

logger = logging.getLogger("clicktoagent")

Status = CallAttempt.Status


@dataclass(frozen=True)
class SendStep:
    """What one pass of :func:`call_attempt_send` left behind.

    ``retry_at`` is set when the attempt is ``pending`` again and due then (it was held
    back, or its request certainly never reached DialogTech); ``backoff`` is set only in
    the second case: the seconds a caller may wait in-process before trying again.
    """

    attempt: CallAttempt
    retry_at: datetime | None = None
    backoff: float | None = None


def call_attempt_send(*, attempt_id: int) -> SendStep:
    """Send a ``pending`` attempt once, at most once, and record the outcome.

    The claim is one conditional UPDATE, so however many workers receive the same
    attempt only one sends it. A request that certainly never reached DialogTech puts
    the attempt back to ``pending`` (until ``MAX_TRIES``); anything that may have
    reached it and gave no usable answer ends ``unknown``. While the circuit breaker is
    open, or the per-minute request cap is used up, the attempt is not claimed: it
    stays ``pending`` with ``next_try_at`` set.

    When nothing has to be checked before the claim (no safe-calling rules, no request
    cap, the breaker closed) the claim and the read are one statement on PostgreSQL;
    an attempt that statement did not claim is read and handled as below.
    """
    if _nothing_to_check_before_the_claim():
        read = call_attempt_claim_and_read(
            attempt_id, now=timezone.now(), using=router.db_for_write(CallAttempt)
        )
        if read is not None:
            return call_attempt_send_claimed(read)
    using = router.db_for_write(CallAttempt)
    attempt = call_attempt_read(attempt_id, using=using)
    if attempt.status != Status.PENDING:
        # Checked before the breaker so a duplicate task never uses up the probe.
        return SendStep(_not_dispatched(attempt))
    if app_settings.SAFE_CALLING_RULES:
        held = _safe_calling_recheck(attempt)
        if held is not None:
            return held
    hold = _dispatch_hold()
    if hold is not None:
        return _postpone(attempt, hold=hold)
    now = timezone.now()
    if not call_attempt_claim(attempt_id, now=now, using=using):
        attempt.refresh_from_db()
        return SendStep(_not_dispatched(attempt))
    # Only the claimer changes a claimed row: the values just written are the row's.
    attempt.status, attempt.dispatched_at, attempt.next_try_at = Status.DISPATCHING, now, None
    attempt.tries += 1
    return call_attempt_send_claimed(attempt)


def _nothing_to_check_before_the_claim() -> bool:
    """Whether the claim may come first, in the same statement as the read: no
    safe-calling rule to check again, no request cap to count, the circuit breaker
    closed (each would need the attempt, or change something, before the claim), and a
    database that claims and reads at once. Otherwise the attempt is read, checked, then
    claimed."""
    return (
        not app_settings.SAFE_CALLING_RULES
        and int(app_settings.RATE_LIMIT_PER_MINUTE) <= 0
        and claim_and_read_supported(router.db_for_write(CallAttempt))
        and breaker.circuit_closed()
    )


def _dispatch_hold() -> Hold | None:
    """Whether dispatch must wait now: the circuit breaker, then the request cap (which
    takes a request from this minute's budget when it lets one go)."""
    return breaker.circuit_hold() or rate_limit.rate_limit_acquire()


def inline_claim_renew(attempt: CallAttempt) -> None:
    """Before sending an attempt stored already claimed: if the transaction that stored
    it committed later than ``RECONCILE_DISPATCHING_MARGIN`` after the claim (a long
    transaction of the host's), stamp the claim again, so the call is not refused as
    held up. Conditional on the claim being untouched, so a reconciler that already gave
    it up wins."""
    if _still_ours_to_send(attempt):
        return
    now = timezone.now()
    if CallAttempt.objects.filter(
        pk=attempt.pk, status=Status.DISPATCHING, dispatched_at=attempt.dispatched_at
    ).update(dispatched_at=now):
        attempt.dispatched_at = now


def inline_claim() -> dict[str, object] | None:
    """The fields of an attempt stored already claimed, for a process that sends it as
    soon as it is committed (the immediate task backend): nobody else can see it before,
    so the claim costs nothing. None when dispatch must wait (the circuit breaker, the
    request cap): store it ``pending`` then, and send it the usual way."""
    if _dispatch_hold() is not None:
        return None
    return {"status": Status.DISPATCHING, "dispatched_at": timezone.now(), "tries": 1}


def call_attempt_send_claimed(attempt: CallAttempt) -> SendStep:
    """Send an attempt this process has claimed (``dispatching``), and record the outcome.

    A process that stops after the claim leaves it ``dispatching``: the reconciler
    ends it ``unknown`` once it is older than :func:`dispatching_lost_after`.
    """
    attempt_id = attempt.pk
    started = time.monotonic()
    logger.info(
        "call attempt %s dispatching",
        attempt_id,
        extra={"attempt_id": attempt_id, "status": attempt.status, "tries": attempt.tries},
    )
    try:
        response = get_client().click_to_agent(
            _dialogtech_request(attempt), may_send=lambda: _still_ours_to_send(attempt)
        )
    except SendCancelledError:
        return SendStep(_finish_not_sent_too_late(attempt, started=started))
    except NotSentError as err:
        breaker.circuit_record_not_sent()
        if attempt.tries >= app_settings.MAX_TRIES:
            error = f"{err} Gave up after {attempt.tries} tries."
            return SendStep(_finish(attempt, Status.FAILED, error=error, started=started))
        return _release_for_retry(attempt, retry_after=err.retry_after, reason=str(err))
    except (ConfigurationError, RejectedError) as err:
        if isinstance(err, RejectedError):
            breaker.circuit_record_reached()
        return SendStep(_finish(attempt, Status.FAILED, error=str(err), started=started))
    except MaybeSentError as err:
        breaker.circuit_record_reached()
        return SendStep(_finish(attempt, Status.UNKNOWN, error=str(err), started=started))
    except Exception as err:
        # A bug of ours after the claim: we cannot tell whether the call went out.
        logger.exception(
            "unexpected error dispatching call attempt %s",
            attempt_id,
            extra={"attempt_id": attempt_id},
        )
        error = f"Unexpected error while placing the call ({type(err).__name__})."
        return SendStep(_finish(attempt, Status.UNKNOWN, error=error, started=started))
    breaker.circuit_record_reached()
    return SendStep(
        _finish(
            attempt,
            Status.PLACED if response.ok else Status.FAILED,
            sid=response.sid if response.ok else "",
            result=response.result,
            result_description=response.result_description,
            started=started,
        )
    )


def _safe_calling_recheck(attempt: CallAttempt) -> SendStep | None:
    """The safe-calling rules again, right before the claim: a call allowed when it was
    created (20:55) may not be any more (21:05). None: go on and send it. Otherwise it
    waits for the next allowed moment (``outside_hours="schedule"`` and only time rules
    broken) or ends ``blocked``."""
    check = call_check_for(
        attempt,
        contact_region=attempt.contact_region,
        override=bool(attempt.override_reason),
        exclude_attempt_id=attempt.pk,
    )
    pending = CallAttempt.objects.filter(pk=attempt.pk, status=Status.PENDING)
    if check.allowed:
        if check.adjustments:
            values = check.attempt_values()
            pending.update(**values)
            for name, value in values.items():
                setattr(attempt, name, value)
        return None
    if check.schedules(attempt.outside_hours):
        assert check.next_allowed_at is not None
        attempt.violations = check.violation_dicts()
        pending.update(violations=attempt.violations)
        hold = Hold(reason=check.summary(), retry_at=check.next_allowed_at.timestamp())
        return _postpone(attempt, hold=hold)
    call_attempt_block(attempt, error=check.summary(), **check.attempt_values())
    return SendStep(attempt)


def _dialogtech_request(attempt: CallAttempt) -> ClickToAgentRequest:
    """The stored call as DialogTech takes it (the client knows nothing of models)."""
    return ClickToAgentRequest(
        queue_id=attempt.queue.queue_id,
        agent_id=attempt.agent.agent_id,
        phone_to_call=attempt.phone_to_call,
        first_callerid=attempt.first_callerid,
        second_callerid=attempt.second_callerid,
        record=attempt.record,
        warning=attempt.warning,
    )


def dispatching_lost_after() -> float:
    """Seconds after its claim when the reconciler gives a ``dispatching`` attempt up as
    lost: the longest a request may take, plus ``RECONCILE_DISPATCHING_MARGIN``."""
    return dialogtech_total_timeout() + float(app_settings.RECONCILE_DISPATCHING_MARGIN)


def _still_ours_to_send(attempt: CallAttempt) -> bool:
    """Asked right before the request is written: is the claim fresh enough to send?

    A request must start within ``RECONCILE_DISPATCHING_MARGIN`` of the claim, so that
    even at its total timeout it ends before the reconciler's cut-off: a worker that
    stalled (paused VM, stopped process) never sends an attempt the reconciler has
    given up on, or is about to. The claim's time is the one this process wrote, read
    against the same wall clock (which a paused machine puts right when it resumes), so
    no query is needed: nobody else changes a claimed row within the margin.
    """
    window = float(app_settings.RECONCILE_DISPATCHING_MARGIN)
    claimed_at = attempt.dispatched_at
    return claimed_at is not None and timezone.now() - claimed_at < timedelta(seconds=window)


def _finish_not_sent_too_late(attempt: CallAttempt, *, started: float) -> CallAttempt:
    """The worker resumed too long after its claim and sent nothing: the attempt fails
    (a retry is safe), unless the reconciler already closed it."""
    window = float(app_settings.RECONCILE_DISPATCHING_MARGIN)
    error = (
        f"Not sent: this worker was held up for more than {window:g} s between claiming "
        "the attempt and sending it (RECONCILE_DISPATCHING_MARGIN), so it sent nothing. "
        "The contact was not called; retry it to place the call."
    )
    call_attempt_finish(
        attempt, where=Q(status=Status.DISPATCHING), status=Status.FAILED, error=error
    )
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
    call_attempt_finish(
        attempt,
        where=ANSWERABLE,
        status=status,
        sid=sid,
        result=result,
        result_description=result_description,
        error=error,
    )
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


def _not_dispatched(attempt: CallAttempt) -> CallAttempt:
    logger.info(
        "call attempt %s not dispatched: it is %s",
        attempt.pk,
        attempt.status,
        extra={"attempt_id": attempt.pk, "status": attempt.status},
    )
    return attempt


def _release_for_retry(attempt: CallAttempt, *, retry_after: float | None, reason: str) -> SendStep:
    """Put a never-sent attempt back to ``pending`` for another try, after a backoff
    (DialogTech's ``Retry-After`` when it gave one)."""
    delay = backoff(
        attempt.tries,
        first=float(app_settings.RETRY_BACKOFF),
        most=float(app_settings.RETRY_BACKOFF_MAX),
        retry_after=retry_after,
    )
    next_try_at = timezone.now() + timedelta(seconds=delay)
    released = CallAttempt.objects.filter(pk=attempt.pk, status=Status.DISPATCHING).update(
        status=Status.PENDING, next_try_at=next_try_at, error=reason
    )
    if not released:
        # The reconciler gave up on it meanwhile: never send it again.
        attempt.refresh_from_db()
        return SendStep(attempt)
    attempt.status, attempt.next_try_at, attempt.error = Status.PENDING, next_try_at, reason
    logger.info(
        "call attempt %s not sent (%s); retrying in %.1f s",
        attempt.pk,
        reason,
        delay,
        extra={"attempt_id": attempt.pk, "status": Status.PENDING, "tries": attempt.tries},
    )
    return SendStep(attempt, retry_at=next_try_at, backoff=delay)


def _postpone(attempt: CallAttempt, *, hold: Hold) -> SendStep:
    """Leave an unclaimed attempt ``pending`` until ``hold.retry_at`` (``next_try_at``)."""
    next_try_at = datetime.fromtimestamp(hold.retry_at, tz=UTC)
    postponed = CallAttempt.objects.filter(pk=attempt.pk, status=Status.PENDING).update(
        next_try_at=next_try_at
    )
    if postponed:
        attempt.next_try_at = next_try_at
    else:
        attempt.refresh_from_db()
    attempt_id = attempt.pk
    logger.info(
        "call attempt %s postponed until %s: %s",
        attempt_id,
        next_try_at.isoformat(),
        hold.reason,
        extra={"attempt_id": attempt_id, "status": attempt.status, "tries": attempt.tries},
    )
    return SendStep(attempt, retry_at=next_try_at if postponed else None)
