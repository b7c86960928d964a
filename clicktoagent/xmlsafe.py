"""Parsing XML that comes from the network: no entities, no DTD, no network, a size cap.

A DTD is refused structurally, by the parser, in whatever encoding the document uses
(UTF-8, UTF-16, UTF-32, any declared encoding libxml2 accepts): a first pass with a
parser target stops at the ``<!DOCTYPE`` before its internal subset is even read, and
the tree of the second pass is checked again for a DTD and entity references.
"""

from __future__ import annotations

from typing import Any

from lxml import etree

DECLARATION_REFUSED = "document declares a DTD or entities, which are not accepted"


class UnsafeXMLError(ValueError):
    """The document is too large, not well formed, or uses DTD features."""


class _DeclarationFound(Exception):
    """Raised from the scan's ``doctype`` hook to stop the parser at once."""


class _DoctypeScan:
    """A parser target that builds nothing and stops at the first ``<!DOCTYPE``."""

    def doctype(self, name: Any, public_id: Any, system_url: Any) -> None:
        raise _DeclarationFound

    def start(self, tag: Any, attrib: Any) -> None:
        pass

    def end(self, tag: Any) -> None:
        pass

    def data(self, data: Any) -> None:
        pass

    def close(self) -> None:
        return None


def _parser(target: Any = None) -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        load_dtd=False,
        dtd_validation=False,
        no_network=True,
        huge_tree=False,
        remove_pis=True,
        target=target,
    )


def _refuse_doctype(body: bytes) -> None:
    """Scan ``body`` without building a tree; stop at the first ``<!DOCTYPE``."""
    try:
        etree.fromstring(body, _parser(_DoctypeScan()))
    except _DeclarationFound:
        raise UnsafeXMLError(DECLARATION_REFUSED) from None


def _has_declarations(root: etree._Element) -> bool:
    docinfo = root.getroottree().docinfo
    if docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        return True
    if docinfo.doctype or docinfo.system_url or docinfo.public_id:
        return True
    return next(root.iter(etree.Entity), None) is not None


def parse_xml(body: bytes, *, max_bytes: int) -> etree._Element:
    """Parse ``body`` into an element, refusing anything a hostile sender could abuse."""
    if len(body) > max_bytes:
        raise UnsafeXMLError(f"document is {len(body)} bytes, more than the {max_bytes} allowed")
    try:
        _refuse_doctype(body)
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as err:
        raise UnsafeXMLError(f"not well-formed XML ({err.msg})") from None
    if root is None:
        raise UnsafeXMLError("empty document")
    if _has_declarations(root):
        raise UnsafeXMLError(DECLARATION_REFUSED)
    return root
