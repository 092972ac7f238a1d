"""Abstention, measured: how often the extractive mode says "not in the documents", when it should and not.

    python benchmarks/abstention.py                 # all 7,134 questions of SQuAD-es v2.0 dev (small)
    python benchmarks/abstention.py --limit 1000    # a fixed sample (seeded), for a quicker look
    python benchmarks/abstention.py --json

The v2.0 set's articles are indexed (one document per article, one page per paragraph) through
``rag.index.writer.Indexer`` into a collection cached under ``--data-dir``. Every question is then answered by
the real ``Answerer`` with no model (the extractive mode, ``DEFAULT_MIN_RELEVANCE``) over the public
``Service.retriever(...)``, so whatever retrieval the checkout has is what is measured.

Reported, for unanswerable (``is_impossible``) and answerable questions apart:
  abstained          the answer is the "not found" sentence
  cited has gold     (answerable, not abstained) a cited passage contains a gold answer text
  answer has gold    (answerable, not abstained) the extracted sentences themselves contain one
  retrieved gold     (answerable) any of the k retrieved passages contains one: the ceiling for the above
Also, as a third group, "off-collection": the SQuAD-es v1.1 dev questions about the 13 articles that
v2.0 does not contain (nothing in the collection is about them): the easy kind of "not in the documents".
The threshold sweep replays the former lexical rule on the same retrieved passages with
``rag.answer.extractive.best_sentences(min_score=t)`` (no re-retrieval): abstain when no sentence scores ``t``
or more. The answerer itself now answers in tiers (``rag.answer.extractive.decide``: answer, passages that may
answer, not found), reported first; "abstained" is its not-found tier.

Question vectors are computed ahead in batches (``--no-prefill``: one at a time, as the service does);
batched and single vectors agree up to rounding, so a handful of near-tied rankings may differ.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":  # the project root first (see benchmarks/common.py)
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import json
import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.common import (
    QA,
    ROOT,
    CachingEmbedder,
    Question,
    article_document,
    dump_json,
    machine,
    make_log,
    read_squad,
)
from benchmarks.common import table as md_table

DATASET = QA / "squad_es" / "dev-v2.0-es_small.json"
OFF_COLLECTION = QA / "squad_es" / "dev-v1.1-es_small.json"
DEFAULT_DATA_DIR = ROOT / "rag_data" / "bench"
COLLECTION = "bench-abstention"
THRESHOLDS = (0.0, 0.2, 0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.8, 0.9, 1.0)


def norm(text: str) -> str:
    from rag.text import collapse, fold

    return collapse(fold(text)).lower()


def build_index(service: Any, dataset: Path = DATASET, limit_articles: int | None = None,
                log: Any = None) -> dict[str, Any]:
    """Index the data set's articles into COLLECTION unless a matching build is there."""
    from rag.index.writer import Indexer, Pending

    index = service.index
    articles, _ = read_squad(dataset)
    articles = articles[:limit_articles] if limit_articles else articles
    params = json.dumps({"dataset": dataset.name, "limit_articles": limit_articles,
                         "embedder": service.embedder.name, "version": 1}, sort_keys=True)
    if index.exists(COLLECTION):
        cat = index.catalog(COLLECTION)
        if cat.get_meta("bench_params") == params:
            return {"built": False, "chunks": cat.chunk_count(), "documents": len(cat.documents()), "seconds": 0.0}
        index.drop_collection(COLLECTION)
    if log:
        log(f"indexing {len(articles)} articles of {dataset.name} into {COLLECTION}")
    began = time.perf_counter()
    report = Indexer(index, service.embedder, COLLECTION).add(
        Pending(article_document(a, dataset.stem), None) for a in articles)
    with index.writing():
        index.catalog(COLLECTION).set_meta("bench_params", params)
    return {"built": True, "chunks": report.chunks, "documents": len(report.written),
            "seconds": time.perf_counter() - began, "seconds_in_model": report.seconds_in_model}


