"""FieldErrors: every field's messages collected, then one ValidationError."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from clicktoagent.phone import normalize_phone
from clicktoagent.validation import FieldErrors


def test_messages_of_every_field_are_raised_together() -> None:
    errors = FieldErrors()
    with errors.check("phone"):
        normalize_phone("not a number")
    with errors.check("region"):
        raise ValueError("No such state 'XX'.")
    with errors.check("fine"):
        pass
    errors["reason"] = ["Too long."]
    with pytest.raises(ValidationError) as caught:
        errors.raise_if_any()
    messages = caught.value.message_dict
    assert set(messages) == {"phone", "region", "reason"}
    assert messages["phone"] and "number" in messages["phone"][0].lower()
    assert messages["region"] == ["No such state 'XX'."]


def test_nothing_is_raised_without_errors_and_other_exceptions_go_through() -> None:
    errors = FieldErrors()
    errors.raise_if_any()
    with pytest.raises(KeyError), errors.check("phone"):
        raise KeyError("a bug, not bad input")
    assert errors == {}
