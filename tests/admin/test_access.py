"""Whose attempts a staff user sees and acts on in the admin: the same rule as the API."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from clicktoagent.dialogtech.sandbox import SandboxServer
from clicktoagent.models import CallAttempt
from clicktoagent.services import call_attempt_create
from config.demo.models import Contact

from .conftest import CONTACT_PERMS, _user

pytestmark = pytest.mark.django_db(transaction=True)

Status = CallAttempt.Status
LIST = "/admin/clicktoagent/callattempt/"
DASHBOARD = f"{LIST}dashboard/"


def make(user: User, phone: str, *, dispatch: bool = True, **kwargs: Any) -> CallAttempt:
    attempt = call_attempt_create(
        queue_id="12345",
        agent_id="98765",
        phone_to_call=phone,
        source="admin",
        requested_by=user,
        dispatch=dispatch,
        **kwargs,
    )
    attempt.refresh_from_db()
    return attempt


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def action(client: Client, name: str, *attempts: CallAttempt, **extra: str) -> Any:
    return client.post(
        LIST,
        {"action": name, "_selected_action": [a.pk for a in attempts], "index": 0, **extra},
        follow=True,
    )


@pytest.fixture
def bea_attempts(demo_data, sandbox: SandboxServer, contacts) -> dict[str, CallAttempt]:
    """Attempts user B requested: one failed, one pending, one on Ada's contact."""
    bea = _user("bea", "clicktoagent.place_call")
    sandbox.set_agent_mode("98765", "Closed")
    failed = make(bea, "3125550124")
    sandbox.set_agent_mode("98765", "Open")
    return {
        "failed": failed,
        "pending": make(bea, "3125550125", dispatch=False),
        "ada": make(bea, "3125550126", contact=contacts["ada"]),
    }


@pytest.fixture
def ann(demo_data) -> User:
    """Staff with place_call alone (and the contact admin)."""
    return _user("ann", *CONTACT_PERMS, "clicktoagent.place_call")


def test_place_call_alone_lists_and_opens_only_ones_own_attempts(
    ann: User, bea_attempts, sandbox: SandboxServer
) -> None:
    own = make(ann, "3125550127")
    client = login(ann)
    listing = client.get(LIST)
    assert listing.status_code == 200
    html = listing.content.decode()
    assert "3125550127" in html
    for phone in ("3125550124", "3125550125", "3125550126"):
        assert phone not in html
    assert client.get(f"{LIST}{own.pk}/change/").status_code == 200
    for attempt in bea_attempts.values():
        # Another user's attempt does not exist for Ann: the admin's "not found" redirect.
        page = client.get(f"{LIST}{attempt.pk}/change/", follow=True)
        assert attempt.phone_to_call not in page.content.decode()
        assert "doesn\u2019t exist" in page.content.decode()
        assert client.get(f"{LIST}{attempt.pk}/retry/").status_code == 404
        assert client.post(f"{LIST}{attempt.pk}/retry/", {"confirm": "yes"}).status_code == 404
        assert client.post(f"{LIST}{attempt.pk}/cancel/").status_code == 404
    # Actions on forged selections of others' attempts do nothing.
    action(client, "retry_attempts", bea_attempts["failed"], confirm="yes")
    action(client, "cancel_attempts", bea_attempts["pending"])
    assert not CallAttempt.objects.filter(retry_of__isnull=False).exists()
    bea_attempts["pending"].refresh_from_db()
    assert bea_attempts["pending"].status == Status.PENDING
    assert len(sandbox.requests()) == 3  # B's two dispatched attempts and Ann's own


