"""The extractive mode on real questions: regulations_es, Ollama off, every gold question asked.

    python benchmarks/extractive_regulations.py                 # ingests the 14 PDFs once, then asks
    python benchmarks/extractive_regulations.py --json

The PDFs of ``../shared/data/regulations_es/pdfs`` are ingested once (``ingest.pipeline.IngestJob``, as
``rag ingest`` does) into one collection under ``--data-dir`` and reused; each question of ``gold.jsonl``
is then answered by the real ``Answerer`` with no model, over ``Service.retriever(...)``: the path
``rag ask --json`` takes when Ollama is off. Reported: the tiers (answer / passages that may answer /
not found) for answerable and unanswerable questions, and how often the first citation of an answer
(and any citation of the middle tier) is a gold page.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":  # the project root first (see benchmarks/common.py)
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import json
import os
import time
from collections.abc import Sequence
from typing import Any

from benchmarks.common import ROOT, dump_json, machine, make_log, percentile, table

DATA = ROOT.parent / "shared" / "data" / "regulations_es"
DEFAULT_DATA_DIR = ROOT / "rag_data" / "bench-regulations"
COLLECTION = "regulations-es"
TIERS = ("answer", "passages", "not_found")
# floors of issue 20, for the verdict line
MAX_ABSTAIN_ANSWERABLE = 7
MIN_ABSTAIN_UNANSWERABLE = 6
MIN_GOLD_ANSWERED = 0.70


def read_gold(data: Path = DATA) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (data / "gold.jsonl").read_text().splitlines() if line.strip()]


def ingest(service: Any, pdfs: Sequence[Path], collection: str = COLLECTION, log: Any = None) -> dict[str, Any]:
    """Ingest ``pdfs`` into ``collection`` (unchanged files are skipped: a second run costs nothing)."""
    from ingest.pipeline import IngestJob, IngestReport, discover

    began = time.perf_counter()
    report = IngestReport()
    IngestJob(service, collection).run(discover(list(pdfs), report), report=report)
    if log and report.added:
        log(f"ingested {len(report.added)} files in {time.perf_counter() - began:.0f} s")
    return {"added": len(report.added), "failed": [f.path for f in report.failed],
            "seconds": time.perf_counter() - began}


def gold_page(item: dict[str, Any], source: str, page: int, page_end: int) -> bool:
    return source == item["file"] and any(page <= p <= max(page, page_end) for p in item["pages"])


def ask_all(service: Any, gold: Sequence[dict[str, Any]], k: int = 5, collection: str = COLLECTION
            ) -> list[dict[str, Any]]:
    """Each question answered with no model: its tier, whether it cites a gold page, the milliseconds."""
    from rag.answer.answerer import Answerer

    answerer = Answerer(service.retriever(collection), None, top_k=k)
    out = []
    for item in gold:
        began = time.perf_counter()
        answer = answerer.ask(item["q"])
        ms = (time.perf_counter() - began) * 1000
        cites = [gold_page(item, c.source, c.page, c.page_end or c.page) for c in answer.citations]
        out.append({"id": item["id"], "answerable": item["file"] is not None, "tier": answer.tier,
                    "first_gold": bool(cites and cites[0]), "any_gold": any(cites),
                    "retrieved_gold": any(gold_page(item, h.source, h.page, h.page_end) for h in answer.hits),
                    "ms": ms})
    return out


def summarize(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The tiers by answerable / unanswerable, and the gold-page rates."""
    counts = {group: {t: sum(1 for r in rows if r["answerable"] == (group == "answerable") and r["tier"] == t)
                      for t in TIERS} for group in ("answerable", "unanswerable")}
    answered = [r for r in rows if r["answerable"] and r["tier"] == "answer"]
    middle = [r for r in rows if r["answerable"] and r["tier"] == "passages"]
    gold_rate = sum(r["first_gold"] for r in answered) / len(answered) if answered else float("nan")
    floors = (counts["answerable"]["not_found"] <= MAX_ABSTAIN_ANSWERABLE
              and counts["unanswerable"]["not_found"] >= MIN_ABSTAIN_UNANSWERABLE
              and gold_rate >= MIN_GOLD_ANSWERED)
    return {"counts": counts, "answered": len(answered),
            "answered_first_cite_gold": sum(r["first_gold"] for r in answered),
            "answered_gold_rate": gold_rate, "middle": len(middle),
            "middle_any_cite_gold": sum(r["any_gold"] for r in middle),
            "retrieved_gold": sum(r["retrieved_gold"] for r in rows if r["answerable"]),
            "ask_ms": {"p50": percentile([r["ms"] for r in rows], 50), "p95": percentile([r["ms"] for r in rows], 95)},
            "meets_floors": floors}


def run(data_dir: Path, k: int = 5, limit_files: int | None = None, log: Any = None,
        collection: str = COLLECTION) -> dict[str, Any]:
    from rag.privacy import lock_down
    from rag.service import Service
    from rag.settings import Settings

    lock_down()
    settings = Settings(data_dir=data_dir, collection=collection, chroma_url="")
    service = Service(settings)
    gold = read_gold()
    pdfs = sorted((DATA / "pdfs").glob("*.pdf"))
    if limit_files:  # smoke tests: the smallest files and their questions
        pdfs = sorted(pdfs, key=lambda p: p.stat().st_size)[:limit_files]
        names = {p.name for p in pdfs}
        gold = [g for g in gold if g["file"] in names]
    built = ingest(service, pdfs, collection, log=log)
    rows = ask_all(service, gold, k, collection)
    result = summarize(rows)
    result.update(questions=len(rows), k=k, index=built, rows=rows)
    return result


def render(result: dict[str, Any]) -> str:
    c = result["counts"]
    rows = [[group, *(c[group][t] for t in TIERS)] for group in ("answerable", "unanswerable")]
    return "\n".join([
        f"{result['questions']} questions, k={result['k']}",
        table(["", "answer", "passages that may answer", "not found"], rows),
        f"answered (answerable): first citation on a gold page {result['answered_first_cite_gold']} of "
        f"{result['answered']} ({result['answered_gold_rate']:.0%}); middle tier: a gold page among its "
        f"citations {result['middle_any_cite_gold']} of {result['middle']}; gold page retrieved (top k) "
        f"{result['retrieved_gold']}",
        f"ask p50 {result['ask_ms']['p50']:.0f} ms, p95 {result['ask_ms']['p95']:.0f} ms (retrieval included)",
        f"floors of issue 20: {'met' if result['meets_floors'] else 'NOT met'}",
    ])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                        help="where the collection is ingested once and kept (default: %(default)s)")
    parser.add_argument("--collection", default=COLLECTION, help="its collection (default: %(default)s)")
    parser.add_argument("-k", type=int, default=5, help="passages retrieved per question (RAG_TOP_K's default)")
    parser.add_argument("--limit-files", type=int, default=None, help=argparse.SUPPRESS)  # smoke tests
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if not (DATA / "gold.jsonl").is_file():
        print(f"data set not found: {DATA} (the shared data sits beside the project: ../shared)", file=sys.stderr)
        return 2
    info = machine()
    result = run(args.data_dir, args.k, args.limit_files, log=make_log(args.json), collection=args.collection)
    result["machine"] = info
    result["machine"]["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    result["command"] = "python benchmarks/extractive_regulations.py " + " ".join(
        argv if argv is not None else sys.argv[1:])
    print(dump_json(result) if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
