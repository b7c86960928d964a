"""A faithful local emulator of DialogTech's Click-to-Agent API (``ibp_api.php``), for
development, the demo, tests and benchmarks::

    with SandboxServer(load_account("fixtures/sandbox_account.json")) as server:
        requests.get(server.url, params={...})   # server.url ends in /ibp_api.php

``account.py`` reads and checks an account file, ``emulator.py`` holds the account's
rules and state, ``server.py`` serves them over HTTP. What it emulates, its faults and
its control endpoints: docs/sandbox.md.
"""

from .account import (
    DTD_FAULT_ENCODINGS,
    FAULT_NAMES,
    PROCESSING_FAULTS,
    AccountError,
    load_account,
    validate_account,
)
from .emulator import ACTION, AVAILABLE_MODES, Emulator
from .server import API_PATH, SandboxServer

__all__ = [
    "ACTION",
    "API_PATH",
    "AVAILABLE_MODES",
    "DTD_FAULT_ENCODINGS",
    "FAULT_NAMES",
    "PROCESSING_FAULTS",
    "AccountError",
    "Emulator",
    "SandboxServer",
    "load_account",
    "validate_account",
]