def test_view_permission_shows_others_attempts_but_not_their_retry_or_cancel(
    bea_attempts, sandbox: SandboxServer
) -> None:
    viewer = _user("vic", "clicktoagent.place_call", "clicktoagent.view_callattempt")
    client = login(viewer)
    html = client.get(LIST).content.decode()
    assert "3125550124" in html and "3125550125" in html
    failed, pending = bea_attempts["failed"], bea_attempts["pending"]
    change_page = client.get(f"{LIST}{failed.pk}/change/").content.decode()
    assert "3125550124" in change_page and "/retry/" not in change_page
    assert "/cancel/" not in client.get(f"{LIST}{pending.pk}/change/").content.decode()
    assert client.get(f"{LIST}{failed.pk}/retry/").status_code == 403
    assert client.post(f"{LIST}{failed.pk}/retry/", {"confirm": "yes"}).status_code == 403
    assert client.post(f"{LIST}{pending.pk}/cancel/").status_code == 403
    retried = action(client, "retry_attempts", failed).content.decode()
    assert "1 selected attempt not retried" in retried
    assert "clicktoagent.change_callattempt" in retried
    cancelled = action(client, "cancel_attempts", pending).content.decode()
    assert "1 selected attempt not cancelled" in cancelled
    pending.refresh_from_db()
    assert pending.status == Status.PENDING
    assert not CallAttempt.objects.filter(retry_of__isnull=False).exists()
    assert len(sandbox.requests()) == 2


def test_change_permission_allows_retry_and_cancel_of_others_attempts(
    bea_attempts, sandbox: SandboxServer
) -> None:
    manager = _user("max", "clicktoagent.place_call", "clicktoagent.change_callattempt")
    client = login(manager)
    failed, pending = bea_attempts["failed"], bea_attempts["pending"]
    assert (
        f'href="{LIST}{failed.pk}/retry/"'
        in client.get(f"{LIST}{failed.pk}/change/").content.decode()
    )
    client.post(f"{LIST}{failed.pk}/retry/", {"confirm": "yes"})
    retry = CallAttempt.objects.get(retry_of=failed)
    assert retry.status == Status.PLACED and retry.requested_by == manager
    client.post(f"{LIST}{pending.pk}/cancel/")
    pending.refresh_from_db()
    assert pending.status == Status.CANCELLED


def test_dashboard_counts_only_own_attempts_for_place_call_alone(
    ann: User, bea_attempts, sandbox: SandboxServer
) -> None:
    make(ann, "3125550127")
    html = login(ann).get(DASHBOARD).content.decode()
    assert 'data-total="1"' in html
    assert 'id="clicktoagent-own-only"' in html
    viewer = _user("vic", "clicktoagent.view_callattempt")
    everything = login(viewer).get(DASHBOARD).content.decode()
    assert 'data-total="4"' in everything and "clicktoagent-own-only" not in everything


def test_contact_history_shows_only_attempts_the_user_may_see(
    ann: User, bea_attempts, contacts: dict[str, Contact], sandbox: SandboxServer
) -> None:
    ada = contacts["ada"]
    own = make(ann, "3125550123", contact=ada)
    html = login(ann).get(f"/admin/demo/contact/{ada.pk}/change/").content.decode()
    assert 'id="clicktoagent-history"' in html
    assert own.sid in html and bea_attempts["ada"].sid not in html
    viewer = _user(
        "vic", *CONTACT_PERMS, "clicktoagent.place_call", "clicktoagent.view_callattempt"
    )
    html = login(viewer).get(f"/admin/demo/contact/{ada.pk}/change/").content.decode()
    assert own.sid in html and bea_attempts["ada"].sid in html


def test_agent_page_lists_recent_attempts_only_to_who_sees_every_attempt(
    bea_attempts, demo_data
) -> None:
    dana = demo_data["dana"]
    agents_only = _user("ag", "clicktoagent.view_agent")
    html = login(agents_only).get(f"/admin/clicktoagent/agent/{dana.pk}/change/").content.decode()
    assert "Dana Demo" in html
    assert "recent attempts" not in html.lower() and "3125550124" not in html
    both = _user("ag2", "clicktoagent.view_agent", "clicktoagent.view_callattempt")
    html = login(both).get(f"/admin/clicktoagent/agent/{dana.pk}/change/").content.decode()
    assert "recent attempts" in html.lower() and "3125550124" in html
