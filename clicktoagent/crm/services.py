"""CRM write-back rules: schedule, claim, write, finish, reconcile. The only code that
writes CrmWriteback.

Exactly one activity per finished attempt:

- one row per attempt (unique), created when the attempt finishes, so concurrent
  finishes and redelivered tasks share it;
- each try is claimed with one conditional UPDATE (pending, due, tries left) that also
  leases it, so of any number of tasks only one writes at a time;
- right before a create request the row is marked ``maybe_written``; when no answer comes
  back (or the worker is lost), the next try looks the activity up by its lookup key
  before creating one, and where the CRM allows no lookup (Pipedrive) the write-back
  ends ``unknown``: never created twice.
"""

from __future__ import annotations

import logging
import secrets
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta

import phonenumbers
from django.db import IntegrityError, router, transaction
from django.db.models import F, Q
from django.utils import timezone

from ..conf import app_settings
from ..dispatch.retry import backend_can_defer, backoff, rows_won, task_enqueue
from ..exceptions import InvalidTransitionError
from ..models import CallAttempt, CrmProvider, CrmUserMapping, CrmWriteback
from ..taskcompat import runs_immediately, task
from .client import (
    CallActivity,
    CrmClient,
    CrmMaybeWrittenError,
    CrmNotWrittenError,
    CrmRefusedError,
)
from .hubspot import HubSpotClient
from .pipedrive import PipedriveClient
from .refs import ContactRefError, crm_provider_of, parse_contact_ref
from .salesforce import SalesforceClient

logger = logging.getLogger("clicktoagent.crm")

Status = CrmWriteback.Status
AttemptStatus = CallAttempt.Status
# Blocked attempts too: the CRM record then says which safe-calling rule stopped the call.
FINISHED = (
    AttemptStatus.PLACED,
    AttemptStatus.FAILED,
    AttemptStatus.UNKNOWN,
    AttemptStatus.BLOCKED,
)
# Most requests one try makes (Salesforce: token, lookup and create, each with one new
# token after a 401): the lease of a try covers them all.
MAX_REQUESTS_PER_TRY = 6


# Each CRM's client knows its own settings; adding a CRM adds a line here.
CLIENTS: dict[str, type[CrmClient]] = {
    CrmProvider.HUBSPOT: HubSpotClient,
    CrmProvider.SALESFORCE: SalesforceClient,
    CrmProvider.PIPEDRIVE: PipedriveClient,
}


def crm_writeback_enabled(provider: str) -> bool:
    """A provider's write-back is on when its credentials are set."""
    client_class = CLIENTS.get(provider)
    return client_class is not None and client_class.configured()


def crm_client_for(provider: str) -> CrmClient:
    """The write-back client of ``provider``, from the settings."""
    return CLIENTS[provider].from_settings(timeout=float(app_settings.CRM_WRITEBACK_TIMEOUT))


# -- schedule ------------------------------------------------------------------------


def crm_writeback_schedule(*, attempt: CallAttempt) -> CrmWriteback | None:
    """Start the write-back of a finished attempt whose ``contact_ref`` names a record of
    a provider with write-back on; None when there is nothing to write back.

    A second finish of the same attempt (a late answer after ``unknown``) finds the row
    and changes nothing: a pending write-back writes the outcome current when it runs.
    """
    if attempt.status not in FINISHED:
        return None
    provider = crm_provider_of(attempt.contact_ref)
    if provider is None or not crm_writeback_enabled(provider):
        return None
    problem = ""
    object_type = object_id = ""
    try:
        record = parse_contact_ref(attempt.contact_ref)
    except ContactRefError as err:
        problem = f"contact_ref {attempt.contact_ref!r} names no {provider} record: {err}"
    else:
        assert record is not None
        object_type, object_id = record.object_type, record.object_id
    writeback = _create_once(
        CrmWriteback(
            attempt=attempt,
            provider=provider,
            object_type=object_type,
            object_id=object_id,
            status=Status.FAILED if problem else Status.PENDING,
            last_error=problem,
            next_try_at=None if problem else timezone.now(),
        )
    )
    if writeback is None:
        return CrmWriteback.objects.get(attempt=attempt)
    if problem:
        logger.warning("CRM write-back of call attempt %s failed: %s", attempt.pk, problem)
        return writeback
    logger.info(
        "CRM write-back %s of call attempt %s to %s scheduled",
        writeback.pk,
        attempt.pk,
        writeback.contact_ref,
    )
    _enqueue(writeback_id=writeback.pk)
    if runs_immediately(app_settings.TASK_BACKEND):
        writeback.refresh_from_db()  # the write-back ran inside _enqueue
    return writeback


