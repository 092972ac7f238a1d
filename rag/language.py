"""Tell Spanish from English in a question, offline: punctuation, letters and stop-word counts.

Example: detect_language("¿Y para el posgrado?") -> "es"; detect_language("What is the pass mark?") -> "en"
"""

from __future__ import annotations

import re
from typing import Literal

from rag.text import fold

Language = Literal["es", "en"]

# Frequent function words that the other language does not share (so "a", "no", "me" are left out).
_ES_WORDS = (
    "el la los las un una unos unas de del al y o que en por para con sin es son está están ser "
    "se su sus lo como cual cuales cuál cuáles qué quién quien cuándo cuando cuánto cuanto dónde donde "
    "cómo hay puedo puede pueden debo debe tengo tiene mi mis nos este esta estos estas ese esa "
    "hasta desde sobre entre pero más muy también ya fue sido hace según"
)
_ES = frozenset(_ES_WORDS.split())
_EN_WORDS = (
    "the of and or to in on for with without is are was were be been being it its this that these "
    "those what which who whom when where why how can could should would will do does did have has "
    "had my your our their there from by about into than then also not any some must may i you we "
    "they he she"
)
_EN = frozenset(_EN_WORDS.split())
_WORD = re.compile(r"[^\W\d_]+")
_SPANISH_MARKS = re.compile(r"[¿¡ñÑáéíóúÁÉÍÓÚü]")


def detect_language(text: str, default: Language = "es") -> Language:
    """Return "es" or "en" for ``text``; ``default`` (Spanish first) when there is no evidence."""
    words = [w.lower() for w in _WORD.findall(text)]
    es = sum(1 for w in words if w in _ES or fold(w) in _ES)
    en = sum(1 for w in words if w in _EN)
    # ¿ ¡ ñ and accented vowels are near-certain Spanish in a question; worth two stop words each.
    es += 2 * len(_SPANISH_MARKS.findall(text))
    if es == en:
        return default
    return "es" if es > en else "en"
