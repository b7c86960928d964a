"""CallAttempt, Agent and Queue admin: list, badges, read-only outcome, retry and cancel."""

from __future__ import annotations

import pytest
from django.test import Client

from clicktoagent.dialogtech.sandbox import SandboxServer
from clicktoagent.models import CallAttempt
from clicktoagent.services import call_attempt_create
from tests.conftest import SECRET_ACCESS_KEY

pytestmark = pytest.mark.django_db(transaction=True)

Status = CallAttempt.Status
LIST = "/admin/clicktoagent/callattempt/"


def make(phone: str = "3125550123", *, dispatch: bool = True, **kwargs) -> CallAttempt:
    attempt = call_attempt_create(
        queue_id="12345",
        agent_id="98765",
        phone_to_call=phone,
        source="command",
        dispatch=dispatch,
        **kwargs,
    )
    attempt.refresh_from_db()
    return attempt


def action(client: Client, name: str, *attempts: CallAttempt, **extra):
    return client.post(
        LIST,
        {"action": name, "_selected_action": [a.pk for a in attempts], "index": 0, **extra},
        follow=True,
    )


def test_list_shows_badges_and_filters_and_search(
    caller_client: Client, sandbox: SandboxServer, demo_data
) -> None:
    placed = make()
    sandbox.set_agent_mode("98765", "Closed")
    make("3125550124")
    html = caller_client.get(LIST).content.decode()
    assert 'clicktoagent-badge clicktoagent-badge-placed">Placed<' in html
    assert 'clicktoagent-badge clicktoagent-badge-failed">Failed<' in html
    assert placed.sid in html
    assert 'href="/admin/clicktoagent/callattempt/dashboard/"' in html
    assert html.count("/static/clicktoagent/admin.css") == 1  # the badges' styles
    change = caller_client.get(f"{LIST}{placed.pk}/change/").content.decode()
    assert change.count("/static/clicktoagent/admin.css") == 1
    filtered = caller_client.get(LIST, {"status__exact": "failed"}).content.decode()
    assert "3125550124" in filtered and placed.sid not in filtered
    found = caller_client.get(LIST, {"q": placed.sid}).content.decode()
    assert placed.sid in found and "3125550124" not in found
    for filter_param in ("agent__id__exact", "queue__id__exact", "source__exact"):
        assert filter_param in html


def test_attempts_cannot_be_edited_in_the_admin(
    caller_client: Client, sandbox: SandboxServer, demo_data
) -> None:
    attempt = make()
    url = f"{LIST}{attempt.pk}/change/"
    html = caller_client.get(url).content.decode()
    assert attempt.sid in html
    assert 'name="sid"' not in html and 'name="status"' not in html
    response = caller_client.post(url, {"status": "failed", "sid": "forged"})
    assert response.status_code == 403
    attempt.refresh_from_db()
    assert attempt.status == Status.PLACED and attempt.sid != "forged"


def test_retry_action_retries_failed_attempts_at_once(
    caller_client: Client, caller, sandbox: SandboxServer, demo_data
) -> None:
    sandbox.set_agent_mode("98765", "Closed")
    failed = make()
    sandbox.set_agent_mode("98765", "Open")
    html = action(caller_client, "retry_attempts", failed).content.decode()
    retry = CallAttempt.objects.get(retry_of=failed)
    assert retry.status == Status.PLACED
    assert retry.requested_by == caller and retry.source == CallAttempt.Source.ADMIN
    assert "Retried 1 attempt" in html and retry.sid in html


def test_retry_of_unknown_asks_for_confirmation_first(
    caller_client: Client, sandbox: SandboxServer, demo_data
) -> None:
    unknown = make("3125550168")
    assert unknown.status == Status.UNKNOWN
    page = action(caller_client, "retry_attempts", unknown).content.decode()
    assert "may already have been called" in page
    assert not CallAttempt.objects.filter(retry_of=unknown).exists()
    assert len(sandbox.requests()) == 1
    html = action(caller_client, "retry_attempts", unknown, confirm="yes").content.decode()
    retry = CallAttempt.objects.get(retry_of=unknown)
    # The same number drops again in the emulator: the retry is unknown too.
    assert retry.status == Status.UNKNOWN
    assert "Retried 1 attempt" in html and "0 placed, 0 failed, 1 unknown" in html
    assert len(sandbox.requests()) == 2


def test_retry_page_of_one_attempt_confirms_then_retries_once(
    caller_client: Client, sandbox: SandboxServer, demo_data
) -> None:
    sandbox.add_fault("drop")
    unknown = make()
    assert unknown.status == Status.UNKNOWN
    url = f"{LIST}{unknown.pk}/retry/"
    change_page = caller_client.get(f"{LIST}{unknown.pk}/change/").content.decode()
    assert f'href="{url}"' in change_page
    page = caller_client.get(url).content.decode()
    assert "This contact may already have been called." in page
    assert not CallAttempt.objects.filter(retry_of=unknown).exists()
    response = caller_client.post(url, {"confirm": "yes"})
    retry = CallAttempt.objects.get(retry_of=unknown)
    assert response["Location"] == f"{LIST}{retry.pk}/change/"
    assert retry.status == Status.PLACED
    # A second confirmation (double click, reload) does not call again.
    caller_client.post(url, {"confirm": "yes"})
    assert CallAttempt.objects.filter(retry_of=unknown).count() == 1
    assert len(sandbox.requests()) == 2


