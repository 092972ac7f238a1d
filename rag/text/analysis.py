"""Words of a text, one analysis for every stage: folding, tokens, stop words, stems and the language.

The lexical index stems with Snowball in the passage's language (``analyze``, ``analyze_query``); extractive
answers and highlighting compare light stems that conflate both languages (``light_stem``, ``content_terms``);
a question's language is told by ``detect_language``. Example:
analyze("¿Cuál es la nota mínima de aprobación?") -> ["not", "minim", "aprob"]
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache
from typing import Literal

import Stemmer

Language = Literal["es", "en"]


def fold(text: str) -> str:
    """Lower-case and strip accents: 'Información' -> 'informacion' (ñ is kept apart from n)."""
    text = unicodedata.normalize("NFKD", text.lower())
    out: list[str] = []
    for ch in text:
        if unicodedata.combining(ch):
            # keep the tilde of ñ: 'año' and 'ano' are different words in Spanish
            if ch == "\u0303" and out and out[-1] == "n":
                out[-1] = "ñ"
            continue
        out.append(ch)
    return "".join(out)


# The three word patterns, each kept as its users measured it:
_INDEX_WORD = re.compile(r"[a-zñ0-9]+(?:[.,][0-9]+)*")  # index tokens of folded text: "3,5", "2026"
WORD = re.compile(r"[^\W_]+")  # letters and digits of unfolded text: extractive terms, highlighted spans
_LETTERS = re.compile(r"[^\W\d_]+")  # letters only: language detection

_SPANISH_STOP_WORDS = """
a al algo algunas algunos ante antes como con contra cual cuales cuando de del desde donde dos el ella
ellas ellos en entre era erais eramos eran eras eres es esa esas ese eso esos esta estaba estado estais
estamos estan estar estas este esto estos estoy fue fuera fueron fui fuimos ha habia haber habian han has
hasta hay la las le les lo los mas me mi mis mucho muchos muy nada ni no nos nosotros o os otra otras otro
otros para pero poco por porque que quien quienes se sea sean ser si sido siempre sin sobre sois solo somos
son soy su sus tambien tanto te tenemos tener tengo ti tiene tienen toda todas todo todos tu tus un una
uno unos usted ustedes vosotros y ya yo cual cuál qué quién cómo dónde cuándo cuánto cuánta cuántos cuántas
él ésta éste está están sí según puede pueden debe deben cada mismo misma dicho dicha así aunque e u
"""
SPANISH_STOP = frozenset(fold(w) for w in _SPANISH_STOP_WORDS.split())

_ENGLISH_STOP_WORDS = """
a about above after again against all am an and any are as at be because been before being below between
both but by can could did do does doing down during each few for from further had has have having he her
here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not
now of off on once only or other our ours ourselves out over own same she should so some such than that the
their theirs them themselves then there these they this those through to too under until up very was we
were what when where which while who whom why will with would you your yours yourself yourselves also may
must shall might its it's does did
"""
ENGLISH_STOP = frozenset(_ENGLISH_STOP_WORDS.split())

# Words that mark a language strongly enough to count double.
_ES_MARKS = frozenset({"el", "la", "los", "las", "de", "del", "que", "es", "en", "por", "para", "con", "una"})
_EN_MARKS = frozenset({"the", "of", "and", "is", "to", "in", "for", "with", "what", "which", "are", "was"})


# --- the lexical index: Snowball stems in the passage's language ---

@lru_cache(maxsize=2)
def _stemmer(lang: Language) -> Stemmer.Stemmer:
    return Stemmer.Stemmer("spanish" if lang == "es" else "english")


def tokens(text: str) -> list[str]:
    """Folded word tokens, stop words kept: 'Año 2026, art. 5' -> ['año', '2026', 'art', '5']."""
    return _INDEX_WORD.findall(fold(text))


def guess_language(words: list[str]) -> Language | None:
    """'es' or 'en' by stop-word votes; None when there is too little evidence."""
    es = sum((2 if w in _ES_MARKS else 1) for w in words if w in SPANISH_STOP)
    en = sum((2 if w in _EN_MARKS else 1) for w in words if w in ENGLISH_STOP)
    if "ñ" in "".join(words):
        es += 2
    if es == en or max(es, en) < 2:
        return None
    return "es" if es > en else "en"


def _stem_all(words: list[str], lang: Language) -> list[str]:
    stop = SPANISH_STOP if lang == "es" else ENGLISH_STOP
    kept = [w for w in words if w not in stop]
    return list(_stemmer(lang).stemWords(kept))


def analyze(text: str, lang: Language | None = None) -> list[str]:
    """Index terms of a passage, in order, repeated as often as they occur."""
    words = tokens(text)
    lang = lang or guess_language(words) or "es"
    return _stem_all(words, lang)


def passage_terms(text: str, context: str) -> tuple[str, str]:
    """A passage's index terms as the lexical index stores them: (its text's, its context line's),
    each space-joined, each analysed in its own language."""
    return " ".join(analyze(text)), " ".join(analyze(context))


def analyze_query(text: str) -> list[str]:
    """Distinct terms of a question; both languages' stems when its language is unclear."""
    words = tokens(text)
    lang = guess_language(words)
    if lang is not None:
        terms = _stem_all(words, lang)
    else:
        content = [w for w in words if w not in SPANISH_STOP and w not in ENGLISH_STOP]
        terms = list(_stemmer("es").stemWords(content)) + list(_stemmer("en").stemWords(content))
    return list(dict.fromkeys(terms))


