"""The test matrix: one leg per supported Django, each in a virtualenv of its own.

    .venv/bin/nox              every leg, one after the other (`make test-all`)
    .venv/bin/nox -s dj61      one leg; `-l` lists them; arguments after `--` go to pytest

dj52  Python 3.11 + Django 5.2 on PostgreSQL: ruff, import-linter, mypy and the whole suite
dj60  Python 3.12 + Django 6.0 on SQLite: the suite without PostgreSQL-only tests
dj61  Python 3.13 + Django 6.1 on PostgreSQL: the whole suite, scale and e2e included

The PostgreSQL legs use ``DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/
clicktoagent``; pytest-django creates its own ``test_`` database beside it). The scale
tests need Redis (``SCALE_REDIS_URL``) and the e2e tests Chromium, as with `make test`.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.sessions = ["dj52", "dj60", "dj61"]
# Fail on a missing interpreter instead of skipping the leg or downloading one.
nox.options.error_on_missing_interpreters = True
nox.options.download_python = "never"

POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/clicktoagent"
# The CPython of each leg: the one pyenv keeps on this project's machines (and CI's).
PINNED = {"3.11": "3.11.7", "3.12": "3.12.1", "3.13": "3.13.0"}


def interpreter(minor: str) -> str:
    """pyenv's pinned CPython ``minor`` when present, else any ``minor`` nox finds."""
    root = Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")  # `pyenv root`
    python = root / "versions" / PINNED[minor] / "bin" / "python"
    return str(python) if python.exists() else minor


def install(session: nox.Session, django: str) -> None:
    session.install("-e", ".[dev]", f"Django~={django}.0")
    session.run("python", "-c", "import sys, django; print(sys.version, django.__version__)")


def postgres(session: nox.Session) -> dict[str, str | None]:
    url = os.environ.get("DATABASE_URL") or POSTGRES_URL
    if not url.startswith(("postgres://", "postgresql://")):
        session.error(f"{session.name} runs on PostgreSQL: set DATABASE_URL=postgres://...")
    return {"DATABASE_URL": url}


@nox.session(python=interpreter("3.11"))
def dj52(session: nox.Session) -> None:
    """Python 3.11 + Django 5.2 LTS, PostgreSQL: lint, import layers, type-check, the suite."""
    database = postgres(session)
    install(session, "5.2")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("lint-imports")
    session.run("mypy", "clicktoagent", "config")
    session.run("python", "-m", "pytest", "-q", *session.posargs, env=database)


@nox.session(python=interpreter("3.12"))
def dj60(session: nox.Session) -> None:
    """Python 3.12 + Django 6.0, SQLite: the suite without PostgreSQL-only tests."""
    install(session, "6.0")
    session.run(
        "python", "-m", "pytest", "-q", "-m", "not postgres", *session.posargs,
        env={"DATABASE_URL": None},
    )  # fmt: skip


@nox.session(python=interpreter("3.13"))
def dj61(session: nox.Session) -> None:
    """Python 3.13 + Django 6.1, PostgreSQL: the whole suite, scale and e2e included."""
    database = postgres(session)
    install(session, "6.1")
    session.run("python", "-m", "pytest", "-q", *session.posargs, env=database)