@dataclass
class Outcome:
    question: Question
    off_collection: bool
    hits: list[Any]
    abstained: bool  # the real Answerer's decision: not found
    cited_gold: bool
    answer_gold: bool
    tier: str = "answer"  # the extractive tier: answer, passages (that may answer) or not_found

    @property
    def retrieved_gold(self) -> bool:
        return any(has_gold(h.text, self.question.answers) for h in self.hits)


def has_gold(text: str, gold: Sequence[str]) -> bool:
    folded = norm(text)
    return any(norm(g) and norm(g) in folded for g in gold)


def decide(q: Question, hits: Sequence[Any], threshold: float, limit: int = 3,
           scored: Sequence[Any] | None = None) -> tuple[bool, bool, bool]:
    """(abstained, a cited passage has gold, the answer's sentences have gold) at ``threshold``.

    The choice is ``rag.answer.extractive.best_sentences``'s; pass ``scored`` (``score_sentences(q, hits)``) to
    decide many thresholds from one scoring.
    """
    from rag.answer.extractive import best_sentences

    if scored is None:
        chosen = best_sentences(q.text, hits, limit=limit, min_score=threshold)
    else:  # best_sentences without re-scoring: the same filter, cut and order
        chosen = sorted([s for s in scored if s.score >= threshold][:limit], key=lambda s: (s.n, s.position))
    if not chosen:
        return True, False, False
    cited = {s.n: s.hit for s in chosen}
    return (False, any(has_gold(h.text, q.answers) for h in cited.values()),
            any(has_gold(s.text, q.answers) for s in chosen))


def select(qs: list[Question], limit: int | None, seed: int = 0) -> list[Question]:
    """All questions, or a seeded sample of ``limit`` (keeps the answerable/unanswerable mix roughly)."""
    if not limit or limit >= len(qs):
        return qs
    picked = list(qs)
    random.Random(seed).shuffle(picked)
    return picked[:limit]


def answer_all(service: Any, qs: Sequence[Question], k: int, prefill: bool = True,
               log: Any = None, off: frozenset[str] = frozenset()) -> tuple[list[Outcome], float]:
    """Answer every question extractively; ids in ``off`` are off-collection questions."""
    from rag.answer.answerer import Answerer

    began = time.perf_counter()
    if prefill:
        embedder = service.embedder
        assert isinstance(embedder, CachingEmbedder)
        embedder.prefill([q.text for q in qs], query=True)
    answerer = Answerer(service.retriever(COLLECTION), None, top_k=k)
    out: list[Outcome] = []
    for i, q in enumerate(qs, 1):
        answer = answerer.ask(q.text)
        cited = (not answer.abstained) and any(has_gold(c.text, q.answers) for c in answer.citations)
        out.append(Outcome(q, q.id in off, answer.hits, answer.abstained, cited,
                           (not answer.abstained) and has_gold(answer.answer, q.answers), str(answer.tier)))
        if log and i % 1000 == 0:
            log(f"  {i}/{len(qs)} questions, {time.perf_counter() - began:.0f} s")
    return out, time.perf_counter() - began