def test_retry_refused_by_validation_shows_the_reason(
    caller_client: Client, sandbox: SandboxServer, demo_data
) -> None:
    sandbox.set_agent_mode("98765", "Closed")
    failed = make()
    demo_data["dana"].is_active = False
    demo_data["dana"].save()
    response = action(caller_client, "retry_attempts", failed)
    assert response.status_code == 200
    assert f"Attempt {failed.pk} not retried: Agent &#x27;98765&#x27; is inactive." in (
        response.content.decode()
    )
    page = caller_client.post(f"{LIST}{failed.pk}/retry/", {"confirm": "yes"}, follow=True)
    assert page.status_code == 200
    assert "is inactive" in page.content.decode()
    assert not CallAttempt.objects.filter(retry_of=failed).exists()
    assert len(sandbox.requests()) == 1


def test_retry_of_a_placed_attempt_is_refused(
    caller_client: Client, sandbox: SandboxServer, demo_data
) -> None:
    placed = make()
    html = action(caller_client, "retry_attempts", placed).content.decode()
    assert "only failed or unknown attempts can be retried" in html
    response = caller_client.post(f"{LIST}{placed.pk}/retry/", {"confirm": "yes"}, follow=True)
    assert "only failed or unknown attempts can be retried" in response.content.decode()
    assert CallAttempt.objects.count() == 1


def test_cancel_pending_and_refuse_others(
    caller_client: Client, sandbox: SandboxServer, demo_data
) -> None:
    pending = make(dispatch=False)
    placed = make("3125550124")
    html = action(caller_client, "cancel_attempts", pending, placed).content.decode()
    pending.refresh_from_db()
    assert pending.status == Status.CANCELLED
    assert "Cancelled 1 attempt." in html
    assert f"{placed.pk} is placed" in html
    other = make(dispatch=False)
    change_page = caller_client.get(f"{LIST}{other.pk}/change/").content.decode()
    assert f'href="{LIST}{other.pk}/cancel/"' in change_page
    assert "Yes, cancel the call" in caller_client.get(f"{LIST}{other.pk}/cancel/").content.decode()
    caller_client.post(f"{LIST}{other.pk}/cancel/")
    other.refresh_from_db()
    assert other.status == Status.CANCELLED


def test_retry_and_cancel_need_place_call(
    viewer_client: Client, sandbox: SandboxServer, demo_data
) -> None:
    sandbox.set_agent_mode("98765", "Closed")
    failed = make()
    pending = make(dispatch=False)
    html = viewer_client.get(LIST).content.decode()
    assert viewer_client.get(LIST).status_code == 200
    assert "retry_attempts" not in html and "cancel_attempts" not in html
    assert viewer_client.get(f"{LIST}{failed.pk}/retry/").status_code == 403
    assert viewer_client.post(f"{LIST}{failed.pk}/retry/", {"confirm": "yes"}).status_code == 403
    assert viewer_client.post(f"{LIST}{pending.pk}/cancel/").status_code == 403
    change_page = viewer_client.get(f"{LIST}{failed.pk}/change/").content.decode()
    assert "/retry/" not in change_page
    action(viewer_client, "retry_attempts", failed, confirm="yes")
    action(viewer_client, "cancel_attempts", pending)
    assert CallAttempt.objects.count() == 2
    pending.refresh_from_db()
    assert pending.status == Status.PENDING


def test_agent_page_shows_queues_and_recent_attempts(
    caller_client: Client, sandbox: SandboxServer, demo_data
) -> None:
    attempt = make()
    dana = demo_data["dana"]
    listing = caller_client.get("/admin/clicktoagent/agent/")
    assert listing.status_code == 403  # the caller has no agent permissions
    from django.contrib.auth.models import User

    admin_user = User.objects.create_superuser("root", password="pw-for-tests-only")
    client = Client()
    client.force_login(admin_user)
    listing = client.get("/admin/clicktoagent/agent/").content.decode()
    assert "Sales (12345)" in listing
    html = client.get(f"/admin/clicktoagent/agent/{dana.pk}/change/").content.decode()
    assert "recent attempts" in html.lower()
    assert attempt.phone_to_call in html and attempt.sid in html
    queue_html = client.get(
        f"/admin/clicktoagent/queue/{demo_data['sales'].pk}/change/"
    ).content.decode()
    assert "Dana Demo (98765)" in queue_html and "Sam Sample (98766)" in queue_html
    queue_list = client.get("/admin/clicktoagent/queue/").content.decode()
    assert "field-member_count" in queue_list


def test_no_secret_on_admin_pages(caller_client: Client, sandbox: SandboxServer, demo_data) -> None:
    sandbox.add_fault("http_500")
    attempt = make()
    pages = [
        LIST,
        f"{LIST}{attempt.pk}/change/",
        f"{LIST}{attempt.pk}/retry/",
        f"{LIST}dashboard/",
    ]
    for page in pages:
        html = caller_client.get(page).content.decode()
        assert SECRET_ACCESS_KEY not in html
        assert "sandbox-access-key" not in html
