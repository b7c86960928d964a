"""ClickToAgentAdminMixin on the demo Contact admin: action, form, guard, permission."""

from __future__ import annotations

from typing import Any

import django
import pytest
from django.contrib import admin
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured
from django.test import Client, RequestFactory
from django.utils.html import escape

from clicktoagent.admin import ClickToAgentAdminMixin
from clicktoagent.admin.contacts import ACTION_NAME
from clicktoagent.dialogtech.sandbox import SandboxServer
from clicktoagent.models import CallAttempt
from config.demo.models import Contact

from .conftest import form_fields

pytestmark = pytest.mark.django_db(transaction=True)

CHANGELIST = "/admin/demo/contact/"
CALL_URL = "/admin/demo/contact/clicktoagent-call/"
Status = CallAttempt.Status


def run_action(client: Client, *contacts: Contact) -> Any:
    return client.post(
        CHANGELIST,
        {
            "action": "call_with_dialogtech",
            "_selected_action": [c.pk for c in contacts],
            "index": 0,
        },
        follow=True,
    )


def submit(client: Client, hidden: dict[str, str], **options: Any) -> Any:
    data = {
        "queue": "12345",
        "agent": "98765",
        "record": "0",
        "warning": "1",
        "first_callerid": "",
        "second_callerid": "",
        **hidden,
        **options,
    }
    return client.post(CALL_URL, data)


def test_action_opens_the_options_page_with_the_users_agent_preselected(
    caller_client: Client, contacts: dict[str, Contact], sandbox: SandboxServer
) -> None:
    response = run_action(caller_client, contacts["ada"], contacts["barbara"], contacts["bad"])
    assert response.status_code == 200
    html = response.content.decode()
    assert "Ada Lovelace" in html and "called" in html
    assert "skipped: No phone number." in html
    assert "skipped: &#x27;12&#x27; is not a valid phone number" in html
    assert '<option value="98765" selected>' in html
    assert '<option value="12345" selected>' in html
    assert "Call 1 contact" in html
    # Nothing is called before the form is submitted.
    assert CallAttempt.objects.count() == 0
    assert sandbox.requests() == []


def test_submit_calls_each_contact_and_summarises(
    caller_client: Client, caller, contacts: dict[str, Contact], sandbox: SandboxServer
) -> None:
    page = run_action(caller_client, contacts["ada"], contacts["grace"], contacts["barbara"])
    response = submit(caller_client, form_fields(page.content.decode()))
    assert response.status_code == 200
    html = response.content.decode()
    attempts = list(CallAttempt.objects.order_by("phone_to_call"))
    assert [a.phone_to_call for a in attempts] == ["3125550123", "3125550124"]
    content_type = ContentType.objects.get_for_model(Contact)
    for attempt, contact in zip(attempts, [contacts["ada"], contacts["grace"]], strict=True):
        assert attempt.status == Status.PLACED
        assert (attempt.content_type, attempt.object_id) == (content_type, str(contact.pk))
        assert attempt.source == CallAttempt.Source.ADMIN
        assert attempt.requested_by == caller
        assert attempt.sid and attempt.sid in html
    assert len(sandbox.requests()) == 2
    assert 'data-count="placed">2<' in html
    assert 'data-count="failed">0<' in html
    assert 'data-count="skipped">1<' in html
    assert "Barbara Liskov" in html and "No phone number." in html
    # The contact record got the outcome (CONTACT_FIELDS in the demo settings).
    contacts["ada"].refresh_from_db()
    assert contacts["ada"].last_call_status == "placed"


def test_failures_are_listed_with_dialogtechs_reason(
    caller_client: Client, contacts: dict[str, Contact], sandbox: SandboxServer
) -> None:
    sandbox.set_agent_mode("98765", "Closed")
    page = run_action(caller_client, contacts["ada"])
    html = submit(caller_client, form_fields(page.content.decode())).content.decode()
    attempt = CallAttempt.objects.get()
    assert attempt.status == Status.FAILED
    assert attempt.result_description and escape(attempt.result_description) in html
    assert 'data-count="failed">1<' in html


def test_unknown_outcome_is_counted_as_unknown(
    caller_client: Client, contacts: dict[str, Contact], sandbox: SandboxServer
) -> None:
    contact = Contact.objects.create(name="Dropped", phone="3125550168")
    page = run_action(caller_client, contact)
    html = submit(caller_client, form_fields(page.content.decode())).content.decode()
    assert CallAttempt.objects.get().status == Status.UNKNOWN
    assert 'data-count="unknown">1<' in html
    assert "may have been called" in html