def summarize(outcomes: Sequence[Outcome], thresholds: Sequence[float] = THRESHOLDS) -> dict[str, Any]:
    from rag.answer.extractive import DEFAULT_MIN_RELEVANCE

    off = [o for o in outcomes if o.off_collection]
    outcomes = [o for o in outcomes if not o.off_collection]
    ans = [o for o in outcomes if not o.question.impossible]
    una = [o for o in outcomes if o.question.impossible]

    def rate(xs: Sequence[bool]) -> float:
        return sum(xs) / len(xs) if xs else float("nan")

    answered = [o for o in ans if not o.abstained]
    at_default = {
        "threshold": DEFAULT_MIN_RELEVANCE,
        "unanswerable": len(una),
        "answerable": len(ans),
        "abstain_unanswerable": rate([o.abstained for o in una]),
        "abstain_answerable": rate([o.abstained for o in ans]),
        "off_collection": len(off),
        "abstain_off_collection": rate([o.abstained for o in off]),
        "cited_gold_when_answered": rate([o.cited_gold for o in answered]),
        "answer_gold_when_answered": rate([o.answer_gold for o in answered]),
        "retrieved_gold": rate([o.retrieved_gold for o in ans]),
        # separates the two reasons to abstain on an answerable question: retrieval missed, or the score
        "abstain_answerable_gold_retrieved": rate([o.abstained for o in ans if o.retrieved_gold]),
        "abstain_answerable_gold_missed": rate([o.abstained for o in ans if not o.retrieved_gold]),
    }
    from rag.answer.extractive import score_sentences

    scored = {id(o): score_sentences(o.question.text, o.hits) for o in [*outcomes, *off]}
    sweep = []
    mismatches = 0
    for t in thresholds:
        decided = [(o, decide(o.question, o.hits, t, scored=scored[id(o)])) for o in outcomes]
        if abs(t - DEFAULT_MIN_RELEVANCE) < 1e-9:
            mismatches = sum(d[0] != o.abstained for o, d in decided)
        d_una = [d for o, d in decided if o.question.impossible]
        d_ans = [d for o, d in decided if not o.question.impossible]
        answered_t = [d for d in d_ans if not d[0]]
        # a useful decision: abstain on an unanswerable question, or answer an answerable one citing gold
        good = sum(d[0] for d in d_una) + sum(d[1] for d in d_ans)
        sweep.append({
            "threshold": t,
            "abstain_unanswerable": rate([d[0] for d in d_una]),
            "abstain_answerable": rate([d[0] for d in d_ans]),
            "abstain_off_collection": rate([decide(o.question, o.hits, t, scored=scored[id(o)])[0] for o in off]),
            "cited_gold_when_answered": rate([d[1] for d in answered_t]),
            "answer_gold_when_answered": rate([d[2] for d in answered_t]),
            "useful": good / len(decided) if decided else float("nan"),
        })
    at_default["sweep_mismatches_at_default"] = mismatches + sum(
        decide(o.question, o.hits, DEFAULT_MIN_RELEVANCE)[0] != o.abstained for o in off)
    tiers = {group: {t: sum(o.tier == t for o in members) for t in ("answer", "passages", "not_found")}
             for group, members in (("answerable", ans), ("unanswerable", una), ("off_collection", off))}
    return {"at_default": at_default, "sweep": sweep, "tiers": tiers}


def off_collection_questions(titles: set[str], limit: int | None = None) -> list[Question]:
    """Questions of SQuAD-es v1.1 dev about articles not among ``titles`` (seeded sample of ``limit``)."""
    articles, qs = read_squad(OFF_COLLECTION)
    absent = {a.title for a in articles} - titles
    return select([q for q in qs if q.doc in absent], limit, seed=1)


def run(data_dir: Path, limit: int | None = None, k: int = 5, prefill: bool = True,
        limit_articles: int | None = None, embedder: Any = None, log: Any = None,
        off_limit: int | None = None) -> dict[str, Any]:
    from rag.privacy import lock_down
    from rag.service import Service
    from rag.settings import BUNDLED_EMBEDDER, Settings

    lock_down()
    settings = Settings(data_dir=data_dir, embed_model=BUNDLED_EMBEDDER, chroma_url="", collection=COLLECTION)
    service = Service(settings, embedder=embedder)
    built = build_index(service, DATASET, limit_articles, log=log)
    if log:
        log(f"index: {built['chunks']} passages in {built['documents']} documents"
            + (f" (built in {built['seconds']:.0f} s)" if built["built"] else " (cached)"))
    articles, qs = read_squad(DATASET)
    titles = {a.title for a in articles}
    if limit_articles:
        titles = {d.title for d in service.documents(COLLECTION)}
        qs = [q for q in qs if q.doc in titles]
    total = len(qs)
    qs = select(qs, limit)
    off = off_collection_questions({a.title for a in articles}, off_limit) if OFF_COLLECTION.is_file() else []
    if prefill:
        service = Service(settings, embedder=CachingEmbedder(service.embedder), index=service.index)
    outcomes, seconds = answer_all(service, [*qs, *off], k, prefill=prefill, log=log,
                                   off=frozenset(q.id for q in off))
    result = summarize(outcomes)
    result.update(index=built, k=k, questions=len(qs), sample=len(qs) < total, of=total,
                  seconds=seconds, prefill=prefill)
    return result


