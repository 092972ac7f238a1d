"""``rag eval DATASET``: answer-recall@1/4/10 and MRR@10 of the retrievers on a SQuAD-format file, or
page-hit@1/5/10, MRR@10 and abstention on a page-gold folder (``gold.jsonl`` beside ``pdfs/``)."""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rag.cli.common import add_json, load_settings, positive, print_json
from rag.errors import SettingsError
from rag.eval import pages as eval_pages
from rag.eval import squad as rag_eval
from rag.index.writer import Progress
from rag.retrieve import Retriever
from rag.service import Service


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "eval", help="measure retrieval on a SQuAD-format question set or a page-gold folder",
        description="Index the set's articles (one document each) into a throw-away collection through "
                    "the normal ingestion path, then report answer-recall@1/4/10 and MRR@10 for dense, "
                    "lexical and fused retrieval (and abstention figures when some questions have no "
                    "answer). A folder with gold.jsonl and pdfs/ (regulations_es's layout) is ingested as "
                    "`rag ingest` does and scored by page: page-hit@1/5/10, MRR@10 per retriever, and "
                    "how the extractive answer treats the questions no document answers.")
    p.add_argument("dataset", type=Path, metavar="DATASET",
                   help="a SQuAD v1.1/v2.0 JSON file, or a folder holding gold.jsonl and pdfs/")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--data-dir", type=Path, metavar="D",
                       help="index here and keep it; a re-run re-embeds nothing (default: a temporary "
                            "folder)")
    where.add_argument("--keep", action="store_true",
                       help="keep the index under RAG_DATA_DIR/eval and reuse it on the next run")
    p.add_argument("--articles", type=positive, metavar="N", help="only the first N articles (a quick run)")
    p.add_argument("--files", type=positive, metavar="N",
                   help="page-gold folder: only the N smallest files and their questions (a quick run)")
    p.add_argument("--no-merge", action="store_true",
                   help="score single passages, not passages of one page joined as search returns them")
    add_json(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args)
    if eval_pages.is_page_gold(args.dataset):
        gold = eval_pages.load_page_gold(args.dataset)
        if args.files is not None:
            gold = eval_pages.limited(gold, args.files)
        return _in_data_dir(args, settings, lambda s: _run_pages(args, s, gold))
    if args.dataset.is_dir():
        raise SettingsError(f"{args.dataset}: a folder to evaluate holds gold.jsonl (and pdfs/)")
    evalset = rag_eval.load_squad(args.dataset)
    if args.articles is not None:
        evalset = rag_eval.first_articles(evalset, args.articles)
    return _in_data_dir(args, settings, lambda s: _run(args, s, evalset))


def _in_data_dir(args: argparse.Namespace, settings: Any, job: Callable[[Any], int]) -> int:
    """Run ``job`` on settings whose data directory is --data-dir, RAG_DATA_DIR/eval or a temporary one."""
    if args.data_dir is not None or args.keep:
        data_dir = args.data_dir or settings.data_dir / "eval"
        return job(settings.model_copy(update={"data_dir": data_dir}))
    with tempfile.TemporaryDirectory(prefix="rag-eval-") as tmp:
        return job(settings.model_copy(update={"data_dir": Path(tmp)}))


def _run_pages(args: argparse.Namespace, settings: Any, gold: eval_pages.PageGoldSet) -> int:
    from ingest.pipeline import IngestJob, IngestReport, discover

    service = Service.from_settings(settings)
    digest = hashlib.sha256(service.embedder.name.encode())
    for path in gold.files:
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    collection = f"eval-{digest.hexdigest()[:12]}"
    report = IngestReport()
    IngestJob(service, collection).run(discover(gold.files, report), report=report)
    if report.failed:
        print(f"{len(report.failed)} files could not be read: "
              + "; ".join(f"{f['path']}: {f['reason']}" for f in report.failed), file=sys.stderr)
    show = sys.stderr.isatty()
    bar = _Bar(show, "questions", len(gold.answerable) + len(gold.questions), "question")
    out = eval_pages.evaluate_pages(service.retriever(collection), gold, top_k=settings.top_k,
                                    on_progress=bar.update)
    bar.close()
    catalog = service.index.catalog(collection)
    out["passages"] = len(catalog.chunk_ids())
    out["embedder"] = service.embedder.name
    if args.json:
        print_json(out)
        return 0
    for line in eval_pages.render(out):
        print(line)
    print(f"({out['seconds']:.0f} s)")
    return 0


def _run(args: argparse.Namespace, settings: Any, evalset: rag_eval.EvalSet) -> int:
    service = Service.from_settings(settings)
    embedder = service.embedder
    tag = hashlib.sha256(f"{evalset.fingerprint()}:{embedder.name}".encode()).hexdigest()[:12]
    collection = f"eval-{tag}"
    show = sys.stderr.isatty()
    bar = _Bar(show, "indexing", sum(len(d.pages) for d in evalset.documents), "paragraph")

    def on_progress(progress: Progress) -> None:
        bar.set(sum(len(d.pages) for d in evalset.documents[: progress.documents_done]))

    with service.index.writing(settings.lock_timeout):
        rag_eval.ingest(service.index, embedder, collection, evalset.documents, on_progress=on_progress)
    bar.close()
    retriever = Retriever(service.index, embedder, collection)
    bar = _Bar(show, "questions", len(evalset.questions), "question")
    report = rag_eval.evaluate(retriever, evalset, merge=not args.no_merge, on_progress=bar.update)
    bar.close()
    out = report.to_json()
    out["embedder"] = embedder.name
    if args.json:
        print_json(out)
        return 0
    print(f"{out['dataset']}: {out['questions']} answerable questions, {out['passages']} passages "
          f"(mean {out['mean_passage_tokens']} word pieces), embedder {embedder.name}")
    print(f"{'retriever':10s} {'recall@1':>9s} {'recall@4':>9s} {'recall@10':>10s} {'MRR@10':>8s}")
    for name, s in out["by_retriever"].items():
        print(f"{name:10s} {s['recall@1']:9.3f} {s['recall@4']:9.3f} {s['recall@10']:10.3f} "
              f"{s['mrr@10']:8.3f}")
    if "abstention" in out:
        a = out["abstention"]
        print(f"abstention: {a['unanswerable']} unanswerable questions; AUROC {a.get('auroc', 0):.3f}; "
              f"at the threshold keeping 95% of answerable ones, {a.get('abstain_rate', 0):.1%} declined")
    print(f"({out['seconds']:.0f} s)")
    return 0


class _Bar:
    """A tqdm bar on a terminal, nothing otherwise."""

    def __init__(self, show: bool, what: str, total: int, unit: str) -> None:
        self.bar: Any = None
        self.done = 0
        if show:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=what, unit=unit, file=sys.stderr, dynamic_ncols=True)

    def update(self, n: int) -> None:
        self.set(self.done + n)

    def set(self, done: int) -> None:
        if self.bar is not None and done > self.done:
            self.bar.update(done - self.done)
        self.done = max(done, self.done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
