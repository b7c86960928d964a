"""``manage.py clicktoagent_dnc``: import and export, output and exit codes."""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from clicktoagent.models import DoNotCallEntry

pytestmark = pytest.mark.django_db


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        call_command("clicktoagent_dnc", *args)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_import_prints_the_counts(tmp_path: Path, capsys) -> None:
    DoNotCallEntry.objects.create(phone_number="+13125550100", source="admin")
    path = tmp_path / "dnc.csv"
    path.write_text(
        "phone_number,reason\n(312) 555-0100,again\n312.555.0101,asked\n3125550101,dup\n"
    )
    code, out, err = run(capsys, "import", str(path))
    assert (code, err) == (0, "")
    assert out.splitlines() == ["added: 1", "already listed: 1", "duplicates in file: 1"]
    entry = DoNotCallEntry.objects.get(phone_number="+13125550101")
    assert (entry.source, entry.reason, entry.added_by) == ("import", "asked", None)


def test_bad_rows_exit_2_with_line_numbers_and_import_nothing(tmp_path: Path, capsys) -> None:
    path = tmp_path / "dnc.csv"
    path.write_text("phone_number,reason\n3125550100,ok\n555-01,short\n3125550102,ok\nabc,x\n")
    code, out, err = run(capsys, "import", str(path))
    assert code == 2
    assert out == ""
    assert err.splitlines()[0] == "2 rows invalid; nothing was imported."
    assert "line 3: phone_number: '555-01' is not a valid phone number" in err
    assert "line 5: phone_number: 'abc' is not a phone number" in err
    assert not DoNotCallEntry.objects.exists()


def test_a_missing_file_exits_2(tmp_path: Path, capsys) -> None:
    code, _, err = run(capsys, "import", str(tmp_path / "nope.csv"))
    assert code == 2
    assert "cannot read" in err and "nope.csv" in err


def test_import_reads_standard_input(monkeypatch, capsys) -> None:
    stdin = io.TextIOWrapper(io.BytesIO(b"phone_number\n3125550100\n"))
    monkeypatch.setattr(sys, "stdin", stdin)
    code, out, _ = run(capsys, "import", "-")
    assert code == 0 and "added: 1" in out


def test_export_to_a_file_and_to_stdout(tmp_path: Path, capsys) -> None:
    DoNotCallEntry.objects.create(phone_number="+13125550100", reason="asked", source="api")
    path = tmp_path / "out.csv"
    code, out, _ = run(capsys, "export", str(path))
    assert code == 0 and str(path) in out
    rows = list(csv.reader(path.open(newline="")))
    assert rows[0] == ["phone_number", "reason", "source", "added_by", "added_at"]
    assert rows[1][:3] == ["+13125550100", "asked", "api"]
    code, out, _ = run(capsys, "export")
    assert code == 0
    assert out.splitlines()[1].startswith("+13125550100,asked,api,,")


def test_a_subcommand_is_required(capsys) -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("clicktoagent_dnc")
