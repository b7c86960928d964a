"""Playwright driving Debian's Chromium against pytest-django's live server.

No browser is downloaded: ``make browser`` installs /usr/bin/chromium with apt.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import skip_or_fail

# Playwright's sync API runs an event loop in this thread; the ORM calls made by the
# tests between browser steps are ordinary synchronous calls.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "pw-for-e2e-tests-only"
# Set CLICKTOAGENT_E2E_SCREENSHOTS=/some/dir to keep screenshots of the pages tested.
SCREENSHOTS = os.environ.get("CLICKTOAGENT_E2E_SCREENSHOTS", "")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        skip_or_fail(f"needs Chromium at {CHROMIUM}: run `make browser`")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("needs the playwright package: pip install -e '.[dev]'")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, live_server: Any) -> Iterator[Any]:
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def staff(transactional_db: None, demo_data: dict[str, Any]) -> Any:
    """A superuser who works as agent 98765 (Dana, queue Sales)."""
    from django.contrib.auth.models import User

    user = User.objects.create_superuser("e2e", "e2e@example.com", PASSWORD)
    demo_data["dana"].user = user
    demo_data["dana"].save()
    return user


def login(page: Any, username: str = "e2e") -> None:
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")


def screenshot(page: Any, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)
