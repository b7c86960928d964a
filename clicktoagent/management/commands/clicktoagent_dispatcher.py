"""``manage.py clicktoagent_dispatcher``: send the call attempts queued on the Redis
dispatch queue (``CLICKTOAGENT["DISPATCH_QUEUE"]``), one at a time, until SIGTERM.

Run any number of them, on any number of machines. Other tasks (webhook callbacks, CRM
write-backs) still need the task backend's workers (``manage.py rqworker``).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...conf import app_settings
from ...dispatch.dispatcher import Dispatcher


class Command(BaseCommand):
    help = (
        "Pop call attempt ids from the Redis dispatch queue and send each attempt at most "
        "once, until SIGTERM (which lets the call in flight finish)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--burst",
            action="store_true",
            help="Stop once no attempt is due instead of waiting for more.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not app_settings.DISPATCH_QUEUE:
            raise CommandError(
                "CLICKTOAGENT['DISPATCH_QUEUE'] is not set, so attempts are queued as tasks "
                "for the task backend's workers, not for a dispatcher. Set it to a Redis URL "
                "(CLICKTOAGENT_DISPATCH_QUEUE=redis in the demo project), or run the task "
                "workers (manage.py rqworker) instead."
            )
        dispatched = Dispatcher(burst=options["burst"]).run()
        if options["verbosity"] >= 1:
            self.stdout.write(f"dispatched: {dispatched}")