def _create_once(writeback: CrmWriteback) -> CrmWriteback | None:
    """Insert the attempt's write-back row; None when it has one already (a second finish
    of the attempt, or the same signal received twice, at once or later). Most finishes
    are first finishes, so the insert comes first, with no read before it. Inside the
    caller's transaction, in a savepoint: a refused insert leaves that transaction
    usable. Outside any (a worker finishing an attempt), one statement in autocommit:
    a refused insert leaves nothing to roll back."""
    using = router.db_for_write(CrmWriteback)
    try:
        inside = transaction.get_connection(using).in_atomic_block
        with transaction.atomic(using=using) if inside else nullcontext():
            writeback.save(force_insert=True, using=using)
    except IntegrityError:
        if CrmWriteback.objects.using(using).filter(attempt_id=writeback.attempt_id).exists():
            return None
        raise
    return writeback


@task()
def write_back_call_attempt(writeback_id: int) -> str:
    """Log a finished attempt as a call activity on its CRM record (one try)."""
    return crm_writeback_write(writeback_id=writeback_id)


def _enqueue(*, writeback_id: int, run_after: datetime | None = None) -> None:
    """Queue one try. A failure to queue leaves it ``pending`` for the reconciler."""
    task_enqueue(
        write_back_call_attempt,
        what=f"CRM write-back {writeback_id}",
        logger=logger,
        run_after=run_after,
        writeback_id=writeback_id,
    )


# -- one try -------------------------------------------------------------------------


def crm_writeback_lease_seconds() -> float:
    """How long a claimed try holds its write-back before the reconciler may take it."""
    return float(app_settings.CRM_WRITEBACK_TIMEOUT) * MAX_REQUESTS_PER_TRY + float(
        app_settings.RECONCILE_DISPATCHING_MARGIN
    )


def crm_writeback_write(*, writeback_id: int) -> str:
    """Try once to log the attempt on its CRM record; returns the write-back's status.

    Never sleeps: a try that may be retried is scheduled again, as a deferred task when
    the backend can defer, otherwise left ``pending`` with ``next_try_at`` for
    ``clicktoagent_reconcile``. Each request ends within ``CRM_WRITEBACK_TIMEOUT``.
    """
    max_tries = int(app_settings.CRM_WRITEBACK_MAX_TRIES)
    now = timezone.now()
    claimed = CrmWriteback.objects.filter(
        Q(next_try_at__isnull=True) | Q(next_try_at__lte=now),
        pk=writeback_id,
        status=Status.PENDING,
        tries__lt=max_tries,
    ).update(
        tries=F("tries") + 1,
        next_try_at=now + timedelta(seconds=crm_writeback_lease_seconds()),
    )
    writeback = CrmWriteback.objects.select_related("attempt__agent").get(pk=writeback_id)
    if not claimed:
        return str(writeback.status)
    client: CrmClient | None = None
    creating = False
    try:
        client = crm_client_for(writeback.provider)
        activity = _activity(writeback)
        if writeback.maybe_written:
            if not client.can_look_up:
                return _finish_unknown(writeback, client)
            found = client.find(activity)
            if found is not None:
                return _finish_written(writeback, found, looked_up=True)
            CrmWriteback.objects.filter(pk=writeback.pk).update(maybe_written=False)
        CrmWriteback.objects.filter(pk=writeback.pk).update(maybe_written=True)
        creating = True
        record_id = client.create(activity)
        return _finish_written(writeback, record_id, looked_up=False)
    except CrmRefusedError as err:
        if writeback.maybe_written and not creating and client is not None:
            # The lookup was refused, and an earlier create may have arrived.
            return _finish_unknown(writeback, client, reason=str(err), looked_up=True)
        return _finish_failed(writeback, str(err))
    except CrmMaybeWrittenError as err:
        assert client is not None
        if not client.can_look_up:
            return _finish_unknown(writeback, client, reason=str(err))
        return _retry_later(writeback, str(err), retry_after=None, maybe_written=True)
    except CrmNotWrittenError as err:
        # A lookup that failed keeps the mark: the create before it may have arrived.
        maybe = writeback.maybe_written and not creating
        return _retry_later(writeback, str(err), retry_after=err.retry_after, maybe_written=maybe)
    except Exception as err:
        # A bug of ours must not leave the try leased until the reconciler sees it.
        logger.exception("unexpected error in CRM write-back %s", writeback.pk)
        return _retry_later(
            writeback,
            f"Unexpected error while writing back ({type(err).__name__}).",
            retry_after=None,
            maybe_written=creating or writeback.maybe_written,
        )
    finally:
        if client is not None:
            client.close()