# Bump when the analysis changes in a way ``analysis_fingerprint`` cannot see (the code of ``fold``,
# ``tokens``, ``guess_language``): every catalog then re-derives its terms on open.
ANALYSIS_REVISION = 1
# The character n-gram size of a former second lexical channel (removed); kept in the fingerprint's
# inputs so that existing catalogs, whose terms it never touched, are not re-derived.
_FORMER_GRAM = 4


@lru_cache(maxsize=1)
def analysis_fingerprint() -> str:
    """What the index terms of a passage depend on, as a short digest: stored in every catalog, and a
    catalog made with another analysis re-derives its terms when it is opened."""
    parts = (ANALYSIS_REVISION, _FORMER_GRAM, _INDEX_WORD.pattern, sorted(SPANISH_STOP), sorted(ENGLISH_STOP),
             sorted(_ES_MARKS), sorted(_EN_MARKS), Stemmer.version())
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


# --- extractive answers and highlighting: light stems that conflate both languages ---

_STEM_CHARS = 5  # after suffix stripping, prefixes this long conflate most inflections
# Both languages' stop words, and a few question words that carry no content in an answer sentence.
_CONTENT_STOP = SPANISH_STOP | ENGLISH_STOP | frozenset(fold(w) for w in "debo hace puedo unas us without".split())
# Longest first; Spanish and English inflections and derivations, written folded (no accents).
_SUFFIX_WORDS = (
        "aciones acion iciones icion amientos amiento imientos imiento mente idades idad ables able ibles "
        "ible istas ista ados adas idos idas ado ada ido ida ando iendo ar er ir os as es a o e "
        "ations ation ings ing edly ed ly ness ments ment ies s"
)
_SUFFIXES = sorted(_SUFFIX_WORDS.split(), key=len, reverse=True)


def light_stem(word: str) -> str:
    """Light stemmer for both languages: 'aprobación', 'aprobar', 'aprobado' -> 'aprob'."""
    word = fold(word)
    if word.isdigit():
        return word
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            if suffix == "s" and word.endswith("ss"):  # "pass", "class" are not plurals
                break
            word = word[: -len(suffix)]
            break
    return word[:_STEM_CHARS]


def content_terms(text: str) -> set[str]:
    """Content terms of ``text``: folded, stop words dropped, light-stemmed."""
    return {t for t in map(_content_term, WORD.findall(text)) if t}


@lru_cache(maxsize=65536)
def _content_term(word: str) -> str:
    """A word's stem, or "" for a stop word or a single letter (cached: folding is the slow part)."""
    return "" if fold(word) in _CONTENT_STOP or (len(word) < 2 and not word.isdigit()) else light_stem(word)


# --- a question's language ---

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
_SPANISH_MARKS = re.compile(r"[¿¡ñÑáéíóúÁÉÍÓÚü]")


def detect_language(text: str, default: Language = "es") -> Language:
    """The language of a question, offline, by function words and Spanish marks; ``default`` (Spanish
    first) when there is no evidence.

    Example: detect_language("¿Y para el posgrado?") -> "es"; detect_language("What is the pass mark?") -> "en"
    """
    words = [w.lower() for w in _LETTERS.findall(text)]
    es = sum(1 for w in words if w in _ES or fold(w) in _ES)
    en = sum(1 for w in words if w in _EN)
    # ¿ ¡ ñ and accented vowels are near-certain Spanish in a question; worth two stop words each.
    es += 2 * len(_SPANISH_MARKS.findall(text))
    if es == en:
        return default
    return "es" if es > en else "en"
