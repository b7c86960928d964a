"""``manage.py clicktoagent_dnc``: import a do-not-call CSV file, or export the list."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from ...donotcall import SOURCE_IMPORT, dnc_export_csv, dnc_import_csv
from ...exceptions import DoNotCallImportError
from ..base import ClickToAgentCommand


class Command(ClickToAgentCommand):
    help = (
        "The do-not-call list. `import FILE.csv` lists every number of a CSV file (header "
        "phone_number,reason; '-' reads standard input); a bad row imports nothing and exits "
        "2. `export [FILE]` writes the list as CSV (standard output by default)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="import|export")
        load = actions.add_parser("import", help="List the numbers of a CSV file.")
        load.add_argument("file", metavar="FILE.csv", help="UTF-8 CSV file, or - for stdin.")
        dump = actions.add_parser("export", help="Write the list as CSV.")
        dump.add_argument(
            "file", nargs="?", default="-", metavar="FILE", help="Where to (default: stdout)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "import":
            self._import(options["file"])
        else:
            self._export(options["file"])

    def _import(self, name: str) -> None:
        try:
            if name == "-":
                result = dnc_import_csv(sys.stdin.buffer, source=SOURCE_IMPORT)
            else:
                with Path(name).open("rb") as file:
                    result = dnc_import_csv(file, source=SOURCE_IMPORT)
        except OSError as err:
            self.exit_invalid(f"cannot read {name}: {err.strerror or err}")
        except DoNotCallImportError as err:
            self.exit_invalid(str(err))
        self.stdout.write(f"added: {result.added}")
        self.stdout.write(f"already listed: {result.already_listed}")
        self.stdout.write(f"duplicates in file: {result.duplicates}")

    def _export(self, name: str) -> None:
        if name == "-":
            for chunk in dnc_export_csv():
                self.stdout.write(chunk, ending="")
            return
        with Path(name).open("w", encoding="utf-8", newline="") as file:
            for chunk in dnc_export_csv():
                file.write(chunk)
        self.stdout.write(f"exported the do-not-call list to {name}")
