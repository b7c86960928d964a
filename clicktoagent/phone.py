"""Phone numbers as people type them -> the unformatted digits DialogTech wants."""

from __future__ import annotations

import re

import phonenumbers
from django.core.exceptions import ValidationError

from .conf import app_settings

# How each phonenumbers.PhoneNumberType reads in a message.
TYPE_LABELS = {
    "FIXED_LINE": "fixed line",
    "MOBILE": "mobile",
    "FIXED_LINE_OR_MOBILE": "fixed line or mobile",
    "TOLL_FREE": "toll free",
    "PREMIUM_RATE": "premium rate",
    "SHARED_COST": "shared cost",
    "VOIP": "VoIP",
    "PERSONAL_NUMBER": "personal number",
    "PAGER": "pager",
    "UAN": "universal access (UAN)",
    "VOICEMAIL": "voicemail access",
    "UNKNOWN": "unknown",
}

# The North American forms people type most ("(312) 555-0123", "312.555.0123",
# "+1 312 555 0123", "1-312-555-0123"), read without phonenumbers' general parser, which
# takes half the time of a check; the number is the one phonenumbers.parse would give.
# Validation is the same for every form.
_NANP_TYPED = re.compile(r"(?:\+1|1)?[ .\-]?\(?([2-9]\d{2})\)?[ .\-]?(\d{3})[ .\-]?(\d{4})")


def normalize_phone(value: str) -> str:
    """Return ``value`` as unformatted digits, or raise ``ValidationError`` quoting it.

    North American numbers become their ten national digits (``(312) 555-0123`` ->
    ``3125550123``); numbers of other allowed regions become country code + national
    number. A number of a region outside ``PHONE_REGIONS`` or of a type outside
    ``PHONE_ALLOWED_TYPES`` (premium rate and other paid numbers) is refused. With
    ``PHONE_STRICT_VALIDATION`` off only the length is checked, for DialogTech test
    accounts that use made-up numbers such as ``5551112222``; a number phonenumbers
    does recognise must still be of an allowed region and type.
    """
    parsed = _checked_number(value, check_type=True)
    national = str(parsed.national_number)
    if parsed.country_code == 1:
        return national
    return f"{parsed.country_code}{national}"


def normalize_phone_e164(value: str, *, any_type: bool = False) -> str:
    """Return ``value`` in E.164 (``+13125550123``), checked like :func:`normalize_phone`.

    ``any_type`` accepts a number of any type (premium rate, pager...) as long as it is
    a number of ``PHONE_REGIONS``: the do-not-call list takes every number that exists,
    even one the app would never dial, so that it stays refused if its type is allowed
    later.
    """
    parsed = _checked_number(value, check_type=not any_type)
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def _checked_number(value: str, *, check_type: bool) -> phonenumbers.PhoneNumber:
    raw = (value or "").strip()
    if not raw:
        raise ValidationError("A phone number is required.", code="required")
    regions = tuple(app_settings.PHONE_REGIONS)
    parsed = _parse(raw)
    region = phonenumbers.region_code_for_number(parsed)
    if app_settings.PHONE_STRICT_VALIDATION:
        # is_valid_number(parsed), without looking the region up a second time.
        if region is None or not phonenumbers.is_valid_number_for_region(parsed, region):
            raise ValidationError(
                f"{raw!r} is not a valid phone number "
                "(check the area code and the number of digits).",
                code="invalid_phone",
            )
    else:
        allowed_codes = {phonenumbers.country_code_for_region(r) for r in regions}
        if parsed.country_code not in allowed_codes or not phonenumbers.is_possible_number(parsed):
            raise ValidationError(
                f"{raw!r} does not have the length of a phone number in the allowed regions.",
                code="invalid_phone",
            )
    # Without full validation a made-up number has no region (None): only its length counts.
    if region not in regions and (app_settings.PHONE_STRICT_VALIDATION or region):
        raise ValidationError(
            f"{raw!r} is a number in region {region}, which is not allowed "
            f"(allowed: {', '.join(sorted(regions))}; see CLICKTOAGENT['PHONE_REGIONS']).",
            code="region_not_allowed",
        )
    if not check_type:
        return parsed
    number_type = phonenumbers.PhoneNumberType.to_string(phonenumbers.number_type(parsed))
    allowed_types = tuple(app_settings.PHONE_ALLOWED_TYPES)
    if number_type != "UNKNOWN" and number_type not in allowed_types:
        label = TYPE_LABELS.get(number_type, number_type)
        allowed = ", ".join(TYPE_LABELS.get(name, name) for name in allowed_types)
        raise ValidationError(
            f"{raw!r} is a {label} number, which is not allowed (allowed: {allowed}); "
            f"to call such numbers add {number_type} to CLICKTOAGENT['PHONE_ALLOWED_TYPES'].",
            code="number_type_not_allowed",
        )
    return parsed


def _parse(raw: str) -> phonenumbers.PhoneNumber:
    default_region = app_settings.PHONE_DEFAULT_REGION
    match = _NANP_TYPED.fullmatch(raw)
    if match and phonenumbers.country_code_for_region(default_region) == 1:
        return phonenumbers.PhoneNumber(
            country_code=1, national_number=int("".join(match.groups()))
        )
    try:
        return phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as err:
        raise ValidationError(
            f"{raw!r} is not a phone number ({_parse_reason(err)}).",
            code="invalid_phone",
        ) from None


def _parse_reason(err: phonenumbers.NumberParseException) -> str:
    reasons = {
        phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
        phonenumbers.NumberParseException.NOT_A_NUMBER: "it does not look like a number",
        phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
        phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
        phonenumbers.NumberParseException.TOO_LONG: "too long",
    }
    return reasons.get(err.error_type, "unreadable")
