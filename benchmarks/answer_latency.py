"""Time the service adds before the first token reaches the user, at 10k passages.

    python benchmarks/answer_latency.py                      # builds the index once under --data-dir
    python benchmarks/answer_latency.py --questions 200 --json

The index: the Spanish and English QA sets of ../shared/data/qa (XQuAD es/en, SQuAD-es v1.1 and the
paragraphs v2.0 adds), one document per article and one page per paragraph, written through
``rag.index.writer.Indexer``; then verbatim copies of those articles under other document names until there are
at least ``--chunks`` passages (the copies' vectors are taken from the first embedding, not recomputed).
It is cached under ``--data-dir`` and reused while its build parameters match.

The model: ``tests.ollama_stub.OllamaStub``, a loopback stand-in that speaks Ollama's real API and answers
at once, in its own process (as Ollama is); the real ``OllamaGenerator`` (langchain-ollama) talks to it.

Measured per question, on a warm service (model loaded, the stand-in's context window known), through the
public API only — ``Service.retriever(...).retrieve(q, k)`` and ``Answerer.stream(q)`` — so it measures
whatever retrieval and fusion the checkout has:
  retrieve        ``Service.retriever(collection).retrieve(q, k)`` alone
  llm: hits       ``Answerer.stream(q)`` called → its ("hits", ...) event (retrieval and prompt built)
  llm: 1st token  ``Answerer.stream(q)`` called → its first ("token", ...) event: what the issue targets
  extractive      the same with no model (``Answerer(retriever, None)``): the whole answer is the first token
  extractive adds ``rag.answer.extractive.extractive_answer`` alone on the hits just retrieved: what the extractive
                  answer (its tiers, the pages' units and their scoring) adds to retrieval (target: p95 <= 30 ms)
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
import subprocess
import time
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from benchmarks.common import (
    QA,
    ROOT,
    Article,
    CachingEmbedder,
    article_document,
    dump_json,
    load_avg,
    machine,
    make_log,
    percentile,
    read_squad,
    table,
)

DEFAULT_DATA_DIR = ROOT / "rag_data" / "bench"
COLLECTION = "bench-latency"
TARGET_P95_MS = 150.0
SOURCES = (  # (file, short name); paragraphs already seen in an earlier file are skipped
    ("xquad/xquad.es.json", "xquad-es"),
    ("squad_es/dev-v1.1-es_small.json", "squad-es-v1.1"),
    ("squad_es/dev-v2.0-es_small.json", "squad-es-v2.0"),
    ("xquad/xquad.en.json", "xquad-en"),
)


def corpus_articles(limit_articles: int | None = None) -> list[tuple[str, Article]]:
    """(source, article) for every article of SOURCES, paragraphs seen before dropped."""
    seen: set[str] = set()
    out: list[tuple[str, Article]] = []
    for rel, short in SOURCES:
        articles, _ = read_squad(QA / rel)
        for art in articles:
            fresh = tuple(p for p in art.paragraphs if p not in seen)
            seen.update(fresh)
            if fresh:
                out.append((short, Article(art.title, fresh)))
    return out[:limit_articles] if limit_articles else out


def build_index(service: Any, collection: str, target_chunks: int, limit_articles: int | None = None,
                log: Any = None) -> dict[str, Any]:
    """Fill ``collection`` to at least ``target_chunks`` passages, unless a matching build is there."""
    from rag.index.writer import Indexer, Pending

    index = service.index
    params = {"target_chunks": target_chunks, "limit_articles": limit_articles, "embedder": service.embedder.name,
              "sources": [s for _, s in SOURCES], "version": 1}
    if index.exists(collection):
        cat = index.catalog(collection)
        if cat.get_meta("bench_params") == json.dumps(params, sort_keys=True):
            return {"built": False, "chunks": cat.chunk_count(), "documents": len(cat.documents()), "seconds": 0.0}
        if log:
            log(f"rebuilding {collection}: its build parameters differ")
        index.drop_collection(collection)

    began = time.perf_counter()
    embedder = CachingEmbedder(service.embedder)
    indexer = Indexer(index, embedder, collection)
    articles = corpus_articles(limit_articles)
    sizes = [len(indexer.chunk(article_document(a, src))) for src, a in articles]
    docs = [article_document(a, src) for src, a in articles]
    total, copy = sum(sizes), 1
    while total < target_chunks:
        copy += 1
        for (src, art), size in zip(articles, sizes, strict=True):
            if total >= target_chunks:
                break
            docs.append(article_document(art, src, tag=f"copy {copy}"))
            total += size
    if log:
        log(f"building {collection}: {len(docs)} documents, ~{total} passages "
            f"({sum(sizes)} distinct, the rest copies)")

    def pending() -> Iterator[Pending]:
        for doc in docs:
            yield Pending(doc, None)

    def progress(p: Any) -> None:
        if log and p.chunks_done and p.chunks_done % 2048 < indexer.batch_chunks:
            log(f"  {p.chunks_done} passages, {p.seconds_in_model:.0f} s in the model")

    report = indexer.add(pending(), on_progress=progress)
    with index.writing():
        index.catalog(collection).set_meta("bench_params", json.dumps(params, sort_keys=True))
    return {"built": True, "chunks": report.chunks, "documents": len(report.written),
            "seconds": time.perf_counter() - began, "seconds_in_model": report.seconds_in_model}


def questions(n: int, seed: int = 0) -> list[str]:
    """``n`` XQuAD-es questions, a fixed sample (Spanish first)."""
    _, qs = read_squad(QA / "xquad" / "xquad.es.json")
    texts = [q.text for q in qs]
    random.Random(seed).shuffle(texts)
    return texts[:n]


# -- the Ollama stand-in in its own process -------------------------------------------------------------
_STUB = (
    "import sys; sys.path.insert(0, sys.argv[1]); from tests.ollama_stub import OllamaStub; "
    "s = OllamaStub().start(); print(s.url, flush=True); sys.stdin.read(); s.stop()"
)


class StubProcess:
    """``OllamaStub`` served by a child process; ``url`` is where it listens. Stops when closed."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", _STUB, str(ROOT)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        if not self.url.startswith("http://127.0.0.1:"):
            self.close()
            raise RuntimeError("the Ollama stand-in did not start")

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> StubProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- measuring ---------------------------------------------------------------------------------------
def time_stream(answerer: Any, question: str) -> dict[str, float]:
    """Milliseconds from ``stream`` being called to its hits event and to its first token."""
    out: dict[str, float] = {}
    began = time.perf_counter()
    for event in answerer.stream(question):
        now = (time.perf_counter() - began) * 1000
        if event.kind == "hits":
            out.setdefault("hits_ms", now)
        elif event.kind == "token":
            out.setdefault("first_token_ms", now)
        elif event.kind == "done":
            out["done_ms"] = now
            out["mode_llm"] = float(event.data.mode == "llm")
    return out