def test_submitting_the_same_form_twice_dials_nobody_twice(
    caller_client: Client, contacts: dict[str, Contact], sandbox: SandboxServer
) -> None:
    page = run_action(caller_client, contacts["ada"], contacts["grace"])
    hidden = form_fields(page.content.decode())
    first = submit(caller_client, hidden).content.decode()
    second = submit(caller_client, hidden).content.decode()
    assert CallAttempt.objects.count() == 2
    assert len(sandbox.requests()) == 2
    for attempt in CallAttempt.objects.all():
        assert attempt.sid in first and attempt.sid in second
        assert attempt.idempotency_key.startswith("admin:")
    assert "already been submitted" in second and "already been submitted" not in first


def test_resubmitting_with_other_options_places_no_new_call(
    caller_client: Client, contacts: dict[str, Contact], sandbox: SandboxServer
) -> None:
    page = run_action(caller_client, contacts["ada"])
    hidden = form_fields(page.content.decode())
    submit(caller_client, hidden)
    html = submit(caller_client, hidden, agent="98766").content.decode()
    assert CallAttempt.objects.count() == 1
    assert len(sandbox.requests()) == 1
    assert "already submitted with other options" in html


def test_form_page_stays_in_the_history_cache_and_the_outcome_does_not(
    caller_client: Client, contacts: dict[str, Contact], sandbox: SandboxServer
) -> None:
    page = run_action(caller_client, contacts["ada"])
    assert page.redirect_chain == [(f"{CALL_URL}?ids={contacts['ada'].pk}", 302)]
    assert "no-store" not in page["Cache-Control"] and "private" in page["Cache-Control"]
    outcome = submit(caller_client, form_fields(page.content.decode()))
    assert "no-store" in outcome["Cache-Control"]


def test_a_new_form_places_a_new_call(
    caller_client: Client, contacts: dict[str, Contact], sandbox: SandboxServer
) -> None:
    for _ in range(2):
        page = run_action(caller_client, contacts["ada"])
        submit(caller_client, form_fields(page.content.decode()))
    assert CallAttempt.objects.count() == 2


def test_wrong_shared_option_stores_nothing_and_says_why(
    caller_client: Client, contacts: dict[str, Contact], sandbox: SandboxServer
) -> None:
    page = run_action(caller_client, contacts["ada"], contacts["grace"])
    response = submit(caller_client, form_fields(page.content.decode()), agent="98767")
    assert response.status_code == 200
    assert "is not a member of queue" in response.content.decode()
    response = submit(
        caller_client, form_fields(page.content.decode()), first_callerid="not a number"
    )
    assert "is not a phone number" in response.content.decode()
    assert CallAttempt.objects.count() == 0
    assert sandbox.requests() == []


def test_forged_token_is_refused(
    caller_client: Client, contacts: dict[str, Contact], sandbox: SandboxServer
) -> None:
    page = run_action(caller_client, contacts["ada"])
    hidden = {**form_fields(page.content.decode()), "token": "made-up"}
    html = submit(caller_client, hidden).content.decode()
    assert "was not issued to you" in html
    assert CallAttempt.objects.count() == 0


def test_token_of_another_user_is_refused(
    caller_client: Client, caller, contacts: dict[str, Contact], sandbox: SandboxServer
) -> None:
    from django.contrib.auth.models import User

    other = User.objects.create_user("other", is_staff=True)
    other.user_permissions.set(caller.user_permissions.all())
    other_client = Client()
    other_client.force_login(other)
    page = run_action(other_client, contacts["ada"])
    html = submit(caller_client, form_fields(page.content.decode())).content.decode()
    assert "was not issued to you" in html
    assert CallAttempt.objects.count() == 0


def test_change_page_has_call_button_and_history_newest_first(
    caller_client: Client, contacts: dict[str, Contact], sandbox: SandboxServer
) -> None:
    ada = contacts["ada"]
    for _ in range(2):
        page = caller_client.get(f"{CALL_URL}?ids={ada.pk}")
        submit(caller_client, form_fields(page.content.decode()))
    html = caller_client.get(f"{CHANGELIST}{ada.pk}/change/").content.decode()
    assert f'href="{CALL_URL}?ids={ada.pk}"' in html
    assert 'id="clicktoagent-history"' in html
    newest, oldest = CallAttempt.objects.order_by("-created_at", "-id")
    assert html.index(newest.sid) < html.index(oldest.sid)
    assert "caller" in html  # who asked


