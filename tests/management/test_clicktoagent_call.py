"""``manage.py clicktoagent_call``: output and exit codes."""

from __future__ import annotations

import subprocess
import sys

import pytest
from django.core.management import call_command

from clicktoagent.dialogtech.sandbox import SandboxServer
from clicktoagent.models import CallAttempt
from tests.conftest import ROOT

pytestmark = pytest.mark.django_db(transaction=True)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    try:
        call_command("clicktoagent_call", *args)
        code = 0
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_placed_prints_id_status_and_sid(sandbox: SandboxServer, demo_data, capsys) -> None:
    code, out, _ = run(
        capsys,
        "--queue",
        "12345",
        "--agent",
        "98765",
        "--phone",
        "(312) 555-0123",
        "--record",
        "--warning",
        "2",
        "--contact-ref",
        "hubspot:contact:501",
        "--first-callerid",
        "3125550100",
        "--second-callerid",
        "312 555 0199",
    )
    attempt = CallAttempt.objects.get()
    assert code == 0
    assert out.splitlines() == [f"attempt {attempt.pk}: placed", f"sid {attempt.sid}"]
    assert attempt.source == "command"
    assert (attempt.record, attempt.warning) == (1, 2)
    assert attempt.contact_ref == "hubspot:contact:501"
    assert attempt.second_callerid == "3125550199"


def test_refused_exits_1_with_the_reason(sandbox: SandboxServer, demo_data, capsys) -> None:
    code, out, _ = run(capsys, "--queue", "12346", "--agent", "98767", "--phone", "3125550123")
    assert code == 1
    assert ": failed" in out
    assert "reason: Agent '98767' is unavailable" in out


def test_unknown_exits_1(sandbox: SandboxServer, demo_data, capsys) -> None:
    code, out, _ = run(capsys, "--queue", "12345", "--agent", "98765", "--phone", "3125550168")
    assert code == 1
    assert ": unknown" in out
    assert "may have been placed" in out


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--phone", "5551112222"], "invalid phone_to_call: '5551112222'"),
        (["--phone", "3125550123", "--queue", "999"], "invalid queue_id: Unknown queue_id"),
        (["--phone", "3125550123", "--agent", "98767"], "is not a member of queue"),
    ],
)
def test_invalid_input_exits_2(
    sandbox: SandboxServer, demo_data, capsys, args: list[str], fragment: str
) -> None:
    base = {"--queue": "12345", "--agent": "98765"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    flat = [item for pair in base.items() for item in pair]
    code, _, err = run(capsys, *flat)
    assert code == 2
    assert fragment in err
    assert CallAttempt.objects.count() == 0
    assert sandbox.requests() == []


def test_warning_out_of_range_exits_2_from_the_command_line() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "manage.py",
            "clicktoagent_call",
            "--queue",
            "12345",
            "--agent",
            "98765",
            "--phone",
            "3125550123",
            "--warning",
            "7",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "must be 0, 1, 2 or 3, got '7'" in result.stderr
