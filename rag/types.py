"""The project's own small data types; framework types stop at the adapters."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

UnitKind = Literal["page", "slide", "sheet", "section"]


@dataclass(frozen=True)
class PageInfo:
    """What a reader needs to find one unit of a document again, and whether its text was recognised.

    ``kind`` says what the unit is: a physical page (PDFs, scans, plain text), a slide, a block of rows
    of a sheet, or a section of a flowing document (Word, ODT, HTML) under its heading path. ``label``
    is the unit's human locator built by ``rag.locators`` ("slide 4", "sheet Datos, rows 2-41",
    "Capítulo 2 › Artículo 5"); "" for a physical page, whose number says it all.
    """

    label: str = ""
    ocr: bool = False  # the text was recognised by OCR (a reader should check the image)
    ocr_confidence: float | None = None  # the engine's mean confidence, 0..100, where it gives one
    kind: UnitKind = "page"


DEFAULT_PAGE_INFO = PageInfo()


@dataclass
class ParsedDocument:
    """A file turned into text: one string per unit (page 1 is ``pages[0]``): a physical page, a slide,
    a block of rows of a sheet, or a section; ``page_info`` says which (empty: all physical pages)."""

    name: str  # file name as ingested (the citation's "source")
    sha256: str  # content hash of the file's bytes: the document's identity
    pages: list[str]
    title: str = ""  # from the file's metadata or its first heading, if any
    path: str = ""  # where it was read from ("" for uploads and eval documents)
    size: int = 0  # bytes
    page_info: list[PageInfo] = field(default_factory=list)  # aligned with ``pages``; [] = defaults

    def info(self, page: int) -> PageInfo:
        """The PageInfo of 1-based unit ``page`` (the default for a physical page when none was given)."""
        return self.page_info[page - 1] if 0 < page <= len(self.page_info) else DEFAULT_PAGE_INFO


@dataclass(frozen=True)
class ChunkId:
    """A passage's id: its document's sha256 and its 0-based position there, stored as "<sha>:<position>"
    (stable, so re-writing a document can never duplicate a passage)."""

    doc: str
    position: int

    def __str__(self) -> str:
        return f"{self.doc}:{self.position}"

    @classmethod
    def parse(cls, value: str) -> ChunkId:
        """Example: ChunkId.parse("ab12:3") -> ChunkId("ab12", 3); a malformed position reads as -10."""
        doc, _, position = value.rpartition(":")
        return cls(doc, int(position) if position.isdigit() else -10)


@dataclass(frozen=True)
class Chunk:
    """A passage of one document, small enough for the embedder's window."""

    id: str  # str(ChunkId(doc_sha, position)): stable, so re-writing can never duplicate
    doc_sha: str
    source: str
    page: int  # 1-based physical page where the passage starts
    page_end: int  # ... and where it ends (== page when it fits on one)
    position: int  # 0-based order within the document
    text: str
    context: str = ""  # document title and section heading, indexed beside the text
    locator: str = ""  # rag.locators: "p. 3", "slide 4", "Capítulo 2 › Artículo 5, ¶ 3" ("" = from pages)
    ocr: bool = False  # some of its text was recognised by OCR
    ocr_confidence: float | None = None  # the lowest OCR confidence of its pages, where known


@dataclass(frozen=True)
class Hit:
    """A retrieved passage, ranked."""

    rank: int  # 1-based
    source: str
    page: int
    page_end: int
    text: str
    score: float
    chunk_id: str
    doc_sha: str = ""
    context: str = ""
    locator: str = ""
    ocr: bool = False
    ocr_confidence: float | None = None
    similarity: float | None = None  # multilingual-e5's cosine of the question with it (None: not measured)
    coverage: float | None = None  # the largest share of the question one of its sentences holds (0..1)

    def to_json(self) -> dict[str, Any]:
        """The DESIGN.md search-hit shape, with the locator and OCR fields (README)."""
        return {
            "rank": self.rank,
            "source": self.source,
            "page": self.page,
            "page_end": self.page_end,
            "locator": self.locator or page_locator(self.page, self.page_end),
            "text": self.text,
            "score": round(float(self.score), 6),
            "chunk_id": self.chunk_id,
            "ocr": self.ocr,
            "ocr_confidence": self.ocr_confidence,
        }


@dataclass(frozen=True)
class Citation:
    """A numbered reference from the answer to one retrieved passage."""

    n: int
    source: str
    page: int
    text: str
    chunk_id: str = ""
    page_end: int = 0
    locator: str = ""
    ocr: bool = False
    ocr_confidence: float | None = None

    @classmethod
    def of(cls, n: int, hit: Hit, text: str) -> Citation:
        """Citation number ``n`` of ``hit``, quoting ``text``."""
        return cls(n=n, source=hit.source, page=hit.page, text=text, chunk_id=hit.chunk_id,
                   page_end=hit.page_end, locator=hit.locator, ocr=hit.ocr, ocr_confidence=hit.ocr_confidence)

    def to_json(self) -> dict[str, Any]:
        return {"n": self.n, "source": self.source, "page": self.page,
                "locator": self.locator or page_locator(self.page, self.page_end or self.page),
                "text": self.text, "ocr": self.ocr, "ocr_confidence": self.ocr_confidence}


def page_locator(page: int, page_end: int) -> str:
    """The locator of physical pages: 'p. 3', 'pp. 3-4' (rag.locators builds the others)."""
    return f"pp. {page}-{page_end}" if page_end > page else f"p. {page}"


Mode = Literal["llm", "extractive"]
# what the answer is: the answer itself, passages that may answer (extractive only), or not found
Tier = Literal["answer", "passages", "not_found"]


@dataclass
class Answer:
    """What ``rag ask`` returns."""

    question: str
    answer: str
    mode: Mode
    model: str | None
    citations: list[Citation] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    notice: str | None = None  # set whenever something degraded
    supported: bool = True  # False when no valid citation backs the answer
    abstained: bool = False  # True when the documents do not contain the answer
    tier: Tier | None = None  # None: "not_found" when abstained, else "answer"

    def __post_init__(self) -> None:
        if self.tier is None:
            self.tier = "not_found" if self.abstained else "answer"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "question": self.question,
            "answer": self.answer,
            "mode": self.mode,
            "model": self.model,
            "citations": [c.to_json() for c in self.citations],
            "hits": [h.to_json() for h in self.hits],
            "supported": self.supported,
            "abstained": self.abstained,
            "tier": self.tier,
        }
        if self.notice:
            out["notice"] = self.notice
        return out


@dataclass(frozen=True)
class DocumentInfo:
    """One document in a collection's catalog."""

    name: str
    sha256: str
    pages: int
    chunks: int
    ingested_at: str  # ISO 8601, UTC
    names: tuple[str, ...] = ()  # every file name this content was ingested under
    title: str = ""
    size: int = 0
    unit: UnitKind = "page"  # what ``pages`` counts: physical pages, slides, sheet row blocks or sections
    sheets: int = 0  # for a spreadsheet (unit "sheet"), how many sheets its row blocks come from

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["names"] = list(self.names)
        return data


@dataclass(frozen=True)
class Turn:
    """One exchange of a conversation, for condensing follow-up questions."""

    question: str
    answer: str
