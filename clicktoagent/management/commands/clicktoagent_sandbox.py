"""``manage.py clicktoagent_sandbox``: serve the local DialogTech emulator.

Thin wrapper over :mod:`clicktoagent.dialogtech.sandbox`: it loads the account file,
prints the URL to use as ``DIALOGTECH_BASE_URL`` and serves until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...dialogtech.sandbox import AccountError, SandboxServer, load_account

DEFAULT_ACCOUNT = Path("fixtures") / "sandbox_account.json"


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = (
        "Run a local emulator of DialogTech's Click-to-Agent API (ibp_api.php) "
        "for development and tests. Prints the URL to set as DIALOGTECH_BASE_URL."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on.")
        parser.add_argument(
            "--port", type=int, default=8099, help="Port to listen on (0 picks a free one)."
        )
        parser.add_argument(
            "--account",
            default=None,
            metavar="FILE",
            help=f"Sandbox account JSON (default: {DEFAULT_ACCOUNT}, relative to the "
            "current directory).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host: str = options["host"]
        port: int = options["port"]
        if not 0 <= port <= 65535:
            raise CommandError(f"--port must be between 0 and 65535, got {port}")
        account_path = Path(options["account"]) if options["account"] else DEFAULT_ACCOUNT
        try:
            account = load_account(account_path)
        except AccountError as err:
            raise CommandError(str(err)) from None
        try:
            server = SandboxServer(account, host=host, port=port)
        except OSError as err:
            raise CommandError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None

        in_main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _interrupt) if in_main_thread else None
        try:
            self.stdout.write(f"DIALOGTECH_BASE_URL={server.url}")
            self.stdout.flush()
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
            if in_main_thread:
                signal.signal(signal.SIGTERM, previous)