def stats(values: Sequence[float]) -> dict[str, float]:
    return {"n": len(values), "p50": percentile(values, 50), "p95": percentile(values, 95),
            "p99": percentile(values, 99), "mean": float(np.mean(values)) if values else float("nan"),
            "max": max(values) if values else float("nan")}


def measure(service: Any, collection: str, stub_url: str, qs: Sequence[str], warmup: int = 10,
            k: int | None = None) -> dict[str, Any]:
    """Latencies (ms) of retrieval, the llm path and the extractive path over ``qs``, interleaved."""
    from rag.answer.answerer import Answerer
    from rag.answer.extractive import extractive_answer

    settings = service.settings.model_copy(update={"ollama_host": stub_url})
    retriever = service.retriever(collection)
    k = k or settings.top_k
    llm = Answerer.from_settings(settings, retriever)
    extractive = Answerer(retriever, None, top_k=k)
    try:
        for q in list(qs[:warmup]) or ["¿Qué es esto?"]:  # model loaded, caches and connections warm
            retriever.retrieve(q, k)
            llm.ask(q)
            extractive.ask(q)
        series: dict[str, list[float]] = {"retrieve": [], "llm_hits": [], "llm_first_token": [],
                                          "extractive_first_token": [], "extractive_adds": []}
        not_llm = 0
        load_before = load_avg()
        for q in qs:
            began = time.perf_counter()
            hits = retriever.retrieve(q, k)
            series["retrieve"].append((time.perf_counter() - began) * 1000)
            # what the extractive answer adds to retrieval: its tiers, units and their scoring, on these hits
            began = time.perf_counter()
            extractive_answer(q, hits, pages=retriever.page_text, encoder=retriever.encoder)
            series["extractive_adds"].append((time.perf_counter() - began) * 1000)
            t = time_stream(llm, q)
            if not t.get("mode_llm"):
                not_llm += 1
            series["llm_hits"].append(t["hits_ms"])
            series["llm_first_token"].append(t["first_token_ms"])
            series["extractive_first_token"].append(time_stream(extractive, q)["first_token_ms"])
    finally:
        llm.close()
    return {"k": k, "questions": len(qs), "answered_by_model": len(qs) - not_llm,
            "load_avg": [load_before, load_avg()], "latency_ms": {name: stats(v) for name, v in series.items()},
            "samples_ms": series}


