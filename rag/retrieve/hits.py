"""Ranked passages as the hits a user sees: passages of one page joined, with what retrieval measured."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from rag.types import Chunk, ChunkId, Hit, page_locator

Ranked = list[tuple[str, float]]  # (chunk id, score), best first


def hit_groups(ranked: Ranked, chunks: Mapping[str, Chunk], merge: bool = True, limit: int = 2) -> list[Ranked]:
    """``ranked`` as hits: the passages ``chunks`` holds (one of a document being written, not 'ready',
    or just removed is not there: skipped), passages of one page grouped when ``merge``."""
    ranked = [(cid, score) for cid, score in ranked if cid in chunks]
    if not merge:
        return [[item] for item in ranked]
    return group_by_page(ranked, {cid: (chunks[cid].page, chunks[cid].page_end) for cid, _ in ranked}, limit)


def group_by_page(ranked: Ranked, pages: Mapping[str, tuple[int, int]], limit: int = 2) -> list[Ranked]:
    """Ranked passages in groups: a passage of the single page of a group already taken (same document)
    joins it, up to ``limit``; a passage spanning pages stays alone.

    Example, all on page 3: [d:4, e:0, d:7, d:3] -> [[d:4, d:7], [e:0], [d:3]]. A user cites and opens a
    page: two hits on one page would spend a place of the top k on a page already shown (regulations_es:
    61 of the top-5 places went to a page shown above; joining them, page-hit@5 0.853 -> 0.868).
    """
    groups: list[tuple[str, tuple[int, int], Ranked]] = []
    for cid, score in ranked:
        doc, span = ChunkId.parse(cid).doc, pages.get(cid, (0, -1))
        for group_doc, group_span, members in groups:
            if group_doc == doc and span[0] == span[1] == group_span[0] == group_span[1] and len(members) < limit:
                members.append((cid, score))
                break
        else:
            groups.append((doc, span, [(cid, score)]))
    return [members for _, _, members in groups]


def merged_hit(rank: int, chunks: Sequence[Chunk], score: float) -> Hit:
    """One hit from one passage, or from passages of one page (read in order)."""
    best = chunks[0]
    ordered = sorted(chunks, key=lambda c: c.position)
    page, page_end = min(c.page for c in chunks), max(c.page_end for c in chunks)
    confidences = [c.ocr_confidence for c in chunks if c.ocr_confidence is not None]
    # passages are merged only on one page, so the first one's locator says where the text starts
    return Hit(rank=rank, source=best.source, page=page, page_end=page_end,
               text=join_chunks(ordered), score=score, chunk_id=best.id,
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


def join_chunks(chunks: Sequence[Chunk]) -> str:
    """Passages of one page, in document order, as one text: neighbours joined by ``join_passages``,
    passages apart by a line "[…]" (text left out: a sentence never runs across it)."""
    runs: list[list[str]] = []
    for i, chunk in enumerate(chunks):
        if i and chunk.position == chunks[i - 1].position + 1:
            runs[-1].append(chunk.text)
        else:
            runs.append([chunk.text])
    return "\n[…]\n".join(join_passages(run) for run in runs)


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
