"""The do-not-call list in the admin: list, add, delete, CSV import and export."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from clicktoagent.models import DoNotCallEntry

from .conftest import _user

LIST = "/admin/clicktoagent/donotcallentry/"
ADD = f"{LIST}add/"
IMPORT = f"{LIST}import/"
EXPORT = f"{LIST}export/"
ALL = (
    "clicktoagent.view_donotcallentry",
    "clicktoagent.add_donotcallentry",
    "clicktoagent.delete_donotcallentry",
)

pytestmark = pytest.mark.django_db


def login(user: User, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


@pytest.fixture
def manager() -> User:
    return _user("dnc-manager", *ALL)


@pytest.fixture
def viewer() -> User:
    return _user("dnc-viewer", "clicktoagent.view_donotcallentry")


def upload(text: str | bytes, name: str = "dnc.csv") -> SimpleUploadedFile:
    data = text.encode() if isinstance(text, str) else text
    return SimpleUploadedFile(name, data, content_type="text/csv")


def test_add_normalises_and_records_who(manager: User) -> None:
    client = login(manager)
    response = client.post(ADD, {"phone_number": "(312) 555-0123", "reason": "asked"})
    assert response.status_code == 302
    entry = DoNotCallEntry.objects.get()
    assert (entry.phone_number, entry.reason, entry.source) == ("+13125550123", "asked", "admin")
    assert entry.added_by == manager


def test_add_refuses_bad_and_listed_numbers(manager: User) -> None:
    client = login(manager)
    response = client.post(ADD, {"phone_number": "555-01", "reason": ""})
    assert response.status_code == 200
    assert "is not a valid phone number" in response.content.decode()
    DoNotCallEntry.objects.create(phone_number="+13125550123", source="api")
    response = client.post(ADD, {"phone_number": "312.555.0123", "reason": ""})
    assert "+13125550123 is already on the do-not-call list" in response.content.decode()
    assert DoNotCallEntry.objects.count() == 1


def test_list_shows_reason_search_by_number_and_filters(manager: User) -> None:
    DoNotCallEntry.objects.create(phone_number="+13125550123", reason="asked twice", source="api")
    DoNotCallEntry.objects.create(phone_number="+14155550100", reason="lawyer", source="import")
    client = login(manager)
    html = client.get(LIST).content.decode()
    assert "asked twice" in html and "Import CSV" in html and "Export CSV" in html
    found = client.get(LIST, {"q": "(312) 555-0123"}).content.decode()
    assert "+13125550123" in found and "+14155550100" not in found
    filtered = client.get(LIST, {"source": "import"}).content.decode()
    assert "+14155550100" in filtered and "+13125550123" not in filtered


def test_entries_are_not_edited_but_can_be_deleted(manager: User) -> None:
    entry = DoNotCallEntry.objects.create(phone_number="+13125550123", source="api")
    client = login(manager)
    response = client.post(f"{LIST}{entry.pk}/change/", {"phone_number": "3125550199"})
    assert response.status_code == 403
    response = client.post(f"{LIST}{entry.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not DoNotCallEntry.objects.exists()


def test_bulk_delete_action(manager: User) -> None:
    pks = [DoNotCallEntry.objects.create(phone_number=f"+1312555010{i}").pk for i in range(3)]
    response = login(manager).post(
        LIST, {"action": "delete_selected", "_selected_action": pks[:2], "post": "yes"}
    )
    assert response.status_code == 302
    assert list(DoNotCallEntry.objects.values_list("pk", flat=True)) == [pks[2]]


# ---------------------------------------------------------------------------- import


def test_import_adds_and_reports_counts(manager: User) -> None:
    DoNotCallEntry.objects.create(phone_number="+13125550100", source="api")
    client = login(manager, enforce_csrf_checks=True)
    page = client.get(IMPORT)
    assert page.status_code == 200
    token = page.cookies["csrftoken"].value
    body = "phone_number,reason\n3125550100,x\n(312) 555-0101,asked\n312.555.0101,again\n"
    response = client.post(
        IMPORT, {"file": upload(body), "csrfmiddlewaretoken": token}, follow=True
    )
    text = response.content.decode()
    assert "Imported dnc.csv: 3 rows read: 1 added, 1 already listed, 1 duplicates" in text
    entry = DoNotCallEntry.objects.get(phone_number="+13125550101")
    assert (entry.source, entry.added_by, entry.reason) == ("admin", manager, "asked")


def test_import_needs_the_csrf_token(manager: User) -> None:
    client = login(manager, enforce_csrf_checks=True)
    response = client.post(IMPORT, {"file": upload("phone_number\n3125550100\n")})
    assert response.status_code == 403
    assert not DoNotCallEntry.objects.exists()


def test_bad_rows_are_listed_and_nothing_is_imported(manager: User) -> None:
    body = "phone_number,reason\n3125550100,ok\n555-01,short\nnope,x\n"
    response = login(manager).post(IMPORT, {"file": upload(body)})
    assert response.status_code == 400
    html = response.content.decode()
    assert "2 rows invalid; nothing was imported." in html
    assert "line 3: phone_number: &#x27;555-01&#x27; is not a valid phone number" in html
    assert "line 4: phone_number:" in html
    assert not DoNotCallEntry.objects.exists()


def test_a_file_over_the_limit_is_refused_before_it_is_read(manager: User, settings) -> None:
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "DNC_IMPORT_MAX_BYTES": 100}
    client = login(manager)
    big = "phone_number\n" + "3125550100\n" * 20  # over 100 bytes, under the overhead
    response = client.post(IMPORT, {"file": upload(big)})
    assert response.status_code == 400
    assert "larger than 100 bytes" in response.content.decode()
    huge = "phone_number\n" + "3125550100\n" * 7000  # over the form's whole allowance
    response = client.post(IMPORT, {"file": upload(huge)})
    assert response.status_code == 413
    assert "DNC_IMPORT_MAX_BYTES" in response.content.decode()
    assert not DoNotCallEntry.objects.exists()


def test_import_needs_the_add_permission(viewer: User) -> None:
    client = login(viewer)
    assert client.get(IMPORT).status_code == 403
    assert client.post(IMPORT, {"file": upload("phone_number\n3125550100\n")}).status_code == 403
    assert "Import CSV" not in client.get(LIST).content.decode()
    assert not DoNotCallEntry.objects.exists()


# ---------------------------------------------------------------------------- export


def _rows(response) -> list[list[str]]:
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


def test_export_all_and_selected(viewer: User) -> None:
    first = DoNotCallEntry.objects.create(phone_number="+13125550100", reason="a", source="api")
    DoNotCallEntry.objects.create(phone_number="+13125550101", reason="b", source="api")
    client = login(viewer)
    response = client.get(EXPORT)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="do-not-call-')
    assert [row[0] for row in _rows(response)] == ["phone_number", "+13125550100", "+13125550101"]
    response = client.post(LIST, {"action": "export_csv", "_selected_action": [first.pk]})
    assert [row[:2] for row in _rows(response)] == [
        ["phone_number", "reason"],
        ["+13125550100", "a"],
    ]


def test_export_needs_the_view_permission() -> None:
    staff = _user("no-dnc", "clicktoagent.view_callattempt")
    assert login(staff).get(EXPORT).status_code == 403
