"""The do-not-call service: add, remove, CSV import and export."""

from __future__ import annotations

import csv
import io
import time

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from clicktoagent import donotcall
from clicktoagent.exceptions import AlreadyListedError, DoNotCallImportError
from clicktoagent.models import DoNotCallEntry

pytestmark = pytest.mark.django_db


def csv_file(text: str) -> io.BytesIO:
    return io.BytesIO(text.encode())


def nanp_numbers(count: int) -> list[str]:
    """``count`` distinct valid numbers (area codes 312 and 415, exchanges 200-999)."""
    numbers = []
    for i in range(count):
        area = ("312", "415", "617", "713")[i % 4]
        rest = i // 4
        numbers.append(f"({area}) {200 + rest // 10000:03d}-{rest % 10000:04d}")
    return numbers


# ------------------------------------------------------------------------ add, remove


def test_add_stores_e164_with_reason_source_and_user() -> None:
    user = User.objects.create_user("ops")
    entry = donotcall.dnc_add(
        phone_number="(312) 555-0123", reason=" asked on the phone ", source="api", added_by=user
    )
    entry.refresh_from_db()
    assert entry.phone_number == "+13125550123"
    assert (entry.reason, entry.source, entry.added_by) == ("asked on the phone", "api", user)


def test_add_accepts_any_valid_type_but_not_other_regions() -> None:
    assert donotcall.dnc_add(phone_number="1-900-555-0123", source="api").phone_number == (
        "+19005550123"
    )
    with pytest.raises(ValidationError) as info:
        donotcall.dnc_add(phone_number="+1 876 927 1234", source="api")
    assert "region JM" in info.value.message_dict["phone_number"][0]


def test_add_refuses_bad_input_per_field() -> None:
    with pytest.raises(ValidationError) as info:
        donotcall.dnc_add(phone_number="555-01", reason="x" * 501, source="api")
    assert set(info.value.message_dict) == {"phone_number", "reason"}
    assert "not a valid phone number" in info.value.message_dict["phone_number"][0]
    with pytest.raises(ValidationError, match="Longer than 64"):
        donotcall.dnc_add(phone_number="3" * 65, source="api")
    assert not DoNotCallEntry.objects.exists()


def test_adding_a_listed_number_again_is_refused_and_changes_nothing() -> None:
    first = donotcall.dnc_add(phone_number="3125550123", reason="first", source="admin")
    with pytest.raises(AlreadyListedError) as info:
        donotcall.dnc_add(phone_number="+1 312 555 0123", reason="second", source="api")
    assert info.value.entry_id == first.pk
    assert "+13125550123 is already on the do-not-call list" in str(info.value)
    assert DoNotCallEntry.objects.get().reason == "first"


def test_remove_one_and_many() -> None:
    entries = [donotcall.dnc_add(phone_number=n, source="api") for n in nanp_numbers(3)]
    donotcall.dnc_remove(entry=entries[0])
    assert DoNotCallEntry.objects.count() == 2
    assert donotcall.dnc_remove_many(entries=DoNotCallEntry.objects.all()) == 2
    assert not DoNotCallEntry.objects.exists()


# ------------------------------------------------------------------------------ import


def test_import_counts_added_already_listed_and_duplicates() -> None:
    user = User.objects.create_user("ops")
    donotcall.dnc_add(phone_number="3125550100", reason="kept", source="admin")
    result = donotcall.dnc_import_csv(
        csv_file(
            "\ufeffPhone_Number,Reason\r\n"
            "(312) 555-0100,again\r\n"
            "312.555.0101,asked by email\r\n"
            "\r\n"
            "+1 312 555 0101,duplicate\r\n"
            '"(415) 555-0102","said ""never"""\r\n'
        ),
        added_by=user,
    )
    assert result == donotcall.ImportResult(rows=4, added=2, already_listed=1, duplicates=1)
    assert result.as_text() == ("4 rows read: 2 added, 1 already listed, 1 duplicates in the file.")
    rows = dict(DoNotCallEntry.objects.values_list("phone_number", "reason"))
    assert rows == {
        "+13125550100": "kept",
        "+13125550101": "asked by email",
        "+14155550102": 'said "never"',
    }
    imported = DoNotCallEntry.objects.get(phone_number="+13125550101")
    assert (imported.source, imported.added_by) == ("import", user)


def test_import_without_a_reason_column() -> None:
    result = donotcall.dnc_import_csv(csv_file("phone_number\n3125550100\n"))
    assert result.added == 1
    assert DoNotCallEntry.objects.get().reason == ""


