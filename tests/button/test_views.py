"""{% clicktoagent_button %} and the JSON endpoint it posts to."""

from __future__ import annotations

import json
import re
import time

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core import signing
from django.template import Context, Template
from django.test import Client, RequestFactory

from clicktoagent.dialogtech.sandbox import SandboxServer
from clicktoagent.models import CallAttempt
from tests.admin.conftest import _user
from tests.conftest import ACCESS_KEY, SECRET_ACCESS_KEY

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/clicktoagent/call/"
Status = CallAttempt.Status


def render(user, source: str, **context) -> str:
    request = RequestFactory().get("/")
    request.user = user
    return Template("{% load clicktoagent %}" + source).render(
        Context({"request": request, **context})
    )


def button_data(html: str) -> dict[str, str]:
    return dict(re.findall(r'data-(url|token|csrf)="([^"]*)"', html))


def post(client: Client, token: str, key: str = "key-0000000001", **headers) -> tuple[int, dict]:
    response = client.post(
        URL,
        json.dumps({"token": token, "idempotency_key": key}),
        content_type="application/json",
        **headers,
    )
    return response.status_code, response.json()


def test_tag_renders_a_button_for_callers_only(caller, viewer, contacts) -> None:
    html = render(caller, "{% clicktoagent_button contact %}", contact=contacts["ada"])
    assert "<button" in html and "data-clicktoagent-call" in html
    assert button_data(html)["url"] == URL
    assert "/static/clicktoagent/button.js" in html
    for user in (viewer, AnonymousUser()):
        assert (
            render(user, "{% clicktoagent_button contact %}", contact=contacts["ada"]).strip() == ""
        )


def test_tag_without_phone_renders_a_disabled_button(caller, contacts) -> None:
    html = render(caller, "{% clicktoagent_button contact %}", contact=contacts["barbara"])
    assert "disabled" in html and "No phone number" in html
    html = render(
        caller,
        '{% clicktoagent_button contact phone="(312) 555-0199" label="Ring" %}',
        contact=contacts["barbara"],
    )
    assert "disabled" not in html and ">Ring</button>" in html


def test_button_places_the_call_for_the_users_agent(
    caller_client: Client, caller, contacts, sandbox: SandboxServer
) -> None:
    token = button_data(render(caller, "{% clicktoagent_button c %}", c=contacts["ada"]))["token"]
    code, body = post(caller_client, token)
    assert code == 200
    attempt = CallAttempt.objects.get()
    assert body == {"status": "placed", "attempt": attempt.pk, "created": True, "sid": attempt.sid}
    assert attempt.agent.agent_id == "98765" and attempt.queue.queue_id == "12345"
    assert attempt.contact == contacts["ada"] and attempt.requested_by == caller


def test_same_key_never_dials_twice(caller_client: Client, caller, contacts, sandbox) -> None:
    token = button_data(render(caller, "{% clicktoagent_button c %}", c=contacts["ada"]))["token"]
    first = post(caller_client, token)[1]
    second = post(caller_client, token)[1]
    assert first["attempt"] == second["attempt"] and second["created"] is False
    assert len(sandbox.requests()) == 1
    third = post(caller_client, token, key="key-0000000002")[1]
    assert third["attempt"] != first["attempt"]


def test_explicit_phone_queue_and_agent(caller_client: Client, caller, contacts, sandbox) -> None:
    html = render(
        caller,
        '{% clicktoagent_button c phone="312-555-0177" queue="12345" agent="98766" %}',
        c=contacts["barbara"],
    )
    code, body = post(caller_client, button_data(html)["token"])
    attempt = CallAttempt.objects.get()
    assert (code, body["status"]) == (200, "placed")
    assert attempt.phone_to_call == "3125550177" and attempt.agent.agent_id == "98766"


