"""``manage.py clicktoagent_reconcile``: queue lost attempts again, close lost calls,
send again the webhook callbacks that are due.

Safe on a schedule and from several machines at once (every change is a conditional
UPDATE). Run it once (cron, a systemd timer) or keep it running with ``--every``.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from ...crm.services import crm_writebacks_reconcile
from ...dispatch.reconcile import call_attempt_reconcile
from ...webhooks.tasks import webhook_callbacks_reconcile


class Command(BaseCommand):
    help = (
        "Queue again pending call attempts whose task was lost, and mark attempts whose "
        "worker was lost mid-call as unknown (never dialled again); send again the webhook "
        "callbacks and CRM write-backs whose next try is due."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--every",
            type=float,
            default=None,
            metavar="SECONDS",
            help="Keep running, reconciling every SECONDS, until SIGTERM or Ctrl-C.",
        )
        parser.add_argument(
            "--pending-after",
            type=float,
            default=None,
            metavar="SECONDS",
            help="Queue again pending attempts and webhook callbacks due this long ago "
            "(default: CLICKTOAGENT['RECONCILE_PENDING_AFTER']).",
        )
        parser.add_argument(
            "--dispatching-after",
            type=float,
            default=None,
            metavar="SECONDS",
            help="Mark unknown the attempts dispatching for this long (default: connect "
            "timeout + read timeout + CLICKTOAGENT['RECONCILE_DISPATCHING_MARGIN']).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        for name in ("every", "pending_after", "dispatching_after"):
            value = options[name]
            if value is not None and value < 0:
                raise CommandError(f"--{name.replace('_', '-')} must not be negative.")
        every: float | None = options["every"]
        if every is None:
            self._run_once(options, quiet_when_idle=False)
            return
        stop = threading.Event()

        def _stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        previous = signal.signal(signal.SIGTERM, _stop)
        try:
            while not stop.is_set():
                try:
                    self._run_once(options, quiet_when_idle=True)
                except Exception as err:
                    # A database or queue outage: report it and try again next round.
                    self.stderr.write(f"reconcile failed ({type(err).__name__}); retrying")
                close_old_connections()
                stop.wait(every)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)

    def _run_once(self, options: dict[str, Any], *, quiet_when_idle: bool) -> None:
        report = call_attempt_reconcile(
            pending_after=options["pending_after"],
            dispatching_after=options["dispatching_after"],
        )
        callbacks = webhook_callbacks_reconcile(pending_after=options["pending_after"])
        writebacks = crm_writebacks_reconcile(pending_after=options["pending_after"])
        idle = not (
            report.requeued
            or report.marked_unknown
            or callbacks.requeued
            or callbacks.failed
            or writebacks.requeued
            or writebacks.closed
        )
        verbosity: int = options["verbosity"]
        if verbosity >= 2 or (verbosity >= 1 and not (idle and quiet_when_idle)):
            self.stdout.write(
                f"queued again: {len(report.requeued)}; "
                f"marked unknown: {len(report.marked_unknown)}; "
                f"callbacks queued again: {len(callbacks.requeued)}; "
                f"callbacks given up: {len(callbacks.failed)}; "
                f"CRM write-backs queued again: {len(writebacks.requeued)}; "
                f"CRM write-backs given up: {len(writebacks.closed)}"
            )
