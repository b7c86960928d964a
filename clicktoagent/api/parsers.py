"""Request body parsers with a size cap and a JSON depth limit, whatever the host's
``REST_FRAMEWORK`` settings say.

DRF reads a JSON or form body whole (``request.body``) before its parser runs, and a
multipart body streams files to disk: so the size is also checked against the declared
``Content-Length`` before anything is read (:func:`body_size_check`, called by the
views), and again on the bytes actually read.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from django.conf import settings
from rest_framework import exceptions, status
from rest_framework.parsers import BaseParser, FormParser, JSONParser, MultiPartParser
from rest_framework.utils import json

from ..conf import app_settings
from ..jsonsafe import UnsafeJSONError, parse_json

_Context = Mapping[str, Any] | None  # DRF's parser_context


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


def _too_large(size: int | str, limit: int) -> RequestTooLarge:
    return RequestTooLarge(
        f"The request body is {size} bytes; at most {limit} are accepted (API_MAX_BODY_BYTES)."
    )


def body_size_check(request: Any) -> None:
    """Refuse (413) a body whose ``Content-Length`` exceeds ``API_MAX_BODY_BYTES``,
    before any of it is read."""
    limit = int(app_settings.API_MAX_BODY_BYTES)
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0  # Django and DRF read nothing of a body without a usable length
    if length > limit:
        raise _too_large(length, limit)


def _read_bounded(stream: Any, parser_context: _Context) -> bytes:
    limit = int(app_settings.API_MAX_BODY_BYTES)
    request = (parser_context or {}).get("request")
    if request is not None:
        body_size_check(request)
    raw: bytes = stream.read(limit + 1)
    if len(raw) > limit:
        raise _too_large(f"more than {limit}", limit)
    return raw


class _BoundedParser(BaseParser):
    """Checks the body's size, then hands it to the parser proper (next in the MRO)."""

    # A multipart body streams files to disk, so only its declared length is checked.
    streams_body: ClassVar[bool] = False

    def parse(
        self, stream: Any, media_type: str | None = None, parser_context: _Context = None
    ) -> Any:
        if self.streams_body:
            request = (parser_context or {}).get("request")
            if request is not None:
                body_size_check(request)
            return super().parse(stream, media_type, parser_context)
        raw = _read_bounded(stream, parser_context)
        return self.parse_bytes(raw, media_type, parser_context)

    def parse_bytes(self, raw: bytes, media_type: str | None, parser_context: _Context) -> Any:
        return super().parse(io.BytesIO(raw), media_type, parser_context)


class BoundedJSONParser(_BoundedParser, JSONParser):
    """JSON within ``API_MAX_BODY_BYTES`` and ``JSON_MAX_DEPTH``; the depth is measured
    before parsing, so 50,000 nested ``[`` are a 400, not a ``RecursionError``."""

    def parse_bytes(self, raw: bytes, media_type: str | None, parser_context: _Context) -> Any:
        encoding = str((parser_context or {}).get("encoding", settings.DEFAULT_CHARSET))
        try:
            return parse_json(
                raw,
                max_depth=int(app_settings.JSON_MAX_DEPTH),
                max_bytes=int(app_settings.API_MAX_BODY_BYTES),
                encoding=encoding,
                parse_constant=json.strict_constant if self.strict else None,
            )
        except UnsafeJSONError as err:
            raise exceptions.ParseError(f"JSON parse error - {err}.") from None


class BoundedFormParser(_BoundedParser, FormParser):
    """A URL-encoded form within ``API_MAX_BODY_BYTES``."""


class BoundedMultiPartParser(_BoundedParser, MultiPartParser):
    """A multipart form whose declared length is within ``API_MAX_BODY_BYTES``."""

    streams_body = True


API_PARSERS: Sequence[type[BaseParser]] = (
    BoundedJSONParser,
    BoundedFormParser,
    BoundedMultiPartParser,
)