def test_failure_answers_with_the_reason(caller_client: Client, caller, contacts, sandbox) -> None:
    sandbox.set_agent_mode("98765", "Closed")
    token = button_data(render(caller, "{% clicktoagent_button c %}", c=contacts["ada"]))["token"]
    code, body = post(caller_client, token)
    assert code == 200 and body["status"] == "failed"
    assert "Closed" in body["reason"] and "sid" not in body


def test_user_without_agent_gets_a_clear_reason(contacts, sandbox, demo_data) -> None:
    user = _user("noagent", "clicktoagent.place_call")
    client = Client()
    client.force_login(user)
    token = button_data(render(user, "{% clicktoagent_button c %}", c=contacts["ada"]))["token"]
    code, body = post(client, token)
    assert code == 400 and body["status"] == "invalid"
    assert "you do not work as an active agent" in body["reason"]
    assert CallAttempt.objects.count() == 0


def test_forged_token_and_bad_key_are_refused(caller_client: Client, caller, contacts) -> None:
    code, body = post(caller_client, "forged")
    assert code == 400 and "reload the page" in body["reason"]
    token = button_data(render(caller, "{% clicktoagent_button c %}", c=contacts["ada"]))["token"]
    code, body = post(caller_client, token, key="x")
    assert code == 400 and "idempotency_key" in body["reason"]
    assert CallAttempt.objects.count() == 0


def test_csrf_token_is_required(caller, contacts, sandbox) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(caller)
    page = render(caller, "{% clicktoagent_button c %}", c=contacts["ada"])
    code, body = post(client, button_data(page)["token"])
    assert code == 403 and "CSRF" in body["detail"]
    assert CallAttempt.objects.count() == 0
    # A real page carries the token: the demo contact page with the session's token.
    html = client.get(f"/contacts/{contacts['ada'].pk}/").content.decode()
    data = button_data(html)
    code, body = post(client, data["token"], HTTP_X_CSRFTOKEN=data["csrf"])
    assert code == 200 and body["status"] == "placed"


def test_permission_and_login_are_required(viewer_client: Client, caller, contacts) -> None:
    token = button_data(render(caller, "{% clicktoagent_button c %}", c=contacts["ada"]))["token"]
    code, body = post(viewer_client, token)
    assert code == 403 and "place_call" in body["detail"]
    code, body = post(Client(), token)
    assert code == 403
    assert viewer_client.get(URL).status_code == 403
    assert CallAttempt.objects.count() == 0


def test_demo_contact_page_shows_the_button(caller_client: Client, viewer_client, contacts) -> None:
    html = caller_client.get(f"/contacts/{contacts['ada'].pk}/").content.decode()
    assert "data-clicktoagent-call" in html and "Ada Lovelace" in html
    other = viewer_client.get(f"/contacts/{contacts['ada'].pk}/").content.decode()
    assert "data-clicktoagent-call" not in other
    assert Client().get(f"/contacts/{contacts['ada'].pk}/").status_code == 302
    assert Client().get("/").status_code == 302  # contacts are not public
    home = caller_client.get("/").content.decode()
    assert f'href="/contacts/{contacts["ada"].pk}/"' in home


def test_unknown_outcome_says_the_contact_may_have_been_called_and_leaks_no_secret(
    caller_client: Client, caller, contacts, sandbox: SandboxServer
) -> None:
    sandbox.add_fault("http_500")
    token = button_data(render(caller, "{% clicktoagent_button c %}", c=contacts["ada"]))["token"]
    code, body = post(caller_client, token)
    assert code == 200 and body["status"] == "unknown"
    assert "may have been called" in body["reason"]
    assert SECRET_ACCESS_KEY not in json.dumps(body) and ACCESS_KEY not in json.dumps(body)


# --------------------------------------------------------------------------- token life


def later(monkeypatch, seconds: float) -> None:
    """Move the signing clock ``seconds`` into the future (the page has been open that long)."""
    now = time.time()
    monkeypatch.setattr(signing.time, "time", lambda: now + seconds)


