"""The do-not-call list: adding, removing, importing and exporting entries.

The admin, the REST API and ``manage.py clicktoagent_dnc`` all change the list through
this module (the ``do_not_call`` rule in ``policy/`` only reads it).

Numbers are stored in E.164 (``+13125550123``). Any number that exists in one of
``PHONE_REGIONS`` is accepted, whatever its type: premium-rate and other numbers the app
would never dial may be listed too, so that they stay refused should their type be
allowed later (``PHONE_ALLOWED_TYPES``). With ``PHONE_STRICT_VALIDATION`` off, numbers
are checked for length only, as everywhere else.

Adding a number that is already listed is refused (:class:`AlreadyListedError`): the
entry keeps who added it, when and why. An import skips such numbers and counts them.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice
from typing import IO, Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from .conf import app_settings
from .exceptions import AlreadyListedError, DoNotCallImportError
from .models import DoNotCallEntry
from .phone import normalize_phone_e164
from .validation import FieldErrors

logger = logging.getLogger("clicktoagent")

SOURCE_ADMIN = "admin"
SOURCE_API = "api"
SOURCE_IMPORT = "import"

PHONE_COLUMN = "phone_number"
REASON_COLUMN = "reason"
EXPORT_COLUMNS = (PHONE_COLUMN, REASON_COLUMN, "source", "added_by", "added_at")
REASON_MAX_LENGTH = DoNotCallEntry._meta.get_field("reason").max_length or 500
# Longer than any number as people type it; a longer cell is refused before parsing.
PHONE_INPUT_MAX_LENGTH = 64
# Bad rows named in an import's error message; the rest are counted.
MAX_LISTED_ERRORS = 50
INSERT_BATCH_SIZE = 1000
# Numbers per "which are listed already?" query: under every database's parameter limit.
LOOKUP_BATCH_SIZE = 900
EXPORT_CHUNK_ROWS = 1000


def dnc_normalize(value: str) -> str:
    """``value`` in E.164 if it is a number of ``PHONE_REGIONS`` (any type), else
    ``ValidationError`` saying what is wrong."""
    if len(value or "") > PHONE_INPUT_MAX_LENGTH:
        raise ValidationError(
            f"Longer than {PHONE_INPUT_MAX_LENGTH} characters: not a phone number.",
            code="invalid_phone",
        )
    return normalize_phone_e164(value, any_type=True)


def _reason_errors(reason: str) -> list[str]:
    if len(reason) > REASON_MAX_LENGTH:
        return [f"At most {REASON_MAX_LENGTH} characters (got {len(reason)})."]
    if "\x00" in reason:
        return ["Must not contain NUL characters."]
    return []


def _already_listed(entry: DoNotCallEntry) -> AlreadyListedError:
    return AlreadyListedError(
        f"{entry.phone_number} is already on the do-not-call list (entry {entry.pk}, added "
        f"{entry.added_at:%Y-%m-%d}); delete that entry first to add it again.",
        phone_number=entry.phone_number,
        entry_id=entry.pk,
    )


def dnc_add(
    *,
    phone_number: str,
    reason: str = "",
    source: str,
    added_by: AbstractBaseUser | None = None,
) -> DoNotCallEntry:
    """List one number. A bad number or reason raise ``ValidationError`` per field
    (``phone_number``, ``reason``); a number already listed raises
    :class:`AlreadyListedError` and changes nothing."""
    errors = FieldErrors()
    number = ""
    with errors.check("phone_number"):
        number = dnc_normalize(phone_number)
    reason = (reason or "").strip()
    if reason_errors := _reason_errors(reason):
        errors["reason"] = reason_errors
    errors.raise_if_any()
    existing = DoNotCallEntry.objects.filter(phone_number=number).first()
    if existing is not None:
        raise _already_listed(existing)
    try:
        with transaction.atomic():
            entry = DoNotCallEntry.objects.create(
                phone_number=number,
                reason=reason,
                source=source,
                added_by=added_by,  # type: ignore[misc]
            )
    except IntegrityError:
        # A concurrent request listed the same number first.
        existing = DoNotCallEntry.objects.filter(phone_number=number).first()
        if existing is None:
            raise
        raise _already_listed(existing) from None
    logger.info(
        "do-not-call entry %s added",
        entry.pk,
        extra={"dnc_entry_id": entry.pk, "source": source, "user_id": _user_id(added_by)},
    )
    return entry


def dnc_remove(*, entry: DoNotCallEntry, removed_by: AbstractBaseUser | None = None) -> None:
    """Take a number off the list: it may be called again."""
    pk = entry.pk
    entry.delete()
    logger.info(
        "do-not-call entry %s removed",
        pk,
        extra={"dnc_entry_id": pk, "user_id": _user_id(removed_by)},
    )


def dnc_remove_many(
    *, entries: QuerySet[DoNotCallEntry], removed_by: AbstractBaseUser | None = None
) -> int:
    """Take every entry of ``entries`` off the list; returns how many."""
    deleted, _ = entries.delete()
    logger.info(
        "%s do-not-call entries removed",
        deleted,
        extra={"count": deleted, "user_id": _user_id(removed_by)},
    )
    return deleted


def _user_id(user: AbstractBaseUser | None) -> Any:
    return getattr(user, "pk", None)


# -- reads


def dnc_list() -> QuerySet[DoNotCallEntry]:
    """Entries, newest first, with the user who added each (one query)."""
    return DoNotCallEntry.objects.select_related("added_by").order_by("-added_at", "-id")


# -- CSV import


@dataclass(frozen=True)
class ImportResult:
    """What an import did: ``rows`` data rows read, ``added`` new entries, numbers
    ``already_listed`` before, and ``duplicates`` (a number the file held before)."""

    rows: int
    added: int
    already_listed: int
    duplicates: int

    def as_text(self) -> str:
        return (
            f"{self.rows} rows read: {self.added} added, {self.already_listed} already "
            f"listed, {self.duplicates} duplicates in the file."
        )


def dnc_import_csv(
    file: IO[bytes],
    *,
    source: str = SOURCE_IMPORT,
    added_by: AbstractBaseUser | None = None,
) -> ImportResult:
    """List every number of a CSV file (UTF-8, a header row naming ``phone_number`` and
    optionally ``reason``; other columns, such as those of an export, are ignored).

    Every row is checked before anything is stored: a bad row, a file larger than
    ``DNC_IMPORT_MAX_BYTES`` or with more than ``DNC_IMPORT_MAX_ROWS`` data rows raise
    :class:`DoNotCallImportError` (with the bad rows' line numbers) and nothing is
    imported. A number listed already, or earlier in the file, is skipped and counted.
    """
    max_bytes = int(app_settings.DNC_IMPORT_MAX_BYTES)
    data = file.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise DoNotCallImportError(
            f"The file is larger than {max_bytes} bytes (CLICKTOAGENT['DNC_IMPORT_MAX_BYTES']); "
            "split it, or raise the limit. Nothing was imported."
        )
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DoNotCallImportError(
            f"The file is not UTF-8 text (byte {err.start} cannot be read); save it as "
            "UTF-8 CSV. Nothing was imported."
        ) from None
    wanted, rows, duplicates = _read_rows(text)
    numbers = list(wanted)
    listed: set[str] = set()
    for batch in _batches(numbers, LOOKUP_BATCH_SIZE):
        listed.update(
            DoNotCallEntry.objects.filter(phone_number__in=batch).values_list(
                "phone_number", flat=True
            )
        )
    new = _new_entries(
        [(number, wanted[number]) for number in numbers if number not in listed],
        source=source,
        added_by=added_by,
    )
    with transaction.atomic():
        # A number listed meanwhile by someone else is skipped, not an error.
        DoNotCallEntry.objects.bulk_create(new, batch_size=INSERT_BATCH_SIZE, ignore_conflicts=True)
    result = ImportResult(
        rows=rows, added=len(new), already_listed=len(listed), duplicates=duplicates
    )
    logger.info(
        "do-not-call import: %s",
        result.as_text(),
        extra={"source": source, "user_id": _user_id(added_by), "count": result.added},
    )
    return result


def _new_entries(
    rows: list[tuple[str, str]], *, source: str, added_by: AbstractBaseUser | None
) -> list[DoNotCallEntry]:
    """Unsaved entries for (number, reason) pairs. Built from positional values, in the
    model's field order: three times faster than keyword arguments, which counts at
    100,000 rows."""
    names = [field.attname for field in DoNotCallEntry._meta.concrete_fields]
    common = {"source": source, "added_by_id": _user_id(added_by), "added_at": timezone.now()}
    template = [common.get(name) for name in names]
    at_number, at_reason = names.index("phone_number"), names.index("reason")
    entries = []
    build: Any = DoNotCallEntry  # the plugin types keyword arguments only
    for number, reason in rows:
        values = template.copy()
        values[at_number], values[at_reason] = number, reason
        entries.append(build(*values))
    return entries


def _read_rows(text: str) -> tuple[dict[str, str], int, int]:
    """E.164 number -> reason of its first row, data rows read, duplicates; or
    :class:`DoNotCallImportError` listing every bad row."""
    max_rows = int(app_settings.DNC_IMPORT_MAX_ROWS)
    reader = csv.reader(io.StringIO(text, newline=""))
    wanted: dict[str, str] = {}
    errors: list[tuple[int, str]] = []
    rows = duplicates = 0
    phone_at: int | None = None
    reason_at: int | None = None
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue  # blank lines
            if phone_at is None:
                phone_at, reason_at = _header(row, line)
                continue
            rows += 1
            if rows > max_rows:
                raise DoNotCallImportError(
                    f"The file has more than {max_rows} rows "
                    "(CLICKTOAGENT['DNC_IMPORT_MAX_ROWS']); split it, or raise the limit. "
                    "Nothing was imported."
                )
            raw = row[phone_at] if phone_at < len(row) else ""
            reason = (
                row[reason_at].strip() if reason_at is not None and reason_at < len(row) else ""
            )
            try:
                number = dnc_normalize(raw)
            except ValidationError as err:
                errors.append((line, f"{PHONE_COLUMN}: {' '.join(err.messages)}"))
                number = ""
            errors.extend((line, f"{REASON_COLUMN}: {m}") for m in _reason_errors(reason))
            if not number:
                continue
            if number in wanted:
                duplicates += 1
            else:
                wanted[number] = reason
    except csv.Error as err:
        raise DoNotCallImportError(
            f"line {reader.line_num}: not readable as CSV ({err}). Nothing was imported.",
            errors=[(reader.line_num, f"not readable as CSV ({err})")],
        ) from None
    if phone_at is None:
        raise DoNotCallImportError(
            f"The file is empty: it needs a header row ({PHONE_COLUMN},{REASON_COLUMN}) "
            "and one row per number. Nothing was imported."
        )
    if errors:
        raise DoNotCallImportError(_errors_text(errors), errors=errors)
    return wanted, rows, duplicates


def _header(row: list[str], line: int) -> tuple[int, int | None]:
    names = [cell.strip().lower() for cell in row]
    if PHONE_COLUMN not in names or any(names.count(name) > 1 for name in names if name):
        shown = ",".join(cell.strip() for cell in row)[:200]
        message = (
            f"the first row must be a header naming the columns, once each: "
            f"{PHONE_COLUMN} and optionally {REASON_COLUMN} (got {shown!r})."
        )
        raise DoNotCallImportError(
            f"line {line}: {message} Nothing was imported.", errors=[(line, message)]
        )
    return names.index(PHONE_COLUMN), names.index(REASON_COLUMN) if REASON_COLUMN in names else None


def _errors_text(errors: list[tuple[int, str]]) -> str:
    lines = {line for line, _ in errors}
    text = f"{len(lines)} row{'s' if len(lines) != 1 else ''} invalid; nothing was imported."
    listed = [f"line {line}: {message}" for line, message in errors[:MAX_LISTED_ERRORS]]
    if len(errors) > MAX_LISTED_ERRORS:
        listed.append(f"... and {len(errors) - MAX_LISTED_ERRORS} more problems.")
    return "\n".join([text, *listed])


def _batches(items: list[str], size: int) -> Iterator[list[str]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


# -- CSV export


class _Buffer:
    """A file-like object that hands back what the CSV writer writes."""

    def write(self, value: str) -> str:
        return value


def _cell(value: str) -> str:
    # A cell starting with = + - @ would run as a formula in a spreadsheet: quote it.
    if value and value[0] in "=+-@\t\r":
        return "'" + value
    return value


def dnc_export_csv(entries: QuerySet[DoNotCallEntry] | None = None) -> Iterator[str]:
    """The list (or ``entries``) as CSV text, header first, in chunks of rows, by
    number; read from the database in batches, so any size streams in little memory.

    Columns: ``phone_number``, ``reason``, ``source``, ``added_by`` (the username),
    ``added_at`` (ISO 8601). The file can be imported again.
    """
    username = f"added_by__{get_user_model().USERNAME_FIELD}"
    queryset = entries if entries is not None else DoNotCallEntry.objects.all()
    values = queryset.order_by("phone_number").values_list(
        "phone_number", "reason", "source", username, "added_at"
    )
    writer = csv.writer(_Buffer())
    yield writer.writerow(EXPORT_COLUMNS)
    chunk: list[str] = []
    for number, reason, source, user, added_at in values.iterator(chunk_size=2000):
        chunk.append(
            writer.writerow(
                [number, _cell(reason), _cell(source), _cell(str(user or "")), added_at.isoformat()]
            )
        )
        if len(chunk) >= EXPORT_CHUNK_ROWS:
            yield "".join(chunk)
            chunk = []
    if chunk:
        yield "".join(chunk)
