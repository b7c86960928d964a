"""What this app's management commands share: their exit codes for refused input."""

from __future__ import annotations

from typing import NoReturn

from django.core.management.base import BaseCommand

EXIT_INVALID = 2


class ClickToAgentCommand(BaseCommand):
    def exit_invalid(self, *messages: str) -> NoReturn:
        """Write each message to stderr and exit 2: the input was refused, nothing done."""
        for message in messages:
            self.stderr.write(message)
        raise SystemExit(EXIT_INVALID) from None