def render(result: dict[str, Any]) -> str:
    d = result["at_default"]
    tiers = result.get("tiers", {})
    lines = [
        md_table(["tiers (rag.answer.extractive.decide)", "answer", "passages that may answer", "not found"],
                 [[group, *counts.values()] for group, counts in tiers.items()]),
        "",
        f"{result['questions']} questions ({d['unanswerable']} unanswerable, {d['answerable']} answerable), "
        f"k={result['k']}, {result['index']['chunks']} passages; {result['seconds']:.0f} s",
        md_table(["at min_relevance", "abstains on unanswerable", "abstains on answerable", "on off-collection",
                  "cited passage has gold (answered)", "answer sentences have gold (answered)",
                  "gold in retrieved (answerable)"],
                 [[d["threshold"], f"{d['abstain_unanswerable']:.1%}", f"{d['abstain_answerable']:.1%}",
                   f"{d['abstain_off_collection']:.1%} of {d['off_collection']}",
                   f"{d['cited_gold_when_answered']:.1%}", f"{d['answer_gold_when_answered']:.1%}",
                   f"{d['retrieved_gold']:.1%}"]]),
        "",
        f"abstains on answerable questions whose gold passage was retrieved: "
        f"{d['abstain_answerable_gold_retrieved']:.1%}; whose gold was not: {d['abstain_answerable_gold_missed']:.1%}",
        "",
        md_table(["min_relevance", "abstains: unanswerable", "abstains: answerable", "off-collection", "cited has gold",
                  "answer has gold", "useful decisions"],
                 [[f"{s['threshold']:.2f}", f"{s['abstain_unanswerable']:.1%}", f"{s['abstain_answerable']:.1%}",
                   f"{s['abstain_off_collection']:.1%}",
                   f"{s['cited_gold_when_answered']:.1%}", f"{s['answer_gold_when_answered']:.1%}",
                   f"{s['useful']:.1%}"] for s in result["sweep"]]),
        "useful = abstained on an unanswerable question, or answered an answerable one citing a gold passage",
    ]
    if d["sweep_mismatches_at_default"]:
        lines.append(f"the former lexical rule (min_relevance {d['threshold']}) and the tiers' not-found differ on "
                     f"{d['sweep_mismatches_at_default']} questions (the sweep replays the former rule)")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                        help="where the benchmark index is built and cached (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=None, help="a seeded sample of this many questions")
    parser.add_argument("-k", type=int, default=5, help="passages retrieved per question (RAG_TOP_K's default: 5)")
    parser.add_argument("--no-prefill", action="store_true", help="embed each question alone, as the service does")
    parser.add_argument("--off-limit", type=int, default=None,
                        help="a seeded sample of this many off-collection questions (default: all)")
    parser.add_argument("--limit-articles", type=int, default=None, help=argparse.SUPPRESS)  # smoke tests
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if not DATASET.is_file():
        print(f"data set not found: {DATASET} (the shared data sits beside the project: ../shared)", file=sys.stderr)
        return 2
    info = machine()
    log = make_log(args.json)
    result = run(args.data_dir, args.limit, args.k, not args.no_prefill, args.limit_articles, log=log,
                 off_limit=args.off_limit)
    result["machine"] = info
    result["machine"]["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    result["command"] = "python benchmarks/abstention.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print(dump_json(result) if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
