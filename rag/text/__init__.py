"""Text: page clean-up for the loaders (``clean``) and the one analysis of words every stage shares
(``analysis``: the lexical index, extractive answers, highlighting, language detection)."""

from rag.text.analysis import (
    ENGLISH_STOP,
    SPANISH_STOP,
    WORD,
    Language,
    analysis_fingerprint,
    analyze,
    analyze_query,
    content_terms,
    detect_language,
    fold,
    guess_language,
    light_stem,
    passage_terms,
    tokens,
)
from rag.text.clean import collapse, drop_garbled_runs, normalize_page, strip_running_lines

__all__ = ["ENGLISH_STOP", "SPANISH_STOP", "WORD", "Language", "analysis_fingerprint", "analyze", "analyze_query",
           "collapse", "content_terms", "detect_language", "drop_garbled_runs", "fold", "guess_language",
           "light_stem", "normalize_page", "passage_terms", "strip_running_lines", "tokens"]
