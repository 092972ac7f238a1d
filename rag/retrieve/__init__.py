"""Retrieval: the dense and lexical lists of a collection, fused, as hits."""

from rag.retrieve.fusion import FUSION, Fusion, fuse, rrf
from rag.retrieve.hits import Ranked, group_by_page, hit_groups, join_chunks, join_passages, merged_hit
from rag.retrieve.retriever import Candidates, Method, Retriever

__all__ = ["FUSION", "Candidates", "Fusion", "Method", "Ranked", "Retriever", "fuse", "group_by_page",
           "hit_groups", "join_chunks", "join_passages", "merged_hit", "rrf"]
