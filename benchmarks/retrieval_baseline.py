"""The "tutorial" baseline, measured the way ``rag eval`` measures the product.

A LangChain tutorial chunks each document with ``RecursiveCharacterTextSplitter(chunk_size=1000,
chunk_overlap=200)``, embeds the bare chunk text and retrieves by vector similarity. This script indexes a
SQuAD-format set that way (through the same Indexer, index and analysers as the product, only the chunker
and the absent title context differ) and prints answer-recall@1/4/10 and MRR@10 for dense, lexical (BM25
with the product's Spanish/English analysis), equal-weight RRF (k=60) and the product's fusion, each
chunk a hit of its own.

    python benchmarks/retrieval_baseline.py ../shared/data/qa/xquad/xquad.es.json [--json] [--data-dir D]

Needs ``langchain-text-splitters`` (a dev dependency); it is no part of the product.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from rag.privacy import lock_down  # noqa: E402

lock_down()

from rag.encoders.embedders import make_embedder  # noqa: E402
from rag.eval import squad as rag_eval  # noqa: E402
from rag.index.store import Index  # noqa: E402
from rag.index.writer import Indexer  # noqa: E402
from rag.retrieve.fusion import rrf  # noqa: E402
from rag.retrieve.hits import Ranked  # noqa: E402
from rag.retrieve.retriever import Candidates, Retriever  # noqa: E402
from rag.settings import Settings  # noqa: E402
from rag.types import Chunk, ParsedDocument  # noqa: E402


class TutorialIndexer(Indexer):
    """Chunks as the tutorial does: 1000 characters, 200 overlap, over the whole text, no title."""

    def chunk(self, doc: ParsedDocument) -> list[Chunk]:
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200, add_start_index=True)
        text = "\n\n".join(doc.pages)
        starts = []  # character offset where each page starts
        offset = 0
        for page in doc.pages:
            starts.append(offset)
            offset += len(page) + 2
        chunks = []
        for piece in splitter.create_documents([text]):
            begin = int(piece.metadata["start_index"])
            end = begin + len(piece.page_content)
            page = sum(1 for s in starts if s <= begin)
            page_end = sum(1 for s in starts if s < end)
            position = len(chunks)
            chunks.append(Chunk(f"{doc.sha256}:{position}", doc.sha256, doc.name, page, page_end, position,
                                piece.page_content, ""))
        return chunks


class RRFRetriever(Retriever):
    """The naive fusion: equal-weight reciprocal-rank fusion of the two lists."""

    def fuse(self, cands: Candidates, k: int) -> Ranked:
        return rrf([cands.dense, cands.lexical], [1.0, 1.0])[:k]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--data-dir", type=Path, help="keep the index here (default: a temporary folder)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    evalset = rag_eval.load_squad(args.dataset)
    with tempfile.TemporaryDirectory(prefix="rag-baseline-") as tmp:
        settings = Settings(data_dir=args.data_dir or Path(tmp))
        embedder = make_embedder(settings)
        index = Index.open(settings)
        collection = f"tutorial-{evalset.fingerprint()}"
        rag_eval.ingest(index, embedder, collection, evalset.documents,
                        indexer=TutorialIndexer(index, embedder, collection))
        # the tutorial returns its chunks as they are: no joining of neighbours
        ours = rag_eval.evaluate(Retriever(index, embedder, collection), evalset, merge=False)
        naive = rag_eval.evaluate(RRFRetriever(index, embedder, collection), evalset, merge=False)
    out = ours.to_json()
    out["by_retriever"]["rrf"] = naive.by_retriever["fused"].to_json()
    out["mean_top4_chars"]["rrf"] = round(naive.by_retriever["fused"].mean_chars())
    out["chunking"] = "RecursiveCharacterTextSplitter(1000, 200), no title context"
    if args.json:
        print(json.dumps(out, ensure_ascii=False, indent=2))
    else:
        print(f"{out['dataset']}: {out['questions']} questions, {out['passages']} passages "
              f"(mean {out['mean_passage_tokens']} word pieces)")
        for name, s in out["by_retriever"].items():
            print(f"  {name:8s} " + "  ".join(f"{k} {v:.3f}" for k, v in s.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