def test_expired_token_is_refused_and_nothing_is_dialled(
    caller_client: Client, caller, contacts, sandbox: SandboxServer, monkeypatch
) -> None:
    token = button_data(render(caller, "{% clicktoagent_button c %}", c=contacts["ada"]))["token"]
    later(monkeypatch, 3601)  # the default BUTTON_TOKEN_MAX_AGE is one hour
    code, body = post(caller_client, token)
    assert code == 403 and body["status"] == "expired"
    assert "reload the page" in body["reason"]
    assert CallAttempt.objects.count() == 0 and sandbox.requests() == []


def test_token_age_follows_the_setting(
    caller_client: Client, caller, contacts, sandbox: SandboxServer, monkeypatch, settings
) -> None:
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "BUTTON_TOKEN_MAX_AGE": 60}
    token = button_data(render(caller, "{% clicktoagent_button c %}", c=contacts["ada"]))["token"]
    later(monkeypatch, 30)
    assert post(caller_client, token)[0] == 200
    later(monkeypatch, 61)
    assert post(caller_client, token, key="key-0000000002")[0] == 403
    assert len(sandbox.requests()) == 1


def test_raw_number_button_still_works_and_also_expires(
    caller_client: Client, caller, sandbox: SandboxServer, monkeypatch
) -> None:
    token = button_data(render(caller, '{% clicktoagent_button phone="312-555-0177" %}'))["token"]
    code, body = post(caller_client, token)
    assert (code, body["status"]) == (200, "placed")
    assert CallAttempt.objects.get().phone_to_call == "3125550177"
    later(monkeypatch, 3601)
    code, body = post(caller_client, token, key="key-0000000002")
    assert code == 403 and "reload the page" in body["reason"]
    assert len(sandbox.requests()) == 1


def test_changed_number_is_refused_and_nothing_is_dialled(
    caller_client: Client, caller, contacts, sandbox: SandboxServer
) -> None:
    ada = contacts["ada"]
    token = button_data(render(caller, "{% clicktoagent_button c %}", c=ada))["token"]
    ada.phone = "(312) 555-0199"  # changed after the page was rendered
    ada.save()
    code, body = post(caller_client, token)
    assert code == 409 and body["status"] == "changed"
    assert "the number changed" in body["reason"] and "reload" in body["reason"]
    assert CallAttempt.objects.count() == 0 and sandbox.requests() == []


def test_unchanged_number_dials_the_contacts_current_number(
    caller_client: Client, caller, contacts, sandbox: SandboxServer
) -> None:
    ada = contacts["ada"]
    token = button_data(render(caller, "{% clicktoagent_button c %}", c=ada))["token"]
    ada.phone = "312.555.0123"  # the same number, typed differently
    ada.save()
    code, body = post(caller_client, token)
    assert (code, body["status"]) == (200, "placed")
    attempt = CallAttempt.objects.get()
    assert attempt.phone_to_call == "3125550123" and attempt.contact == ada
    assert sandbox.requests()[0]["params"]["phone_to_call"] == "3125550123"


def test_phone_field_names_which_number_of_the_contact_to_check(
    caller_client: Client, caller, contacts, sandbox: SandboxServer
) -> None:
    ada = contacts["ada"]
    ada.company = "312-555-0144"  # any field may hold the number the button calls
    ada.save()
    html = render(caller, '{% clicktoagent_button c phone_field="company" %}', c=ada)
    assert "disabled" not in html
    token = button_data(html)["token"]
    ada.company = "312-555-0145"
    ada.save()
    code, body = post(caller_client, token)
    assert code == 409 and "the number changed" in body["reason"]
    assert sandbox.requests() == []


def test_token_of_a_contact_button_does_not_carry_the_number(caller, contacts) -> None:
    from clicktoagent.button.tokens import SALT

    token = button_data(render(caller, "{% clicktoagent_button c %}", c=contacts["ada"]))["token"]
    payload = json.dumps(signing.loads(token, salt=SALT))
    assert "555" not in payload and "0123" not in payload


