"""Pieces the pages share: safe rendering of untrusted text, the answer with its source cards, the page view.

Document text and model output are untrusted: they are shown only after escaping (HTML-escaped for
``st.html``, Markdown-escaped for ``st.markdown``), so a passage or an answer can never inject markup,
links or images that load something from outside the machine.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import streamlit as st

from rag.answer.citations import marker_numbers
from rag.answer.highlight import support_spans
from rag.errors import RagError
from rag.service import Service
from rag.types import Answer, Citation, DocumentInfo, Hit
from ui.i18n import Translator
from ui.page_image import page_image
from ui.state import caller

CSS = """
<style>
.rag-passage { font-size: 0.92rem; line-height: 1.55; color: #3d4451; }
.rag-passage mark, .rag-page mark { background: #fff0a8; color: inherit; padding: 0 .12em; border-radius: .2em; }
.rag-page { white-space: pre-wrap; font-size: 0.95rem; line-height: 1.6; color: #262730; }
.rag-page-break { color: #8a8f98; font-size: 0.8rem; margin: .8rem 0 .4rem; }
</style>
"""

_PUNCT = re.compile(r"([!-/:-@\[-`{-~])")  # every ASCII punctuation character: CommonMark lets all be escaped
_PUNCT_RICH = re.compile(r"([!-)+-/:-@\[-^`{-~])")  # ... except * and _: emphasis cannot load or link anything
_LIST_ITEM = re.compile(r"^(\s*)([-*+]|\d{1,3}[.)])(\s+)")
_MARKER = re.compile(r"\s*\[\s*(\d{1,3}(?:\s*[-\u2013,;]\s*\d{1,3})*)\s*\]")
_CODE = re.compile(r"`([^`\n]+)`")
_OUR_LOCATOR = re.compile(r"^(?:pp?\.|slides?) \d+(?:-\d+)?$")  # digits and our words only


@dataclass(frozen=True)
class Exchange:
    """One question and its answer, as kept in the session."""

    question: str
    answer: Answer


def _escape_inline(text: str, rich: bool = False, line_start: bool = True) -> str:
    """Escape a piece of text (spaces kept); lines lose their indentation (no code blocks).

    ``rich`` keeps what a model writes to format an answer and what cannot reach outside: emphasis
    (``*``, ``_``) and list items; links, images, HTML, headings, tables, math and directives stay inert.
    """
    lines = text.replace("\r", "").split("\n")
    out = []
    for i, line in enumerate(lines):
        start = line_start or i > 0
        if i > 0:
            line = line.lstrip()
        marker = ""
        if rich and start and (item := _LIST_ITEM.match(line)):
            marker, line = f"{item.group(2)} ", line[item.end() :]
        out.append(marker + (_PUNCT_RICH if rich else _PUNCT).sub(r"\\\1", line))
    return "  \n".join(out)


def md_escape(text: str) -> str:
    """Untrusted text as Markdown that shows exactly that text: punctuation escaped, line breaks kept.

    Example: md_escape("![x](http://a/b.png) *5*") -> "\\!\\[x\\]\\(http\\:\\/\\/a\\/b\\.png\\) \\*5\\*"
    """
    return _escape_inline(text.strip())


def md_with_code(text: str) -> str:
    """Like md_escape, but `code spans` stay code (our notices name commands that way)."""
    text = text.strip()
    out, last = [], 0
    for match in _CODE.finditer(text):
        out.append(_escape_inline(text[last : match.start()]))
        out.append(f"`{match.group(1)}`")
        last = match.end()
    out.append(_escape_inline(text[last:]))
    return "".join(out)


def answer_markdown(text: str, cursor: bool = False) -> str:
    """An answer as safe Markdown, its ``[n]`` markers as small badges: 'Es 51 [1].' -> 'Es 51 :blue-badge[1]\\.'"""
    text = text.strip()
    out, last = [], 0
    for match in _MARKER.finditer(text):
        at_line_start = last == 0 or text[last - 1] == "\n"
        out.append(_escape_inline(text[last : match.start()], rich=True, line_start=at_line_start))
        numbers = marker_numbers(match.group(1), 999)
        out.append(" " + " ".join(f":blue-badge[{n}]" for n in dict.fromkeys(numbers)))
        last = match.end()
    out.append(_escape_inline(text[last:], rich=True, line_start=last == 0 or text[last - 1] == "\n"))
    return "".join(out) + (" ▌" if cursor else "")


def highlighted_html(text: str, evidence: Sequence[str]) -> str:
    """``text`` HTML-escaped, with the words that support ``evidence`` wrapped in <mark>."""
    out, last = [], 0
    for start, end in support_spans(text, evidence):
        out.append(html.escape(text[last:start]))
        out.append(f"<mark>{html.escape(text[start:end])}</mark>")
        last = end
    out.append(html.escape(text[last:]))
    return "".join(out)


def pages_label(tr: Translator, page: int, page_end: int, locator: str = "") -> str:
    """Where a passage is, in the page's language: its locator ('diapositiva 4'), else its pages."""
    if locator:
        return tr.locator(locator)
    return tr("card.pages", page=page, page_end=page_end) if page_end > page else tr("card.page", page=page)


def where_md(tr: Translator, page: int, page_end: int, locator: str = "") -> str:
    """``pages_label`` as safe Markdown: a sheet name or a heading path is the document's own text."""
    label = pages_label(tr, page, page_end, locator)
    return label if not locator or _OUR_LOCATOR.match(locator) else md_escape(label)


def units_label(tr: Translator, doc: DocumentInfo) -> str:
    """What a document is made of, as its locators count it: '12 pág.', '8 diapositivas', '5 secciones',
    '2 hojas (7 bloques de filas)'."""
    def counted(key: str, n: int) -> str:
        return tr(f"docs.unit.{key}_one") if n == 1 else tr(f"docs.unit.{key}", n=n)

    if doc.unit == "sheet":
        blocks = counted("rows", doc.pages)
        return f"{counted('sheet', doc.sheets)} ({blocks})" if doc.sheets else blocks
    return counted(doc.unit, doc.pages)


def ocr_note(tr: Translator, confidence: float | None) -> str:
    """The warning that a passage's text was recognised by OCR (with the engine's confidence if known)."""
    if confidence is None:
        return tr("card.ocr")
    return tr("card.ocr_confidence", confidence=f"{confidence:.0f}")


def _hit_for(answer: Answer, citation: Citation) -> Hit | None:
    return next((h for h in answer.hits if h.chunk_id == citation.chunk_id), None)


def _doc_sha(citation: Citation, hit: Hit | None) -> str:
    if hit is not None and hit.doc_sha:
        return hit.doc_sha
    return citation.chunk_id.split(":", 1)[0]


def show_page(tr: Translator, service: Service, collection: str, doc_sha: str, source: str,
              page: int, page_end: int, evidence: Sequence[str], locator: str = "", passage: str = "") -> None:
    """Open a dialog with the whole text of the cited page(s) (slides, sections, rows), supporting words
    marked, and a note on the units whose text was recognised by OCR; beside it, for PDFs and scans, the
    page as an image with the cited ``passage`` marked."""

    def body() -> None:
        image = page_image(tr, service, collection, doc_sha, page, passage, caller())
        if image is None:  # not a PDF or a scan (or its file is gone): the text alone
            page_text_html()
            return
        image_column, text_column = st.columns(2, gap="medium")
        with image_column:
            image()
        with text_column:
            page_text_html()

    def page_text_html() -> None:
        parts = []
        for number in range(page, max(page, page_end) + 1):
            try:
                text = service.page_text(doc_sha, number, collection, identity=caller())
            except RagError:  # the collection is gone, or no longer the caller's to read: like a missing page
                text = None
            if text is None:
                continue
            info = service.page_info(doc_sha, number, collection, identity=caller())
            if page_end > page:
                name = tr.locator(info.label) if info is not None and info.label else tr("card.page", page=number)
                parts.append(f'<div class="rag-page-break">— {html.escape(name)} —</div>')
            if info is not None and info.ocr:
                parts.append(f'<div class="rag-page-break">{html.escape(ocr_note(tr, info.ocr_confidence))}</div>')
            parts.append(f'<div class="rag-page">{highlighted_html(text, evidence)}</div>')
        if parts:
            st.html("".join(parts))
        else:
            st.info(tr("card.page_missing"), icon=":material/info:")

    title = tr("card.page_title", source=source, pages=pages_label(tr, page, page_end, locator))
    st.dialog(title, width="large", icon=":material/article:")(body)()


def source_card(tr: Translator, service: Service, collection: str, answer: Answer, citation: Citation,
                key: str) -> None:
    """One citation: its number, file and page, the passage with supporting words marked, the page button."""
    hit = _hit_for(answer, citation)
    evidence = [answer.question, answer.answer]
    page_end = citation.page_end or citation.page
    with st.container(border=True):
        st.markdown(f":blue-badge[{citation.n}] **{md_escape(citation.source)}** · "
                    f":gray[{where_md(tr, citation.page, page_end, citation.locator)}]")
        if citation.ocr:
            st.caption(md_escape(ocr_note(tr, citation.ocr_confidence)))
        st.html(f'<div class="rag-passage">{highlighted_html(hit.text if hit else citation.text, evidence)}</div>')
        if st.button(tr("card.whole_page"), key=f"page-{key}-{citation.n}", icon=":material/article:",
                     type="tertiary"):
            show_page(tr, service, collection, _doc_sha(citation, hit), citation.source, citation.page,
                      page_end, evidence, citation.locator, passage=hit.text if hit else citation.text)


def answer_meta(tr: Translator, answer: Answer) -> None:
    """The answer's mode badge and any notice about how it was made."""
    if answer.mode == "extractive":
        # why it is extractive (Ollama down, model missing) is the page's banner; here, on hover
        st.markdown(tr("answer.extractive"), help=md_with_code(answer.notice or tr("answer.extractive_help")))
    else:
        st.markdown(tr("answer.llm", model=md_escape(answer.model or "?")))
        if answer.notice:  # cut short or failed mid-answer: worth a warning
            st.warning(md_with_code(answer.notice), icon=":material/warning:")
    if answer.tier == "passages":  # relevant passages, none of them an answer: said so, not dressed up
        st.markdown(tr("answer.tier_passages"), help=tr("answer.tier_passages_help"))
    if answer.abstained:
        st.caption(tr("answer.abstained"))
    elif answer.mode == "llm" and not answer.supported:
        st.warning(tr("answer.unsupported"), icon=":material/report:")


def render_answer(tr: Translator, service: Service, collection: str, answer: Answer, key: str) -> None:
    """An answer as it stays in the conversation: text, mode, sources as cards, the passages consulted."""
    st.markdown(answer_markdown(answer.answer))
    answer_meta(tr, answer)
    if answer.citations:
        st.markdown(f"**{tr('answer.sources')}**")
        for citation in answer.citations:
            source_card(tr, service, collection, answer, citation, key)
    if answer.hits:
        with st.expander(tr("answer.passages", n=len(answer.hits)), icon=":material/manage_search:"):
            for hit in answer.hits:
                excerpt = hit.text if len(hit.text) <= 220 else hit.text[:220].rsplit(" ", 1)[0] + "…"
                where = where_md(tr, hit.page, hit.page_end, hit.locator)
                st.markdown(f"**{hit.rank}\\.** {md_escape(hit.source)} · :gray[{where}]  \n"
                            f":small[{md_escape(excerpt)}]")


def render_user(question: str) -> None:
    st.markdown(md_escape(question))


def rerun_with(message: str, kind: str = "success") -> None:
    """Show ``message`` at the top of the next run (after st.rerun), once."""
    st.session_state["_flash"] = (kind, message)
    st.rerun()


def show_flash() -> None:
    """The message a previous run left with ``rerun_with``, if any."""
    flash: tuple[str, str] | None = st.session_state.pop("_flash", None)
    if flash:
        kind, message = flash
        show: Callable[..., object] = {"success": st.success, "error": st.error}.get(kind, st.info)
        show(message)
