"""Parsing the XML inside office packages without ever resolving an entity, loading a DTD or touching
the network (XXE and "billion laughs" stay inert); the only module the ODF and Office readers parse XML with.

Example: root = parse(read_member(archive, "content.xml"), "content.xml")
"""

from __future__ import annotations

from typing import Any, TypeAlias

from lxml import etree

from rag.errors import LoadError

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
                          huge_tree=False, remove_comments=True, remove_pis=True)

Element: TypeAlias = Any  # an lxml element (lxml ships no type information)


def parse(data: bytes, part: str) -> Element:
    """The root element of ``data``; a part that is not well-formed XML is 'damaged: <part> …'."""
    try:
        root: Element = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        detail = " ".join(str(exc).split())[:60]
        raise LoadError(f"damaged: {part} is not well-formed XML ({detail})") from exc
    if root is None:
        raise LoadError(f"damaged: {part} is empty")
    return root
