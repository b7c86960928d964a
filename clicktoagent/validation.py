"""Collecting the errors of one input per field, to report them all at once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ValidationError


class FieldErrors(dict[str, list[str]]):
    """Messages per field, as a form collects them: check every field, then raise one
    ``ValidationError`` holding them all (:meth:`raise_if_any`)."""

    @contextmanager
    def check(self, field: str) -> Iterator[None]:
        """Record under ``field`` the messages of a ``ValidationError``, or the text of a
        ``ValueError``, raised inside the block; anything else goes through."""
        try:
            yield
        except ValidationError as err:
            self.setdefault(field, []).extend(err.messages)
        except ValueError as err:
            self.setdefault(field, []).append(str(err))

    def raise_if_any(self) -> None:
        if self:
            raise ValidationError(dict(self))