def _activity(writeback: CrmWriteback) -> CallActivity:
    attempt = CallAttempt.objects.select_related("agent").get(pk=writeback.attempt_id)
    try:
        record = parse_contact_ref(attempt.contact_ref)
    except ContactRefError as err:
        raise CrmRefusedError(f"contact_ref {attempt.contact_ref!r}: {err}") from None
    if record is None or record.provider != writeback.provider:
        raise CrmRefusedError(
            f"contact_ref {attempt.contact_ref!r} no longer names a {writeback.provider} record."
        )
    if not writeback.lookup_key:
        # Fixed at the first try: a late sid must not change what a lookup searches for.
        key = attempt.sid or f"clicktoagent-{attempt.pk}-{secrets.token_hex(6)}"
        CrmWriteback.objects.filter(pk=writeback.pk, lookup_key="").update(lookup_key=key)
        writeback.lookup_key = CrmWriteback.objects.values_list("lookup_key", flat=True).get(
            pk=writeback.pk
        )
    mapping = (
        CrmUserMapping.objects.filter(provider=writeback.provider, agent_id=attempt.agent_id)
        .order_by("pk")
        .first()
    )
    agent = attempt.agent
    finished = attempt.finished_at or timezone.now()
    return CallActivity(
        record=record,
        lookup_key=writeback.lookup_key,
        attempt_id=attempt.pk,
        status=attempt.status,
        sid=attempt.sid,
        result=attempt.result,
        result_description=attempt.result_description,
        error=attempt.error,
        phone_to_call=e164(attempt.phone_to_call),
        agent=f"{agent.name} (agent {agent.agent_id})" if agent.name else f"agent {agent.agent_id}",
        owner_id=mapping.crm_user_id if mapping else "",
        started_at=attempt.dispatched_at or attempt.created_at,
        finished_at=finished,
    )


