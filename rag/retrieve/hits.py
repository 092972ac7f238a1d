"""Ranked passages as the hits a user sees: neighbours of one page joined, with what retrieval measured."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from rag.types import Chunk, ChunkId, Hit, page_locator

Ranked = list[tuple[str, float]]  # (chunk id, score), best first


def hit_groups(ranked: Ranked, chunks: Mapping[str, Chunk], merge: bool = True, limit: int = 2) -> list[Ranked]:
    """``ranked`` as hits: the passages ``chunks`` holds (one of a document being written, not 'ready',
    or just removed is not there: skipped), neighbours of one page grouped when ``merge``."""
    ranked = [(cid, score) for cid, score in ranked if cid in chunks]
    if not merge:
        return [[item] for item in ranked]
    return group_adjacent(ranked, {cid: (chunks[cid].page, chunks[cid].page_end) for cid, _ in ranked}, limit)


def group_adjacent(ranked: Ranked, pages: Mapping[str, tuple[int, int]] | None = None,
                   limit: int = 2) -> list[Ranked]:
    """Ranked passages in groups: one next to a passage already taken (same document, position +-1, and,
    when ``pages`` gives (page, page_end), the same single page) joins its group, up to ``limit``.

    Example: [d:4, e:0, d:5, d:3] -> [[d:4, d:5], [e:0], [d:3]]. Passages overlap by a sentence or two:
    as one hit, two neighbours read as the continuous text they are, and a hit still cites one page.
    """
    groups: list[tuple[str, set[int], Ranked]] = []
    for cid, score in ranked:
        this = ChunkId.parse(cid)
        for doc, positions, members in groups:
            if pages is not None and not _one_page(pages, [cid, members[0][0]]):
                continue
            near = this.position - 1 in positions or this.position + 1 in positions
            if doc == this.doc and len(members) < limit and near:
                positions.add(this.position)
                members.append((cid, score))
                break
        else:
            groups.append((this.doc, {this.position}, [(cid, score)]))
    return [members for _, _, members in groups]


def _one_page(pages: Mapping[str, tuple[int, int]], ids: Sequence[str]) -> bool:
    spans = [pages.get(cid, (0, -1)) for cid in ids]
    return len({p for span in spans for p in span}) == 1


def merged_hit(rank: int, chunks: Sequence[Chunk], score: float) -> Hit:
    """One hit from one passage, or from neighbouring passages of one document (read in order)."""
    best = chunks[0]
    ordered = sorted(chunks, key=lambda c: c.position)
    page, page_end = min(c.page for c in chunks), max(c.page_end for c in chunks)
    confidences = [c.ocr_confidence for c in chunks if c.ocr_confidence is not None]
    # neighbours are merged only on one page, so the first one's locator says where the text starts
    return Hit(rank=rank, source=best.source, page=page, page_end=page_end,
               text=join_passages([c.text for c in ordered]), score=score, chunk_id=best.id,
               doc_sha=best.doc_sha, context=ordered[0].context,
               locator=ordered[0].locator or page_locator(page, page_end), ocr=any(c.ocr for c in chunks),
               ocr_confidence=min(confidences) if confidences else None)


def with_similarity(hits: Sequence[Hit], groups: Mapping[str, Sequence[str]],
                    similarity: Mapping[str, float]) -> list[Hit]:
    """``hits`` with the embedder's cosine of the question with each (the best of a merged hit's passages;
    None where not measured), for the extractive answer to weigh. ``groups``: a hit's first id -> its ids."""
    out = []
    for hit in hits:
        sims = [similarity[cid] for cid in groups.get(hit.chunk_id, [hit.chunk_id]) if cid in similarity]
        out.append(replace(hit, similarity=max(sims) if sims else None))
    return out


def join_passages(texts: Sequence[str]) -> str:
    """Consecutive passages as one text, the sentences they share written once.

    Example: join_passages(["A b. C d.", "C d. E f."]) -> "A b. C d. E f."
    """
    out = texts[0] if texts else ""
    for text in texts[1:]:
        cut = 0
        for i in range(max(0, len(out) - len(text)), len(out)):  # the longest tail of out opening text
            if (i == 0 or out[i - 1] == " ") and text.startswith(out[i:]):
                cut = len(out) - i
                break
        out = f"{out} {text[cut:].lstrip()}".strip() if cut < len(text) else out
    return out
