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


def test_default_regions_are_the_united_states_and_canada() -> None:
    assert normalize_phone("+1 312 555 0123") == "3125550123"
    assert normalize_phone("+1 416 555 0142") == "4165550142"
    with pytest.raises(ValidationError) as info:
        normalize_phone("+1 876 927 1234")  # Jamaica shares country code 1
    message = info.value.messages[0]
    assert "region JM, which is not allowed (allowed: CA, US;" in message
    assert "PHONE_REGIONS" in message


def test_another_nanp_region_can_be_allowed(settings) -> None:
    settings.CLICKTOAGENT = {"PHONE_REGIONS": ["US", "CA", "JM"]}
    assert normalize_phone("+1 876 927 1234") == "8769271234"


@pytest.mark.parametrize(
    ("typed", "kind"),
    [
        ("+1 900 555 0123", "premium rate"),
        ("1-900-200-1234", "premium rate"),
        ("+1 500 555 0123", "personal number"),
    ],
)
def test_paid_number_types_are_refused_by_default(typed: str, kind: str) -> None:
    with pytest.raises(ValidationError) as info:
        normalize_phone(typed)
    message = info.value.messages[0]
    assert f"is a {kind} number, which is not allowed" in message
    assert "PHONE_ALLOWED_TYPES" in message


def test_toll_free_numbers_are_allowed() -> None:
    assert normalize_phone("1-800-555-0123") == "8005550123"


def test_paid_number_types_can_be_allowed(settings) -> None:
    settings.CLICKTOAGENT = {
        "PHONE_ALLOWED_TYPES": ["FIXED_LINE_OR_MOBILE", "PREMIUM_RATE"],
    }
    assert normalize_phone("+1 900 555 0123") == "9005550123"
    with pytest.raises(ValidationError, match="toll free number"):
        normalize_phone("1-800-555-0123")


def test_length_only_validation_still_refuses_paid_types_and_other_regions(settings) -> None:
    settings.CLICKTOAGENT = {"PHONE_STRICT_VALIDATION": False}
    with pytest.raises(ValidationError, match="premium rate"):
        normalize_phone("+1 900 555 0123")
    with pytest.raises(ValidationError, match="region JM"):
        normalize_phone("+1 876 927 1234")
    assert normalize_phone("555-111-2222") == "5551112222"


def test_system_check_names_an_unknown_number_type(settings) -> None:
    from django.core.checks import run_checks

    settings.CLICKTOAGENT = {"PHONE_ALLOWED_TYPES": ["MOBILE", "PREMIUM"]}
    errors = [m for m in run_checks() if m.id == "clicktoagent.E007"]
    assert len(errors) == 1 and "'PREMIUM'" in errors[0].msg


# ---------------------------------------------------------------- E.164 (do-not-call list)


@pytest.mark.parametrize("typed", ["(312) 555-0123", "312.555.0123", "+1 312 555 0123"])
def test_e164_of_what_people_type(typed: str) -> None:
    from clicktoagent.phone import normalize_phone_e164

    assert normalize_phone_e164(typed) == "+13125550123"


def test_e164_keeps_the_type_rule_unless_any_type_is_asked(settings) -> None:
    from clicktoagent.phone import normalize_phone_e164

    with pytest.raises(ValidationError, match="premium rate"):
        normalize_phone_e164("+1 900 555 0123")
    assert normalize_phone_e164("+1 900 555 0123", any_type=True) == "+19005550123"
    # Any type, but still a real number of an allowed region.
    with pytest.raises(ValidationError, match="region JM"):
        normalize_phone_e164("+1 876 927 1234", any_type=True)
    with pytest.raises(ValidationError, match="not a valid phone number"):
        normalize_phone_e164("555-01", any_type=True)


def test_e164_of_another_region_keeps_a_leading_zero(settings) -> None:
    from clicktoagent.phone import normalize_phone_e164

    settings.CLICKTOAGENT = {"PHONE_REGIONS": ["US", "IT"]}
    assert normalize_phone_e164("+39 06 1234 5678") == "+390612345678"


@pytest.mark.parametrize(
    "typed",
    [
        "(312) 555-0123",
        "312.555.0123",
        "312-555-0123",
        "3125550123",
        "+13125550123",
        "+1 312 555 0123",
        "1-312-555-0123",
        "1 (312) 555-0123",
        "+1 (416) 555-0199",
        "+1 900 555 0123",
        "(212)555-0000",
        "+312 555 0123",  # the Netherlands (+31), not Chicago
        "+44 20 7946 0958",
        "312 555 0123 x12",
        "012-555-0123",
    ],
)
def test_the_quick_north_american_reading_matches_phonenumbers(settings, typed: str) -> None:
    import phonenumbers

    from clicktoagent.phone import _parse

    settings.CLICKTOAGENT = {"PHONE_DEFAULT_REGION": "US"}
    expected = phonenumbers.parse(typed, "US")
    got = _parse(typed)
    assert (got.country_code, got.national_number) == (
        expected.country_code,
        expected.national_number,
    )
