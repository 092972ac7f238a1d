"""Query latency of hybrid retrieval at 10k and 100k passages, and how disk and memory grow.

    python benchmarks/query.py [--sizes 10000 100000] [--queries 300] [--data-dir D] [--json]

What is measured: ``Retriever.retrieve(question, k=5)`` as ``rag search`` runs it - embedding the
question with the three encoders (the bundled model, and the multilingual channel's two, beside the BM25
query), the Chroma (HNSW) query, the BM25 query (answered from the in-memory copy of the FTS5 postings, which is
made before the warm-up, as a running web app has it), the multilingual cosines and the 4-gram BM25 of the
passages both lists propose (and their e5 cosines, ``rag.encoders.e5``, where the collection has passages not in
English), the fusion, reading the passages and joining neighbours - for real XQuAD
questions (Spanish and English, alternating), after 20 warm-up questions.
Each size is built in one process and measured in a fresh one, so its resident memory (RSS, which
includes the embedding model) and the data directory's size on disk belong to that size alone. A
question runs on one core (torch with one thread); ``cpu_ms`` is the CPU time a question took, which is
what its latency is on an otherwise idle machine - the wall-clock figures depend on what else runs.

How the collection is scaled up (embedding 100k passages on two CPU cores would take most of an hour):
  - text: every passage is 3-7 sentences drawn at random from the shared SQuAD-es, XQuAD-es/en
    paragraphs, in documents of 20 passages titled after a random article; so the lexical index holds
    real Spanish and English vocabulary with its real term statistics;
  - vectors: each real paragraph is embedded once with the bundled model; a passage's vector is the
    normalised mean of the vectors of the paragraphs its sentences came from, plus a little noise, so
    the vectors keep the real model's geometry (cluster structure, anisotropy); its multilingual
    vector is made the same way from the paragraphs' multilingual vectors, and so is its e5 vector
    (only for a passage ``rag.encoders.e5.needs_e5`` does not take for English, as ingestion does);
  - both are written with ``Index.write``: the normal write protocol, catalog, FTS5 terms and Chroma.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rag.privacy import lock_down  # noqa: E402

lock_down()

import numpy as np  # noqa: E402

QA = ROOT.parent / "shared" / "data" / "qa"
SOURCES = ["squad_es/dev-v1.1-es_small.json", "squad_es/dev-v2.0-es_small.json", "xquad/xquad.es.json",
           "xquad/xquad.en.json"]
PER_DOC = 20
_SENT = re.compile(r"(?<=[.!?])\s+")


def _paragraphs() -> tuple[list[str], list[str]]:
    paragraphs: list[str] = []
    titles: list[str] = []
    seen: set[str] = set()
    for name in SOURCES:
        data = json.loads((QA / name).read_text(encoding="utf-8"))["data"]
        for article in data:
            titles.append(str(article.get("title", "")).replace("_", " "))
            for p in article["paragraphs"]:
                text = " ".join(p["context"].replace("\ufeff", "").split())
                if text not in seen:
                    seen.add(text)
                    paragraphs.append(text)
    return paragraphs, titles


def build(data_dir: Path, size: int) -> float:
    """Write ``size`` synthetic passages into collection 'bench' under ``data_dir``; seconds taken."""
    from rag.multilingual import MultilingualEncoder, pack

    from rag.encoders.e5 import make_e5, needs_e5
    from rag.encoders.embedders import make_embedder, pick_precision
    from rag.index.catalog import NewDocument
    from rag.index.store import Index
    from rag.settings import Settings
    from rag.text import passage_terms
    from rag.types import Chunk

    began = time.perf_counter()
    settings = Settings(data_dir=data_dir)
    embedder = make_embedder(settings)
    paragraphs, titles = _paragraphs()
    data_dir.parent.mkdir(parents=True, exist_ok=True)

    def cached(name: str, encode: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        """The paragraphs' vectors of one encoder, computed once for every size built beside this one."""
        path = data_dir.parent / name
        if path.exists():
            return np.load(path)
        vectors = encode(paragraphs)
        np.save(path, vectors)
        return vectors

    pvec = cached("paragraph-vectors.npy", embedder.embed)
    mvec = cached("paragraph-mvectors.npy", MultilingualEncoder().embed)
    e5 = make_e5(settings.multilingual_e5, pick_precision(settings.embed_precision))
    evec = cached("paragraph-evectors.npy", e5.embed) if e5 is not None else None
    sentences = [(s, i) for i, p in enumerate(paragraphs) for s in _SENT.split(p) if len(s.split()) >= 4]
    rng = random.Random(size)
    noise = np.random.default_rng(size)

    def blend(matrix: np.ndarray, rows: list[int]) -> np.ndarray:
        """The unit mean of some paragraphs' vectors, plus a little noise."""
        v = matrix[rows].mean(axis=0) + noise.normal(0, 0.01, matrix.shape[1])
        return np.asarray(v / np.linalg.norm(v))

    index = Index.open(settings)
    with index.writing():
        for start in range(0, size, PER_DOC * 100):
            docs, vectors = [], []
            for d in range(start // PER_DOC, min(size, start + PER_DOC * 100) // PER_DOC):
                sha = hashlib.sha256(f"bench:{size}:{d}".encode()).hexdigest()
                title = rng.choice(titles)
                chunks, mvecs, evecs = [], [], []
                for pos in range(PER_DOC):
                    picked = rng.sample(sentences, rng.randint(3, 7))
                    text = " ".join(s for s, _ in picked)
                    rows = [i for _, i in picked]
                    vectors.append(blend(pvec, rows))
                    mvecs.append(pack(blend(mvec, rows)))
                    evecs.append(pack(blend(evec, rows)) if evec is not None and needs_e5(text) else b"")
                    chunks.append(Chunk(f"{sha}:{pos}", sha, f"doc{d}.pdf", pos // 4 + 1, pos // 4 + 1, pos,
                                        text, title))
                docs.append(NewDocument(sha, f"doc{d}.pdf", title, [""] * (PER_DOC // 4 + 1), chunks,
                                        [passage_terms(c.text, c.context) for c in chunks], 1, None,
                                        mvecs, evecs if evec is not None else ()))
            index.write("bench", embedder.name, docs, np.asarray(vectors, dtype=np.float32))
    return time.perf_counter() - began


def _questions(n: int) -> list[str]:
    lists: list[list[str]] = []
    for name in ("xquad/xquad.es.json", "xquad/xquad.en.json"):
        data = json.loads((QA / name).read_text(encoding="utf-8"))["data"]
        lists.append([str(q["question"]) for a in data for p in a["paragraphs"] for q in p["qas"]])
    mixed = [q for pair in zip(lists[0], lists[1], strict=True) for q in pair]
    return mixed[: n + 20]


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _du_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def measure(data_dir: Path, size: int, queries: int, multilingual: bool = True) -> dict[str, Any]:
    """Time ``queries`` questions on the built collection of ``size`` passages, in this process."""
    import torch
    from rag.retrieval import Retriever, fuse, gather

    from rag.service import Service
    from rag.settings import Settings
    from rag.text import analyze_query

    torch.set_num_threads(1)  # one core per question: latency does not depend on a second idle core
    service = Service.from_settings(Settings(data_dir=data_dir, multilingual=multilingual))
    encoder = service.multilingual
    retriever = Retriever(service.index, service.embedder, "bench", multilingual=encoder)
    catalog = service.index.catalog("bench")
    assert catalog.chunk_count() == size, f"{data_dir} holds {catalog.chunk_count()} passages, not {size}"
    questions = _questions(queries)
    began = time.perf_counter()
    catalog.postings(wait=True)  # what a running app has after its first question (made in the background)
    postings_s = time.perf_counter() - began
    for q in questions[:20]:  # warm up: model, HNSW pages, SQLite cache
        retriever.retrieve(q, 5)
    total: list[float] = []
    cpu: list[float] = []
    parts: dict[str, list[float]] = {"embed": [], "multi-embed": [], "multi-search": [], "e5": [], "dense": [],
                                     "lexical": [], "passages": [], "fuse+read": []}
    for q in questions[20:]:
        t0, c0 = time.perf_counter(), time.process_time()
        retriever.retrieve(q, 5)
        total.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        # the same steps one by one, for the breakdown
        t0 = time.perf_counter()
        vector = service.embedder.embed([q], query=True)[0]
        tm = time.perf_counter()
        multi_query = encoder.embed([q], query=True)[0] if encoder is not None else None
        ts = time.perf_counter()
        nearest = catalog.nearest_mvecs(multi_query, retriever.depth) if multi_query is not None else []
        te = time.perf_counter()
        e5_query = retriever._e5_query(catalog, q)  # None where no passage has an e5 vector
        t1 = time.perf_counter()
        dense = retriever.dense(q, retriever.depth, vector)
        t2 = time.perf_counter()
        lexical = retriever.lexical(q, retriever.depth)
        t3 = time.perf_counter()
        terms = analyze_query(q)
        cands = gather(catalog, q, terms, dense, lexical, multi_query=multi_query, multi_nearest=nearest,
                       e5_query=e5_query)
        t4 = time.perf_counter()
        ranked = fuse(cands, 18)
        catalog.chunks([cid for cid, _ in ranked])
        t5 = time.perf_counter()
        for key, value in zip(parts, (tm - t0, ts - tm, te - ts, t1 - te, t2 - t1, t3 - t2, t4 - t3, t5 - t4),
                              strict=True):
            parts[key].append(value)

    def pct(values: list[float]) -> dict[str, float]:
        ms = np.asarray(values) * 1000
        return {"p50": round(float(np.percentile(ms, 50)), 1), "p95": round(float(np.percentile(ms, 95)), 1),
                "mean": round(float(ms.mean()), 1)}

    return {
        "passages": size,
        "multilingual": encoder is not None,
        "e5": encoder is not None and encoder.e5 is not None and catalog.has_evecs(),
        "queries": len(total),
        "latency_ms": pct(total),
        "cpu_ms": pct(cpu),
        "breakdown_ms": {k: pct(v) for k, v in parts.items()},
        "disk_mb": {"total": round(_du_mb(data_dir), 1), "chroma": round(_du_mb(data_dir / "chroma"), 1),
                    "catalog": round(_du_mb(data_dir / "collections"), 1)},
        "rss_mb": round(_rss_mb(), 1),
        "postings_build_s": round(postings_s, 2),
        "cpus": os.cpu_count(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--data-dir", type=Path, help="build (and keep) the collections here")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--no-multilingual", action="store_true",
                        help="measure retrieval with the multilingual channel off (for comparison)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # measure one size, in this process
    parser.add_argument("--build", type=int, help=argparse.SUPPRESS)  # build one size, in this process
    args = parser.parse_args()
    base = args.data_dir or Path(tempfile.mkdtemp(prefix="rag-bench-"))
    if args.build:
        print(json.dumps({"build_seconds": round(build(base / f"n{args.build}", args.build), 1)}))
        return 0
    if args.one:
        print(json.dumps(measure(base / f"n{args.one}", args.one, args.queries, not args.no_multilingual)))
        return 0
    results = []
    try:
        for size in args.sizes:
            built = None
            if not (base / f"n{size}" / "collections" / "bench").exists():
                cmd = [sys.executable, __file__, "--build", str(size), "--data-dir", str(base)]
                done = subprocess.run(cmd, check=True, capture_output=True, text=True)
                built = json.loads(done.stdout.strip().splitlines()[-1])["build_seconds"]
            cmd = [sys.executable, __file__, "--one", str(size), "--queries", str(args.queries),
                   "--data-dir", str(base)] + (["--no-multilingual"] if args.no_multilingual else [])
            done = subprocess.run(cmd, check=True, capture_output=True, text=True)
            results.append({**json.loads(done.stdout.strip().splitlines()[-1]), "build_seconds": built})
    finally:
        if args.data_dir is None:
            shutil.rmtree(base, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for r in results:
        lat, b = r["latency_ms"], r["breakdown_ms"]
        print(f"{r['passages']:>7} passages: p50 {lat['p50']} ms, p95 {lat['p95']} ms "
              f"(embed {b['embed']['p50']}, multi-embed {b['multi-embed']['p50']}, "
              f"multi-search {b['multi-search']['p50']}, dense {b['dense']['p50']}, "
              f"lexical {b['lexical']['p50']}, "
              f"passages {b['passages']['p50']}, "
              f"fuse+read {b['fuse+read']['p50']} ms at p50); disk {r['disk_mb']['total']} MB; "
              f"RSS {r['rss_mb']} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
