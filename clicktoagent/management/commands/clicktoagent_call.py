"""``manage.py clicktoagent_call``: create and dispatch one call attempt."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import CommandParser

from ...calls.services import call_attempt_create
from ...dispatch.tasks import call_attempt_dispatch
from ...exceptions import ClickToAgentError
from ...models import CallAttempt
from ..base import ClickToAgentCommand

EXIT_PLACED = 0
EXIT_NOT_PLACED = 1
# Invalid input exits 2 (ClickToAgentCommand.exit_invalid).


def _warning_level(value: str) -> int:
    if value not in ("0", "1", "2", "3"):
        from argparse import ArgumentTypeError

        raise ArgumentTypeError(f"must be 0, 1, 2 or 3, got {value!r}")
    return int(value)


class Command(ClickToAgentCommand):
    help = (
        "Place a DialogTech Click-to-Agent call: rings the agent, then connects the number. "
        "Exits 0 when placed, 1 when refused or unknown, 2 for invalid input."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--queue", required=True, metavar="QUEUE_ID")
        parser.add_argument("--agent", required=True, metavar="AGENT_ID")
        parser.add_argument("--phone", required=True, metavar="NUMBER")
        parser.add_argument("--first-callerid", default="", metavar="N")
        parser.add_argument("--second-callerid", default="", metavar="N")
        parser.add_argument("--record", action="store_true", help="Record the call.")
        parser.add_argument("--warning", type=_warning_level, default=None, metavar="0-3")
        parser.add_argument("--contact-ref", default="", metavar="REF")
        parser.add_argument(
            "--contact-region",
            default="",
            metavar="STATE",
            help="The contact's state or province (FL, ON), for the safe-calling rules.",
        )
        parser.add_argument(
            "--outside-hours",
            choices=CallAttempt.OutsideHours.values,
            default=None,
            help="When calling hours, queue hours or the daily cap forbid the call now: "
            "schedule it for the next allowed moment, or block it (default: OUTSIDE_HOURS).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            attempt = call_attempt_create(
                queue_id=options["queue"],
                agent_id=options["agent"],
                phone_to_call=options["phone"],
                first_callerid=options["first_callerid"],
                second_callerid=options["second_callerid"],
                record=1 if options["record"] else None,
                warning=options["warning"],
                contact_ref=options["contact_ref"],
                contact_region=options["contact_region"],
                outside_hours=options["outside_hours"],
                source=CallAttempt.Source.COMMAND,
                # Dispatched right here, so a queue worker never races this command.
                dispatch=False,
            )
        except ValidationError as err:
            self.exit_invalid(
                *(
                    f"invalid {field}: {message}"
                    for field, messages in err.message_dict.items()
                    for message in messages
                )
            )
        except ClickToAgentError as err:
            self.exit_invalid(str(err))
        if attempt.status == CallAttempt.Status.PENDING:
            attempt = call_attempt_dispatch(attempt_id=attempt.pk)
        self.stdout.write(f"attempt {attempt.pk}: {attempt.status}")
        if attempt.status == CallAttempt.Status.PENDING and attempt.next_try_at:
            self.stdout.write(f"scheduled for {attempt.next_try_at.isoformat()}")
        if attempt.status == CallAttempt.Status.PLACED:
            self.stdout.write(f"sid {attempt.sid}")
            return
        for violation in attempt.violations:
            self.stdout.write(f"{violation['rule']}: {violation['message']}")
        if not attempt.violations:
            reason = attempt.result_description or attempt.error or attempt.status
            self.stdout.write(f"reason: {reason}")
        raise SystemExit(EXIT_NOT_PLACED)