def e164(phone: str) -> str:
    """A stored number (``3125550123``) in E.164 (``+13125550123``), as CRMs show it."""
    try:
        parsed = phonenumbers.parse(phone, app_settings.PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException:
        return phone
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def _finish_written(writeback: CrmWriteback, record_id: str, *, looked_up: bool) -> str:
    CrmWriteback.objects.filter(pk=writeback.pk).update(
        status=Status.WRITTEN,
        crm_record_id=record_id,
        last_error="",
        maybe_written=False,
        next_try_at=None,
        written_at=timezone.now(),
    )
    logger.info(
        "CRM write-back %s of call attempt %s %s: %s record %s",
        writeback.pk,
        writeback.attempt_id,
        "found after a lost answer" if looked_up else "written",
        writeback.get_provider_display(),
        record_id or "(no id given)",
    )
    return str(Status.WRITTEN)


def _finish_failed(writeback: CrmWriteback, error: str) -> str:
    CrmWriteback.objects.filter(pk=writeback.pk).update(
        status=Status.FAILED, last_error=error, maybe_written=False, next_try_at=None
    )
    logger.warning(
        "CRM write-back %s of call attempt %s failed: %s", writeback.pk, writeback.attempt_id, error
    )
    return str(Status.FAILED)


def _finish_unknown(
    writeback: CrmWriteback, client: CrmClient, *, reason: str = "", looked_up: bool = False
) -> str:
    cannot = (
        "it could not be looked up" if looked_up else f"{client.name} offers no way to look it up"
    )
    error = (
        f"{reason + ' ' if reason else ''}A create request may have reached {client.name} "
        f"and {cannot}, so it is not sent again: check the record's timeline."
    )
    CrmWriteback.objects.filter(pk=writeback.pk).update(
        status=Status.UNKNOWN, last_error=error, next_try_at=None
    )
    logger.warning(
        "CRM write-back %s of call attempt %s unknown: %s",
        writeback.pk,
        writeback.attempt_id,
        error,
    )
    return str(Status.UNKNOWN)


def _retry_later(
    writeback: CrmWriteback, error: str, *, retry_after: float | None, maybe_written: bool
) -> str:
    tries = CrmWriteback.objects.values_list("tries", flat=True).get(pk=writeback.pk)
    if tries >= int(app_settings.CRM_WRITEBACK_MAX_TRIES):
        status = Status.UNKNOWN if maybe_written else Status.FAILED
        final = f"{error} Gave up after {tries} tries."
        if maybe_written:
            final += " The activity may exist: check the record's timeline."
        CrmWriteback.objects.filter(pk=writeback.pk).update(
            status=status, last_error=final, maybe_written=maybe_written, next_try_at=None
        )
        logger.warning(
            "CRM write-back %s of call attempt %s %s: %s",
            writeback.pk,
            writeback.attempt_id,
            status,
            final,
        )
        return str(status)
    delay = backoff(
        tries,
        first=float(app_settings.RETRY_BACKOFF),
        most=float(app_settings.RETRY_BACKOFF_MAX),
        retry_after=retry_after,
    )
    next_try_at = timezone.now() + timedelta(seconds=delay)
    CrmWriteback.objects.filter(pk=writeback.pk, status=Status.PENDING).update(
        last_error=error, maybe_written=maybe_written, next_try_at=next_try_at
    )
    if backend_can_defer():
        _enqueue(writeback_id=writeback.pk, run_after=next_try_at)
        retry = f"retrying in {delay:.1f} s"
    else:
        retry = "the reconciler tries again once it is due"
    logger.info(
        "CRM write-back %s of call attempt %s not written (try %d: %s); %s",
        writeback.pk,
        writeback.attempt_id,
        tries,
        error,
        retry,
    )
    return str(Status.PENDING)


# -- operators -----------------------------------------------------------------------


def crm_writeback_retry(*, writeback: CrmWriteback) -> CrmWriteback:
    """Write a ``failed`` write-back again (after fixing the settings or the record)."""
    reopened = CrmWriteback.objects.filter(pk=writeback.pk, status=Status.FAILED).update(
        status=Status.PENDING,
        tries=0,
        last_error="",
        maybe_written=False,
        next_try_at=timezone.now(),
    )
    writeback.refresh_from_db()
    if not reopened:
        raise InvalidTransitionError(
            f"The write-back of call attempt {writeback.attempt_id} is {writeback.status}; "
            "only failed write-backs can be written again."
        )
    logger.info(
        "CRM write-back %s of call attempt %s written again by an operator",
        writeback.pk,
        writeback.attempt_id,
    )
    _enqueue(writeback_id=writeback.pk)
    writeback.refresh_from_db()
    return writeback


# -- reconciler ----------------------------------------------------------------------


@dataclass(frozen=True)
class WritebackReconcileReport:
    requeued: list[int]
    closed: list[int]


def crm_writebacks_reconcile(
    *, pending_after: float | None = None, limit: int = 1000
) -> WritebackReconcileReport:
    """Try again the write-backs nobody will try; close those out of tries.

    A ``pending`` write-back due (``next_try_at``) more than ``pending_after`` seconds ago
    (default ``RECONCILE_PENDING_AFTER``) has no task: the immediate backend leaves
    retries so, a queueing backend lost its task, or its worker was lost mid-try (the
    lease ran out). Moving its due time to now is a conditional UPDATE, so of several
    reconcilers exactly one queues it. One whose tries are used up is closed: ``unknown``
    when its last create request may have arrived, else ``failed``. Safe to run
    concurrently.
    """
    if pending_after is None:
        pending_after = float(app_settings.RECONCILE_PENDING_AFTER)
    max_tries = int(app_settings.CRM_WRITEBACK_MAX_TRIES)
    now = timezone.now()
    cutoff = now - timedelta(seconds=pending_after)
    overdue = Q(status=Status.PENDING) & (
        Q(next_try_at__lte=cutoff) | Q(next_try_at__isnull=True, created_at__lte=cutoff)
    )
    closed: list[int] = []
    exhausted = overdue & Q(tries__gte=max_tries)
    for pk, tries, maybe in (
        CrmWriteback.objects.filter(exhausted)
        .order_by("pk")
        .values_list("pk", "tries", "maybe_written")[:limit]
    ):
        error = f"Gave up after {tries} tries; the last try was lost before its outcome was known."
        if maybe:
            error += " The activity may exist: check the record's timeline."
        if CrmWriteback.objects.filter(exhausted, pk=pk).update(
            status=Status.UNKNOWN if maybe else Status.FAILED, last_error=error, next_try_at=None
        ):
            closed.append(pk)
            logger.warning("CRM write-back %s closed: its last try was lost", pk)
    requeued: list[int] = []
    retry = overdue & Q(tries__lt=max_tries)
    for pk in rows_won(CrmWriteback, retry, limit=limit, next_try_at=now):
        requeued.append(pk)
        logger.info("CRM write-back %s queued again by the reconciler", pk)
        _enqueue(writeback_id=pk)
    return WritebackReconcileReport(requeued=requeued, closed=closed)