def test_bad_rows_are_listed_by_line_and_nothing_is_imported() -> None:
    with pytest.raises(DoNotCallImportError) as info:
        donotcall.dnc_import_csv(
            csv_file(
                "phone_number,reason\n"
                "3125550100,fine\n"
                "555-01,too short\n"
                "3125550101," + "x" * 501 + "\n"
                ",no number\n"
                "+1 876 927 1234,Jamaica\n"
            )
        )
    err = info.value
    assert [line for line, _ in err.errors] == [3, 4, 5, 6]
    text = str(err)
    assert text.startswith("4 rows invalid; nothing was imported.")
    assert "line 3: phone_number: '555-01' is not a valid phone number" in text
    assert "line 4: reason: At most 500 characters" in text
    assert "line 5: phone_number: A phone number is required." in text
    assert "line 6: phone_number:" in text and "region JM" in text
    assert not DoNotCallEntry.objects.exists()


def test_many_bad_rows_list_the_first_fifty() -> None:
    body = "phone_number\n" + "nope\n" * 60
    with pytest.raises(DoNotCallImportError) as info:
        donotcall.dnc_import_csv(csv_file(body))
    assert len(info.value.errors) == 60
    assert str(info.value).startswith("60 rows invalid")
    assert "... and 10 more problems." in str(info.value)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", "The file is empty"),
        (b"number,reason\n3125550100,x\n", "line 1: the first row must be a header"),
        (b"phone_number,phone_number\n", "line 1: the first row must be a header"),
        (b"phone_number\n\xff\xfe\n", "not UTF-8"),
        (b'phone_number,reason\n3125550100,"' + b"x" * 200_000 + b'"\n', "line 2: not readable"),
    ],
)
def test_unreadable_files_are_refused(body: bytes, fragment: str) -> None:
    with pytest.raises(DoNotCallImportError, match=fragment):
        donotcall.dnc_import_csv(io.BytesIO(body))
    assert not DoNotCallEntry.objects.exists()


def test_size_and_row_limits(settings) -> None:
    settings.CLICKTOAGENT = {**settings.CLICKTOAGENT, "DNC_IMPORT_MAX_BYTES": 40}
    with pytest.raises(DoNotCallImportError, match=r"larger than 40 bytes.*DNC_IMPORT_MAX_BYTES"):
        donotcall.dnc_import_csv(csv_file("phone_number\n" + "3125550100\n" * 3))
    settings.CLICKTOAGENT = {
        **settings.CLICKTOAGENT,
        "DNC_IMPORT_MAX_BYTES": 1000,
        "DNC_IMPORT_MAX_ROWS": 2,
    }
    with pytest.raises(DoNotCallImportError, match=r"more than 2 rows.*DNC_IMPORT_MAX_ROWS"):
        donotcall.dnc_import_csv(csv_file("phone_number\n3125550100\n3125550101\n3125550102\n"))
    assert donotcall.dnc_import_csv(csv_file("phone_number\n3125550100\n3125550101\n")).added == 2


def test_a_hundred_thousand_rows_import_in_seconds() -> None:
    numbers = nanp_numbers(100_000)
    body = "phone_number,reason\n" + "".join(f"{n},bulk list\n" for n in numbers)
    # A tenth of them listed already, and the first thousand repeated at the end.
    donotcall.dnc_import_csv(csv_file("phone_number\n" + "\n".join(numbers[:10_000])))
    body += "".join(f"{n},again\n" for n in numbers[:1000])
    started = time.perf_counter()
    result = donotcall.dnc_import_csv(csv_file(body))
    elapsed = time.perf_counter() - started
    assert result == donotcall.ImportResult(
        rows=101_000, added=90_000, already_listed=10_000, duplicates=1000
    )
    assert DoNotCallEntry.objects.count() == 100_000
    assert elapsed < 30, f"100,000 rows took {elapsed:.1f} s"
    print(f"\n100,000-row import: {elapsed:.2f} s")


# ------------------------------------------------------------------------------ export


def test_export_round_trips_and_quotes_formulas() -> None:
    user = User.objects.create_user("ops")
    donotcall.dnc_add(phone_number="4155550102", reason="=HYPERLINK(1)", source="api")
    donotcall.dnc_add(
        phone_number="3125550100", reason='said "no", twice', source="admin", added_by=user
    )
    text = "".join(donotcall.dnc_export_csv())
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["phone_number", "reason", "source", "added_by", "added_at"]
    assert [row[:4] for row in rows[1:]] == [
        ["+13125550100", 'said "no", twice', "admin", "ops"],
        ["+14155550102", "'=HYPERLINK(1)", "api", ""],
    ]
    DoNotCallEntry.objects.all().delete()
    result = donotcall.dnc_import_csv(csv_file(text))
    assert (result.added, result.rows) == (2, 2)


def test_export_streams_in_chunks() -> None:
    donotcall.dnc_import_csv(csv_file("phone_number\n" + "\n".join(nanp_numbers(2500))))
    chunks = list(donotcall.dnc_export_csv())
    assert len(chunks) == 1 + 3  # the header, then 1000 + 1000 + 500 rows
    assert sum(chunk.count("\n") for chunk in chunks) == 2501
