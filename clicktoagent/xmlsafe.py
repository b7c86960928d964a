"""Parsing XML that comes from the network: no entities, no DTD, no network, a size cap."""

from __future__ import annotations

import re

from lxml import etree

_DECLARATION = re.compile(rb"<!(DOCTYPE|ENTITY)", re.IGNORECASE)


class UnsafeXMLError(ValueError):
    """The document is too large, not well formed, or uses DTD features."""


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
        remove_pis=True,
    )


def parse_xml(body: bytes, *, max_bytes: int) -> etree._Element:
    """Parse ``body`` into an element, refusing anything a hostile sender could abuse."""
    if len(body) > max_bytes:
        raise UnsafeXMLError(f"document is {len(body)} bytes, more than the {max_bytes} allowed")
    if _DECLARATION.search(body):
        raise UnsafeXMLError("document declares a DTD or entities, which are not accepted")
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as err:
        raise UnsafeXMLError(f"not well-formed XML ({err.msg})") from None
    if root is None:
        raise UnsafeXMLError("empty document")
    return root
