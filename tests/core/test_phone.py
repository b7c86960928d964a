import pytest
from django.core.exceptions import ValidationError

from clicktoagent.phone import normalize_phone


@pytest.mark.parametrize(
    "typed",
    ["(312) 555-0123", "312.555.0123", "+1 312 555 0123", "1-312-555-0123", "3125550123"],
)
def test_what_people_type_becomes_ten_digits(typed: str) -> None:
    assert normalize_phone(typed) == "3125550123"


def test_canadian_number_is_north_american() -> None:
    assert normalize_phone("+1 (416) 555-0142") == "4165550142"


@pytest.mark.parametrize(
    ("typed", "fragment"),
    [
        ("5551112222", "not a valid phone number"),  # area code 555 does not exist
        ("312555012", "not a valid phone number"),
        ("call me", "is not a phone number"),
        ("+44 20 7946 0958", "region GB, which is not allowed"),
        ("", "A phone number is required"),
        ("   ", "A phone number is required"),
    ],
)
def test_invalid_numbers_are_refused_quoting_the_input(typed: str, fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        normalize_phone(typed)
    message = info.value.messages[0]
    assert fragment in message
    if typed.strip():
        assert repr(typed.strip()) in message


def test_length_only_validation_accepts_the_documents_example(settings) -> None:
    settings.CLICKTOAGENT = {"PHONE_STRICT_VALIDATION": False}
    assert normalize_phone("555-111-2222") == "5551112222"
    with pytest.raises(ValidationError):
        normalize_phone("555-111")


def test_other_allowed_regions_keep_their_country_code(settings) -> None:
    settings.CLICKTOAGENT = {"PHONE_REGIONS": ["US", "GB"]}
    assert normalize_phone("+44 20 7946 0958") == "442079460958"
