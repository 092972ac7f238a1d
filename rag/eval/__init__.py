"""Evaluation: answer quality on SQuAD-style sets and retrieval on page-gold folders."""
