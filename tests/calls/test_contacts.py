"""The services behind the admin action and the call button, called directly."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from clicktoagent.dialogtech.sandbox import SandboxServer
from clicktoagent.models import CallAttempt
from clicktoagent.services import contact_call, contacts_call
from config.demo.models import Contact

pytestmark = pytest.mark.django_db(transaction=True)


def test_contacts_call_skips_bad_numbers_and_calls_the_rest(
    contacts: dict[str, Contact], sandbox: SandboxServer, demo_data
) -> None:
    outcomes = contacts_call(
        contacts=[(c, c.phone) for c in contacts.values()],
        queue_id="12345",
        agent_id="98765",
        source="admin",
        idempotency_prefix="admin:test",
    )
    by_name = {o.contact.name: o for o in outcomes}
    assert by_name["Barbara Liskov"].skipped_reason == "No phone number."
    assert "is not a valid phone number" in by_name["Bad Number"].skipped_reason
    assert by_name["Ada Lovelace"].attempt is not None and by_name["Ada Lovelace"].created
    assert CallAttempt.objects.count() == 2
    again = contacts_call(
        contacts=[(c, c.phone) for c in contacts.values()],
        queue_id="12345",
        agent_id="98765",
        source="admin",
        idempotency_prefix="admin:test",
    )
    assert [o.created for o in again if o.attempt] == [False, False]
    assert CallAttempt.objects.count() == 2 and len(sandbox.requests()) == 2


def test_contacts_call_with_a_wrong_option_stores_nothing(
    contacts: dict[str, Contact], sandbox: SandboxServer, demo_data
) -> None:
    with pytest.raises(ValidationError) as info:
        contacts_call(
            contacts=[(contacts["ada"], contacts["ada"].phone)],
            queue_id="12345",
            agent_id="98765",
            warning=7,
            source="admin",
        )
    assert "warning" in info.value.message_dict
    assert CallAttempt.objects.count() == 0 and sandbox.requests() == []


def test_contact_call_uses_the_users_agent_and_its_first_active_queue(
    caller, contacts: dict[str, Contact], sandbox: SandboxServer, demo_data
) -> None:
    demo_data["sales"].is_active = False
    demo_data["sales"].save()
    demo_data["dana"].queues.add(demo_data["support"])
    attempt, created = contact_call(
        phone_to_call="312 555 0123", contact=contacts["ada"], source="admin", requested_by=caller
    )
    assert created and attempt.agent.agent_id == "98765" and attempt.queue.queue_id == "12346"
