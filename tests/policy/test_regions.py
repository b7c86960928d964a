"""Where a number rings: the geocoder's data is loaded only by a process that asks."""

from __future__ import annotations

from tests.conftest import run_manage

LOADED = """
import sys
from django.core.management import call_command
call_command("check", verbosity=0)
before = "phonenumbers.geocoder" in sys.modules
from clicktoagent.policy.regions import place
where = place("+13125550123")
print(before, "phonenumbers.geocoder" in sys.modules, where.subdivisions, where.description)
"""


def test_the_geocoder_is_loaded_on_the_first_place_asked_not_with_the_app() -> None:
    # Its data takes ~100 MiB in every process that imports it (bench/README.md, memory).
    result = run_manage("shell", "-v", "0", "-c", LOADED)
    assert result.stdout.split() == ["False", "True", "('US-IL',)", "Chicago,", "IL"], result.stderr
