"""Phone numbers as people type them -> the unformatted digits DialogTech wants."""

from __future__ import annotations

import phonenumbers
from django.core.exceptions import ValidationError

from .conf import app_settings


def normalize_phone(value: str) -> str:
    """Return ``value`` as unformatted digits, or raise ``ValidationError`` quoting it.

    North American numbers become their ten national digits (``(312) 555-0123`` ->
    ``3125550123``); numbers of other allowed regions become country code + national
    number. With ``PHONE_STRICT_VALIDATION`` off only the length is checked, for
    DialogTech test accounts that use made-up numbers such as ``5551112222``.
    """
    raw = (value or "").strip()
    if not raw:
        raise ValidationError("A phone number is required.", code="required")
    regions = tuple(app_settings.PHONE_REGIONS)
    try:
        parsed = phonenumbers.parse(raw, app_settings.PHONE_DEFAULT_REGION)
    except phonenumbers.NumberParseException as err:
        raise ValidationError(
            f"{raw!r} is not a phone number ({_parse_reason(err)}).",
            code="invalid_phone",
        ) from None
    if app_settings.PHONE_STRICT_VALIDATION:
        region = phonenumbers.region_code_for_number(parsed)
        if not phonenumbers.is_valid_number(parsed):
            raise ValidationError(
                f"{raw!r} is not a valid phone number "
                "(check the area code and the number of digits).",
                code="invalid_phone",
            )
        if region not in regions:
            raise ValidationError(
                f"{raw!r} is a number in region {region}, which is not allowed "
                f"(allowed: {', '.join(sorted(regions))}).",
                code="region_not_allowed",
            )
    else:
        allowed_codes = {phonenumbers.country_code_for_region(r) for r in regions}
        if parsed.country_code not in allowed_codes or not phonenumbers.is_possible_number(parsed):
            raise ValidationError(
                f"{raw!r} does not have the length of a phone number in the allowed regions.",
                code="invalid_phone",
            )
    national = str(parsed.national_number)
    if parsed.country_code == 1:
        return national
    return f"{parsed.country_code}{national}"


def _parse_reason(err: phonenumbers.NumberParseException) -> str:
    reasons = {
        phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
        phonenumbers.NumberParseException.NOT_A_NUMBER: "it does not look like a number",
        phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
        phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
        phonenumbers.NumberParseException.TOO_LONG: "too long",
    }
    return reasons.get(err.error_type, "unreadable")