def test_deep_or_oversized_body_is_refused_and_dials_nobody(
    caller_client: Client, caller, contacts, sandbox: SandboxServer, settings
) -> None:
    token = button_data(render(caller, "{% clicktoagent_button c %}", c=contacts["ada"]))["token"]
    deep = caller_client.post(URL, "[" * 50_000, content_type="application/json")
    assert deep.status_code == 400
    assert deep.json()["status"] == "invalid"
    assert "nested 50000 levels deep; at most 32" in deep.json()["reason"]
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "API_MAX_BODY_BYTES": 2000}
    padded = json.dumps({"token": token, "idempotency_key": "key-0000000009", "pad": "x" * 3000})
    large = caller_client.post(URL, padded, content_type="application/json")
    assert large.status_code == 413
    assert "at most 2000 are accepted" in large.json()["reason"]
    assert CallAttempt.objects.count() == 0
    assert sandbox.requests() == []
    assert post(caller_client, token)[0] == 200  # a normal click still works


# ---------------------------------------------------------------------- limits and keys


def test_seventy_clicks_dial_only_the_per_user_limit(
    caller_client: Client, caller, contacts, sandbox
) -> None:
    token = button_data(render(caller, "{% clicktoagent_button c %}", c=contacts["ada"]))["token"]
    answers = [post(caller_client, token, key=f"click-{i:08}") for i in range(70)]
    codes = [code for code, _ in answers]
    assert codes == [200] * 60 + [429] * 10
    assert len(sandbox.requests()) == 60
    assert CallAttempt.objects.count() == 60
    body = answers[-1][1]
    assert body["status"] == "throttled"
    assert body["reason"].startswith(
        "Request was throttled: each user may place 60 calls per minute, through the API "
        "and the call button together"
    )
    assert "Try again in " in body["reason"]
    response = caller_client.post(
        URL,
        json.dumps({"token": token, "idempotency_key": "click-99999999"}),
        content_type="application/json",
    )
    assert 0 < int(response["Retry-After"]) <= 60


def test_the_button_and_the_api_share_one_counter(
    caller_client: Client, caller, contacts, sandbox, settings
) -> None:
    from rest_framework.test import APIClient

    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "API_CREATE_THROTTLE_RATE": "3/minute"}
    api = APIClient()
    api.force_login(caller)
    call = {"queue_id": "12345", "agent_id": "98765", "phone_to_call": "3125550124"}
    assert api.post("/clicktoagent/api/call-attempts/", call, format="json").status_code == 201
    assert api.post("/clicktoagent/api/call-attempts/", call, format="json").status_code == 201
    token = button_data(render(caller, "{% clicktoagent_button c %}", c=contacts["ada"]))["token"]
    assert post(caller_client, token, key="click-00000001")[0] == 200
    assert post(caller_client, token, key="click-00000002")[0] == 429
    assert api.post("/clicktoagent/api/call-attempts/", call, format="json").status_code == 429
    assert len(sandbox.requests()) == 3


def test_a_reused_key_names_only_the_callers_own_key(
    caller_client: Client, caller, contacts, sandbox
) -> None:
    ada = button_data(render(caller, "{% clicktoagent_button c %}", c=contacts["ada"]))["token"]
    grace = button_data(render(caller, "{% clicktoagent_button c %}", c=contacts["grace"]))
    first = post(caller_client, ada, key="click-00000042")[1]
    code, body = post(caller_client, grace["token"], key="click-00000042")
    assert code == 409
    assert body["reason"] == (
        "idempotency_key 'click-00000042' was already used for a different call (call attempt "
        f"{first['attempt']}); click again for a new call."
    )
    assert "button:" not in body["reason"] and f"{caller.pk}:" not in body["reason"]
    assert len(sandbox.requests()) == 1