def run(data_dir: Path, n_questions: int = 200, target_chunks: int = 10_000, limit_articles: int | None = None,
        warmup: int = 10, embedder: Any = None, log: Any = None, build_only: bool = False) -> dict[str, Any]:
    from rag.privacy import lock_down
    from rag.service import Service
    from rag.settings import BUNDLED_EMBEDDER, Settings

    lock_down()
    settings = Settings(data_dir=data_dir, embed_model=BUNDLED_EMBEDDER, chroma_url="", collection=COLLECTION)
    service = Service(settings, embedder=embedder)
    built = build_index(service, COLLECTION, target_chunks, limit_articles, log=log)
    if log:
        log(f"index: {built['chunks']} passages in {built['documents']} documents"
            + (f" (built in {built['seconds']:.0f} s)" if built["built"] else " (cached)"))
    if build_only:
        return {"index": built}
    with StubProcess() as stub:
        result = measure(service, COLLECTION, stub.url, questions(n_questions), warmup=warmup)
    result["index"] = built
    return result


def render(result: dict[str, Any]) -> str:
    labels = {"retrieve": "retrieve (Retriever.retrieve)", "llm_hits": "llm: stream → hits",
              "llm_first_token": "llm: stream → first token", "extractive_first_token": "extractive: stream → answer",
              "extractive_adds": "extractive answer alone (on the retrieved hits)"}
    rows = [[labels[name], s["n"], s["p50"], s["p95"], s["p99"], s["mean"], s["max"]]
            for name, s in result["latency_ms"].items()]
    p95 = result["latency_ms"]["llm_first_token"]["p95"]
    verdict = "meets" if p95 <= TARGET_P95_MS else "MISSES"
    return "\n".join([
        f"{result['index']['chunks']} passages, k={result['k']}, {result['questions']} questions "
        f"({result['answered_by_model']} answered by the stand-in); load avg "
        f"{result['load_avg'][0]}→{result['load_avg'][1]}",
        table(["ms", "n", "p50", "p95", "p99", "mean", "max"], rows),
        f"first token p95 {p95:.1f} ms: {verdict} the {TARGET_P95_MS:g} ms target",
    ])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                        help="where the benchmark index is built and cached (default: %(default)s)")
    parser.add_argument("--chunks", type=int, default=10_000, help="passages in the index (default: 10000)")
    parser.add_argument("--questions", type=int, default=200, help="questions timed (default: 200)")
    parser.add_argument("--warmup", type=int, default=10, help="questions asked first, not timed")
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="torch.set_num_threads(N) first (an experiment; default: torch's own choice)")
    parser.add_argument("--build-only", action="store_true", help="build (or find) the index and stop")
    parser.add_argument("--limit-articles", type=int, default=None, help=argparse.SUPPRESS)  # smoke tests
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--samples", action="store_true", help="keep every sample in the JSON")
    args = parser.parse_args(argv)
    if not QA.is_dir():
        print(f"QA data not found: {QA} (the shared data sits beside the project: ../shared)", file=sys.stderr)
        return 2
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    info = machine()
    log = make_log(args.json)
    result = run(args.data_dir, args.questions, args.chunks, args.limit_articles, args.warmup, log=log,
                 build_only=args.build_only)
    if args.build_only:
        print(dump_json(result["index"]))
        return 0
    if not args.samples:
        result.pop("samples_ms")
    result["machine"] = info
    result["machine"]["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    result["target_p95_ms"] = TARGET_P95_MS
    result["command"] = "python benchmarks/answer_latency.py " + " ".join(argv if argv is not None else sys.argv[1:])
    print(dump_json(result) if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
