"""``manage.py clicktoagent_sandbox``: serve the local DialogTech emulator.

Thin wrapper over :mod:`clicktoagent.dialogtech.sandbox`: it loads the account file,
prints the URL to use as ``DIALOGTECH_BASE_URL`` and serves until Ctrl-C or SIGTERM.
With ``--crm`` it also serves the CRM stand-ins of :mod:`clicktoagent.crm.standins`
and prints the settings that point the write-back at them.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ...crm.standins import (
    STANDIN_HUBSPOT_TOKEN,
    STANDIN_PIPEDRIVE_TOKEN,
    STANDIN_SALESFORCE_CLIENT_ID,
    STANDIN_SALESFORCE_CLIENT_SECRET,
    HubSpotStandIn,
    PipedriveStandIn,
    SalesforceStandIn,
    StandInServer,
)
from ...dialogtech.sandbox import AccountError, SandboxServer, load_account

DEFAULT_ACCOUNT = Path("fixtures") / "sandbox_account.json"


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def standin_settings(standins: list[StandInServer]) -> list[tuple[str, str]]:
    """The environment that points the CRM write-back at the stand-ins."""
    values: list[tuple[str, str]] = []
    for standin in standins:
        if isinstance(standin, HubSpotStandIn):
            values += [
                ("HUBSPOT_API_BASE_URL", standin.url),
                ("HUBSPOT_ACCESS_TOKEN", STANDIN_HUBSPOT_TOKEN),
            ]
        elif isinstance(standin, SalesforceStandIn):
            values += [
                ("SALESFORCE_INSTANCE_URL", standin.url),
                ("SALESFORCE_CLIENT_ID", STANDIN_SALESFORCE_CLIENT_ID),
                ("SALESFORCE_CLIENT_SECRET", STANDIN_SALESFORCE_CLIENT_SECRET),
            ]
        elif isinstance(standin, PipedriveStandIn):
            values += [
                ("PIPEDRIVE_API_BASE_URL", standin.url),
                ("PIPEDRIVE_API_TOKEN", STANDIN_PIPEDRIVE_TOKEN),
            ]
    return values


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
            "--crm",
            action="store_true",
            help="Also serve stand-ins of the HubSpot, Salesforce and Pipedrive APIs for the "
            "CRM write-back, on --crm-port, +1 and +2; prints the settings that point at them.",
        )
        parser.add_argument(
            "--crm-port",
            type=int,
            default=8100,
            help="Port of the HubSpot stand-in (Salesforce and Pipedrive: the next two; 0 "
            "picks free ones).",
        )
        parser.add_argument(
            "--latency",
            type=float,
            default=0.0,
            metavar="SECONDS",
            help="Wait this long before processing every ibp_api.php request (default 0; "
            "POST /_sandbox/latency changes it while serving).",
        )
        parser.add_argument(
            "--account",
            default=None,
            metavar="FILE",
            help=f"Sandbox account JSON (default: {DEFAULT_ACCOUNT}, relative to the "
            "current directory).",
        )

    def _crm_standins(self, host: str, port: int) -> list[StandInServer]:
        if port != 0 and not 0 < port <= 65533:
            raise CommandError(f"--crm-port must be 0, or between 1 and 65533, got {port}")
        ports = [0, 0, 0] if port == 0 else [port, port + 1, port + 2]
        try:
            return [
                HubSpotStandIn(token=STANDIN_HUBSPOT_TOKEN, host=host, port=ports[0]),
                SalesforceStandIn(
                    client_id=STANDIN_SALESFORCE_CLIENT_ID,
                    client_secret=STANDIN_SALESFORCE_CLIENT_SECRET,
                    host=host,
                    port=ports[1],
                ),
                PipedriveStandIn(token=STANDIN_PIPEDRIVE_TOKEN, host=host, port=ports[2]),
            ]
        except OSError as err:
            raise CommandError(
                f"cannot listen on {host}:{port} for the CRM stand-ins: {err.strerror or err}"
            ) from None

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
            server = SandboxServer(account, host=host, port=port, latency=options["latency"])
        except ValueError as err:
            raise CommandError(f"--{err}") from None
        except OSError as err:
            raise CommandError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None

        standins = self._crm_standins(host, options["crm_port"]) if options["crm"] else []
        in_main_thread = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGTERM, _interrupt) if in_main_thread else None
        try:
            self.stdout.write(f"DIALOGTECH_BASE_URL={server.url}")
            for standin in standins:
                standin.start()
            for name, value in standin_settings(standins):
                self.stdout.write(f"{name}={value}")
            self.stdout.flush()
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            for standin in standins:
                standin.stop()
            server.stop()
            if in_main_thread:
                signal.signal(signal.SIGTERM, previous)
