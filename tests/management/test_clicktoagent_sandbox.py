"""The emulator command's defaults: the demo starts the emulator and the CRM stand-ins
together on their default ports, so those ports must not overlap."""

from __future__ import annotations

from clicktoagent.management.commands.clicktoagent_sandbox import Command


def test_default_crm_ports_leave_the_emulators_port_free() -> None:
    defaults = Command().create_parser("manage.py", "clicktoagent_sandbox").parse_args([])
    crm_ports = {defaults.crm_port, defaults.crm_port + 1, defaults.crm_port + 2}
    assert defaults.port not in crm_ports


def test_demo_script_ports_match_the_command_defaults() -> None:
    from pathlib import Path

    script = (Path(__file__).resolve().parents[2] / "scripts" / "run_demo.sh").read_text()
    defaults = Command().create_parser("manage.py", "clicktoagent_sandbox").parse_args([])
    assert f"SANDBOX_PORT=${{SANDBOX_PORT:-{defaults.port}}}" in script
    assert f"CRM_PORT=${{CRM_PORT:-{defaults.crm_port}}}" in script