def test_without_place_call_permission_nothing_is_offered_and_urls_are_refused(
    viewer_client: Client, contacts: dict[str, Contact], sandbox: SandboxServer
) -> None:
    changelist = viewer_client.get(CHANGELIST)
    assert changelist.status_code == 200
    assert "call_with_dialogtech" not in changelist.content.decode()
    change = viewer_client.get(f"{CHANGELIST}{contacts['ada'].pk}/change/")
    assert change.status_code == 200
    assert "clicktoagent-call/" not in change.content.decode()
    assert "clicktoagent-history" not in change.content.decode()
    assert viewer_client.get(f"{CALL_URL}?ids={contacts['ada'].pk}").status_code == 403
    assert viewer_client.post(CALL_URL, {"ids": contacts["ada"].pk}).status_code == 403
    # Posting the action by hand does not run it either.
    response = run_action(viewer_client, contacts["ada"])
    assert "Select contact to change" in response.content.decode()
    assert "clicktoagent-call-form" not in response.content.decode()
    assert CallAttempt.objects.count() == 0
    assert sandbox.requests() == []


def test_no_selection_goes_back_with_a_message(caller_client: Client, contacts) -> None:
    response = caller_client.get(CALL_URL, follow=True)
    assert "No contacts to call were selected." in response.content.decode()


def test_too_many_contacts_are_refused(
    caller_client: Client, contacts: dict[str, Contact], monkeypatch
) -> None:
    contact_admin = admin.site._registry[Contact]
    monkeypatch.setattr(contact_admin, "clicktoagent_max_contacts", 1)
    response = run_action(caller_client, contacts["ada"], contacts["grace"])
    assert response.redirect_chain[-1][0] == CHANGELIST
    assert "call at most 1 at a time" in response.content.decode()


def test_mixin_without_phone_field_fails_loudly(contacts: dict[str, Contact]) -> None:
    class NoPhoneAdmin(ClickToAgentAdminMixin, admin.ModelAdmin[Contact]):
        pass

    model_admin = NoPhoneAdmin(Contact, admin.AdminSite())
    with pytest.raises(ImproperlyConfigured, match="clicktoagent_phone_field"):
        model_admin.get_clicktoagent_phone(contacts["ada"])


def test_host_admin_keeps_its_own_actions(caller_client: Client, contacts) -> None:
    html = caller_client.get(CHANGELIST).content.decode()
    assert "call_with_dialogtech" in html
    assert "Call selected with DialogTech" in html


def test_call_action_is_offered_on_the_change_list_only(
    caller_client: Client, caller, contacts: dict[str, Contact]
) -> None:
    contact_admin = admin.site._registry[Contact]
    request = RequestFactory().get(CHANGELIST)
    request.user = caller
    assert ACTION_NAME in contact_admin.get_actions(request)
    if django.VERSION >= (6, 1):
        # Django 6.1 asks for the actions of each place: the change list and the change form.
        from django.contrib.admin.options import ActionLocation

        change_list = contact_admin.get_actions(request, action_location=ActionLocation.CHANGE_LIST)
        assert change_list[ACTION_NAME].description == "Call selected with DialogTech"
        change_form = contact_admin.get_actions(request, action_location=ActionLocation.CHANGE_FORM)
        assert ACTION_NAME not in change_form
    change_page = caller_client.get(f"{CHANGELIST}{contacts['ada'].pk}/change/")
    assert change_page.status_code == 200
    assert ACTION_NAME not in change_page.content.decode()


def test_pages_load_the_app_stylesheet_beside_a_host_admins_own_media(
    caller_client: Client, contacts: dict[str, Contact]
) -> None:

    stylesheet = "/static/clicktoagent/admin.css"
    change = caller_client.get(f"{CHANGELIST}{contacts['ada'].pk}/change/").content.decode()
    assert change.count(stylesheet) == 1
    form = caller_client.get(f"{CALL_URL}?ids={contacts['ada'].pk}").content.decode()
    assert form.count(stylesheet) == 1

    class HostMediaAdmin(ClickToAgentAdminMixin, admin.ModelAdmin[Contact]):
        clicktoagent_phone_field = "phone"

        class Media:
            css = {"all": ["host.css"]}

    media = str(HostMediaAdmin(Contact, admin.site).media)
    assert "clicktoagent/admin.css" in media
    assert "host.css" in media
