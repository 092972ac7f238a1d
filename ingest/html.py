"""The web page reader: the only module that imports BeautifulSoup (with the lxml HTML parser).

The page's main content (``main``, ``article``, ``[role=main]``, where there is one with text), without
scripts, styles, forms and navigation boilerplate; one unit per section under its heading path (h1-h6);
tables as rows that read alone; the document inside an ``<iframe srcdoc>`` read in the iframe's place.
Text is UTF-8 unless the bytes are not, whatever the page (does not) declare.
"""

from __future__ import annotations

import contextlib
import re

from bs4 import BeautifulSoup
from bs4.element import Comment, Declaration, Doctype, NavigableString, ProcessingInstruction, Tag

from ingest.loaders import Loaded
from ingest.sniff import Kind
from ingest.units import Budget, table_rows
from rag.errors import LoadError
from rag.locators import section_label
from rag.text import normalize_page
from rag.types import PageInfo

_DROP = ("script", "style", "noscript", "template", "svg", "canvas", "nav", "aside", "form", "button", "select",
         "input", "textarea", "object", "embed", "audio", "video", "map", "head", "dialog", "menu")
_BOILERPLATE_ROLES = {"navigation", "banner", "contentinfo", "search", "complementary", "menu", "menubar"}
_BLOCKS = {"p", "div", "section", "article", "main", "li", "dd", "dt", "dl", "blockquote", "pre", "address",
           "figure", "figcaption", "caption", "ul", "ol", "header", "footer", "center", "hr", "body", "html",
           "details", "summary", "fieldset", "legend"}
_HEADING = re.compile(r"^h([1-6])$")
_MAIN_SELECTORS = ("main", "article", "[role=main]", "#content", "#main-content", "#main")
_MIN_MAIN_CHARS = 200
_MAX_SRCDOC_DEPTH = 3


def read(data: bytes, kind: Kind, password: str | None) -> Loaded:
    """Read an HTML page into sections."""
    try:
        soup = _soup(data)
        title = soup.title.get_text(" ", strip=True) if soup.title is not None else ""
        root = _main(soup)
        walker = _Walker()
        walker.walk(root, 0)
        walker.flush()
    except RecursionError as exc:
        raise LoadError("damaged: elements nested too deeply") from exc
    pages, infos = [], []
    for path, paragraphs in walker.units:
        if text := normalize_page("\n\n".join(paragraphs)):
            pages.append(text)
            infos.append(PageInfo(section_label(path), kind="section"))
    if not pages:
        raise LoadError("no text")
    return Loaded(pages, infos, title or walker.first_heading)


def _soup(data: bytes | str) -> BeautifulSoup:
    if isinstance(data, bytes):
        # valid UTF-8 is UTF-8, whatever a missing charset implies; else BeautifulSoup reads the declared
        # charset, or guesses
        with contextlib.suppress(UnicodeDecodeError):
            data = data.decode("utf-8-sig")
    soup = BeautifulSoup(data, "lxml")
    for tag in soup.find_all(_DROP):
        tag.decompose()
    for tag in soup.find_all(True):
        if tag.decomposed or tag.attrs is None:
            continue
        role = str(tag.get("role") or "").lower()
        if role in _BOILERPLATE_ROLES or tag.has_attr("hidden") or str(tag.get("aria-hidden")) == "true":
            tag.decompose()
    for comment in soup.find_all(string=lambda s: isinstance(s, Comment | Declaration | Doctype
                                                             | ProcessingInstruction)):
        comment.extract()
    return soup


def _main(soup: BeautifulSoup) -> Tag:
    """The element holding the page's main content, if the page marks one that has text; else the body."""
    for selector in _MAIN_SELECTORS:
        found = soup.select_one(selector)
        if found is not None and len(found.get_text(" ", strip=True)) >= _MIN_MAIN_CHARS:
            return found
    return soup.body or soup


class _Walker:
    """Collects (heading path, paragraphs) units while walking the DOM."""

    def __init__(self) -> None:
        self.units: list[tuple[list[str], list[str]]] = [([], [])]
        self.path: list[str] = []
        self.first_heading = ""
        self.buffer: list[str] = []
        self.budget = Budget()

    def flush(self) -> None:
        text = "".join(self.buffer)
        self.buffer = []
        if text.strip():
            self.units[-1][1].append(self.budget.take(text.strip()))

    def walk(self, node: Tag, depth: int) -> None:
        for child in node.children:
            if isinstance(child, NavigableString):
                self.buffer.append(str(child))
                continue
            if not isinstance(child, Tag):
                continue
            name = child.name.lower()
            if match := _HEADING.match(name):
                self.flush()
                heading = child.get_text(" ", strip=True)
                if heading:
                    level = int(match.group(1))
                    self.path = [*self.path[: level - 1], *[""] * max(0, level - 1 - len(self.path)), heading]
                    self.first_heading = self.first_heading or heading
                    self.units.append((list(self.path), [heading]))
            elif name == "table":
                self.flush()
                rows = [[cell.get_text(" ", strip=True) for cell in tr.find_all(("th", "td"))]
                        for tr in child.find_all("tr") if tr.find_parent("table") is child]
                for row in table_rows(rows):
                    self.units[-1][1].append(self.budget.take(row))
            elif name == "iframe":
                srcdoc = child.get("srcdoc")
                if isinstance(srcdoc, str) and srcdoc.strip() and depth < _MAX_SRCDOC_DEPTH:
                    self.flush()
                    inner = _soup(srcdoc)
                    self.walk(inner.body or inner, depth + 1)
                    self.flush()
            elif name == "br":
                self.buffer.append("\n")
            elif name in _BLOCKS:
                self.flush()
                self.walk(child, depth)
                self.flush()
            else:
                self.walk(child, depth)
