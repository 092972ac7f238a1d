"""``rag eval FOLDER``: page-hit@k of the retrievers on a page-gold set (``gold.jsonl`` beside ``pdfs/``).

The layout of ``../shared/data/regulations_es``: each line of ``gold.jsonl`` is
``{"id", "q", "file": "<name>.pdf" | null, "pages": [1-based physical pages]}``; ``file: null`` marks a
question no document answers. The folder's files go through the normal ingestion (``IngestJob``, as
``rag ingest``) into a throw-away collection. A hit counts when it is from the gold file and its pages
(``page``..``page_end``) include a gold page; page-hit@k is the share of answerable questions with such
a hit among the first k, MRR@10 the mean of 1/rank of the first. Abstention is measured in the
extractive mode (the answer a user gets with no model): how many unanswerable questions end "not found",
and how many answerable ones do.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import SettingsError
from rag.eval.squad import RETRIEVERS, Scores

KS = (1, 5, 10)


@dataclass(frozen=True)
class GoldQuestion:
    id: str
    text: str
    file: str | None  # None: no document answers it
    pages: tuple[int, ...]


@dataclass
class PageGoldSet:
    name: str
    files: list[Path]
    questions: list[GoldQuestion]

    @property
    def answerable(self) -> list[GoldQuestion]:
        return [q for q in self.questions if q.file]


def is_page_gold(path: Path) -> bool:
    return path.is_dir() and (path / "gold.jsonl").is_file()


def load_page_gold(folder: Path) -> PageGoldSet:
    """The questions of ``folder/gold.jsonl`` and the files they are about (``folder/pdfs/``, else the
    folder itself)."""
    questions = []
    for n, line in enumerate((folder / "gold.jsonl").read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            questions.append(GoldQuestion(id=str(row.get("id", n)), text=str(row["q"]),
                                          file=row.get("file") or None,
                                          pages=tuple(int(p) for p in row.get("pages") or ())))
        except (ValueError, KeyError, TypeError) as exc:
            raise SettingsError(f"{folder / 'gold.jsonl'} line {n}: not a gold question ({exc})") from exc
    docs = folder / "pdfs" if (folder / "pdfs").is_dir() else folder
    files = sorted(p for p in docs.iterdir() if p.is_file() and p.name != "gold.jsonl" and not p.name.startswith("."))
    names = {p.name for p in files}
    missing = sorted({q.file for q in questions if q.file and q.file not in names})
    if missing:
        raise SettingsError(f"gold.jsonl names files not in {docs}: {', '.join(missing)}")
    return PageGoldSet(name=folder.name, files=files, questions=questions)


def limited(gold: PageGoldSet, files: int) -> PageGoldSet:
    """The ``files`` smallest files and the questions about them (plus the unanswerable ones)."""
    keep = sorted(gold.files, key=lambda p: p.stat().st_size)[:files]
    names = {p.name for p in keep}
    questions = [q for q in gold.questions if q.file is None or q.file in names]
    return PageGoldSet(name=f"{gold.name}[{files} files]", files=sorted(keep), questions=questions)


def on_gold_page(question: GoldQuestion, source: str, page: int, page_end: int) -> bool:
    return source == question.file and any(page <= p <= max(page, page_end) for p in question.pages)


class PageScores(Scores):
    """page-hit@k (the recall of a gold page among the first k hits) and MRR@10 of one retriever."""

    def to_json(self) -> dict[str, float]:
        out = {f"page_hit@{k}": round(self.recall(k), 4) for k in KS}
        out["mrr@10"] = round(self.mrr(10), 4)
        return out


def evaluate_pages(retriever: Any, gold: PageGoldSet, *, abstention: bool = True, top_k: int = 5,
                   on_progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Page-hit@1/5/10 and MRR@10 per retriever, and the extractive tiers (see the module's docstring)."""
    from rag.answer.answerer import Answerer
    from rag.retrieve import hit_groups

    began = time.perf_counter()
    inner = getattr(retriever, "inner", retriever)  # an access-checked retriever's own
    catalog = inner.index.catalog(inner.collection)
    chunks: dict[str, Any] = {}
    scores = {name: PageScores() for name in RETRIEVERS}
    per_question: list[dict[str, Any]] = []
    for question in gold.answerable:
        cands = inner.candidates(question.text, max(KS))
        fused = inner.fuse(cands, inner.fusion.merge * max(KS) + 8)
        row: dict[str, Any] = {"id": question.id}
        for name, ranked in (("dense", cands.dense), ("lexical", cands.lexical), ("fused", fused)):
            missing = [cid for cid, _ in ranked if cid not in chunks]
            if missing:
                chunks.update(catalog.chunks(missing))
            found = None
            for rank, group in enumerate(hit_groups(ranked, chunks, limit=inner.fusion.merge)[: max(KS)], start=1):
                members = [chunks[cid] for cid, _ in group]
                if on_gold_page(question, members[0].source, min(c.page for c in members),
                                max(c.page_end for c in members)):
                    found = rank
                    break
            scores[name].found_at.append(found)
            row[name] = found
        per_question.append(row)
        if on_progress is not None:
            on_progress(1)
    out: dict[str, Any] = {
        "dataset": gold.name, "questions": len(gold.answerable),
        **scores["fused"].to_json(),
        "by_retriever": {name: s.to_json() for name, s in scores.items()},
    }
    if abstention:
        answerer = Answerer(retriever, None, top_k=top_k)
        tiers: dict[str, dict[str, int]] = {"answerable": {}, "unanswerable": {}}
        first_gold = answered = 0
        for question in gold.questions:
            answer = answerer.ask(question.text)
            kind = "answerable" if question.file else "unanswerable"
            name = answer.tier or "answer"
            tiers[kind][name] = tiers[kind].get(name, 0) + 1
            if question.file and answer.tier == "answer":
                answered += 1
                first = answer.citations[0] if answer.citations else None
                first_gold += bool(first and on_gold_page(question, first.source, first.page,
                                                          first.page_end or first.page))
            if on_progress is not None:
                on_progress(1)
        out["abstention"] = {
            "unanswerable": len(gold.questions) - len(gold.answerable),
            "unanswerable_not_found": tiers["unanswerable"].get("not_found", 0),
            "answerable_not_found": tiers["answerable"].get("not_found", 0),
            "tiers": tiers,
            "answered_first_citation_gold": first_gold, "answered": answered,
        }
    out["per_question"] = per_question
    out["fusion"] = inner.fusion_info()
    out["seconds"] = round(time.perf_counter() - began, 1)
    return out


def render(out: dict[str, Any]) -> list[str]:
    lines = [f"{out['dataset']}: {out['questions']} answerable questions, {out.get('passages', '?')} passages, "
             f"embedder {out.get('embedder', '?')}",
             f"{'retriever':10s} {'page@1':>7s} {'page@5':>7s} {'page@10':>8s} {'MRR@10':>7s}"]
    for name, s in out["by_retriever"].items():
        lines.append(f"{name:10s} {s['page_hit@1']:7.3f} {s['page_hit@5']:7.3f} {s['page_hit@10']:8.3f} "
                     f"{s['mrr@10']:7.3f}")
    if "abstention" in out:
        a = out["abstention"]
        lines.append(f"extractive mode: {a['unanswerable_not_found']} of {a['unanswerable']} unanswerable "
                     f"questions not found; {a['answerable_not_found']} answerable ones not found; "
                     f"{a['answered_first_citation_gold']} of {a['answered']} answers cite a gold page first")
    return lines
