"""Turn text into index terms for the lexical index: fold accents, drop stop words, stem.

Example: analyze("¿Cuál es la nota mínima de aprobación?") -> ["not", "minim", "aprob"]

A passage is stemmed with the stemmer of its own language (Spanish or English, guessed from stop words);
a question whose language is unclear is expanded with both stems, so "evaluaciones" matches "evaluación"
and "regulations" matches "regulation" whichever the corpus is.

Beside the stems, every content word is also indexed as its character 4-grams ("#gengis#" -> "#gen",
"geng", "engi", "ngis", "gis#"), a second lexical channel that matches what stemming cannot: spelling
variants of names ("Gengis Kan" / "Genghis Khan"), typos, and derived forms the stemmer cuts apart
("ciudadanía" / "ciudadano", "estadounidense" / "Estados Unidos").
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from itertools import filterfalse
from typing import Literal

import Stemmer

from rag.text import fold

Lang = Literal["es", "en"]

_WORD = re.compile(r"[a-zñ0-9]+(?:[.,][0-9]+)*")

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
_EITHER_STOP = SPANISH_STOP | ENGLISH_STOP

# Words that mark a language strongly enough to count double.
_ES_MARKS = frozenset({"el", "la", "los", "las", "de", "del", "que", "es", "en", "por", "para", "con", "una"})
_EN_MARKS = frozenset({"the", "of", "and", "is", "to", "in", "for", "with", "what", "which", "are", "was"})


@lru_cache(maxsize=2)
def _stemmer(lang: Lang) -> Stemmer.Stemmer:
    return Stemmer.Stemmer("spanish" if lang == "es" else "english")


def tokens(text: str) -> list[str]:
    """Folded word tokens, stop words kept: 'Año 2026, art. 5' -> ['año', '2026', 'art', '5']."""
    return _WORD.findall(fold(text))


def guess_language(words: list[str]) -> Lang | None:
    """'es' or 'en' by stop-word votes; None when there is too little evidence."""
    es = sum((2 if w in _ES_MARKS else 1) for w in words if w in SPANISH_STOP)
    en = sum((2 if w in _EN_MARKS else 1) for w in words if w in ENGLISH_STOP)
    if "ñ" in "".join(words):
        es += 2
    if es == en or max(es, en) < 2:
        return None
    return "es" if es > en else "en"


def _stem_all(words: list[str], lang: Lang) -> list[str]:
    stop = SPANISH_STOP if lang == "es" else ENGLISH_STOP
    kept = [w for w in words if w not in stop]
    return list(_stemmer(lang).stemWords(kept))


def analyze(text: str, lang: Lang | None = None) -> list[str]:
    """Index terms of a passage, in order, repeated as often as they occur."""
    words = tokens(text)
    lang = lang or guess_language(words) or "es"
    return _stem_all(words, lang)


GRAM = 4  # characters per n-gram (4- and 5-grams are the usual best for European languages)


def _content(words: list[str]) -> list[str]:
    """The words that are a stop word in neither language (what the n-gram channel indexes)."""
    return list(filterfalse(_EITHER_STOP.__contains__, words))


def _content_words(text: str) -> list[str]:
    return _content(tokens(text))


def _marked(words: list[str]) -> str:
    """Words as "#w1# #w2#": a question's n-gram occurs in them exactly where it is one of their n-grams."""
    return f"#{'# #'.join(words)}#" if words else ""


def char_grams(text: str, n: int = GRAM) -> list[str]:
    """Character n-grams of the content words, each word marked at both ends with '#'.

    Example: char_grams("la ciudadanía") -> ["#ciu", "ciud", "iuda", "udad", "dada", "adan", "dani", "ania", "nia#"]
    """
    out: list[str] = []
    for word in _content_words(text):
        marked = f"#{word}#"
        if len(marked) <= n:
            out.append(marked)
        else:
            out.extend(marked[i : i + n] for i in range(len(marked) - n + 1))
    return out


def passage_grams(text: str, context: str) -> list[str]:
    """A passage's n-grams: its text's and its context line's (title, heading), as the statistics count them."""
    return char_grams(f"{text} {context}")


def query_grams(text: str) -> list[str]:
    """Distinct character n-grams of a question."""
    return list(dict.fromkeys(char_grams(text)))


def gram_counts(text: str, context: str, grams: list[str], n: int = GRAM) -> tuple[dict[str, int], int]:
    """(occurrences of each of ``grams`` in the passage's n-grams, the passage's number of n-grams).

    The same figures as counting ``passage_grams(text, context)``, without building the list: a passage
    is scored against a question's few grams only.
    """
    return word_gram_counts(passage_words(text), context, grams, n)


def word_gram_counts(words: str, context: str, grams: list[str], n: int = GRAM) -> tuple[dict[str, int], int]:
    """``gram_counts`` of a passage given as its stored ``passage_words`` (no folding, no regex)."""
    content = _content(words.split() + _context_tokens(context))
    marked = _marked(content)
    # each word of c characters has max(c + 3 - n, 1) n-grams: c - 1 when n = 4, and 1 for a single letter
    lengths = list(map(len, content))
    length = sum(lengths) + (3 - n) * len(lengths) + sum(n - 2 - c for c in lengths if c < n - 2)
    return {g: marked.count(g) for g in grams}, length


@lru_cache(maxsize=4096)
def _context_tokens(context: str) -> list[str]:
    """A context line's tokens (the passages of one document share it; callers must not modify it)."""
    return tokens(context)


_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+|\n+")


def sentences(text: str) -> list[str]:
    """A passage's sentences, split after . ! ? ; : and at line breaks (empty pieces dropped).

    Example: sentences("Se fundó en 1831. Tiene 3 sedes; la mayor en La Paz.") ->
    ["Se fundó en 1831.", "Tiene 3 sedes;", "la mayor en La Paz."]
    """
    return [s for s in (piece.strip() for piece in _SENTENCE_END.split(text)) if s]


def sentence_units(text: str) -> list[tuple[frozenset[str], str]]:
    """Each sentence of a passage as (its stems, its content words marked "#word#" and joined by spaces).

    A question's n-gram is in a sentence when it is a substring of the second (as in ``gram_counts``).
    The stemmer is chosen once, from the whole passage: one sentence is too short to tell its language.
    """
    return word_sentence_units(passage_words(text))


def word_sentence_units(words: str) -> list[tuple[frozenset[str], str]]:
    """``sentence_units`` of a passage given as its stored ``passage_words``: this runs for the best
    candidate passages of every question, so nothing here folds or tokenizes text."""
    lines = [line.split() for line in words.split("\n")]
    lang = guess_language([w for line in lines for w in line]) or "es"
    stop = SPANISH_STOP if lang == "es" else ENGLISH_STOP
    stemmer = _stemmer(lang)
    return [(frozenset(stemmer.stemWords(list(filterfalse(stop.__contains__, line)))), _marked(_content(line)))
            for line in lines]


def passage_words(text: str) -> str:
    """A passage's folded word tokens (stop words kept), one sentence a line, separated by spaces.

    Stored with each passage (``chunks.words``) when it is written, so that the steps that read the
    passages a question's retrievers propose (4-gram BM25, best sentence) never fold or tokenize text:
    that was two thirds of their time (~13 ms of ~20 a question). ``tokens(text)`` is
    ``passage_words(text).split()``: a token never holds white space, so no sentence cuts one.

    Example: passage_words("Se fundó en 1831. Tiene 3 sedes.") -> "se fundo en 1831\ntiene 3 sedes"
    """
    return "\n".join(" ".join(_WORD.findall(s)) for s in sentences(fold(text)))


def passage_terms(text: str, context: str) -> tuple[str, str]:
    """A passage's index terms as the lexical index stores them: (its text's, its context line's),
    each space-joined, each analysed in its own language."""
    return " ".join(analyze(text)), " ".join(analyze(context))


# Bump when the analysis changes in a way ``analysis_fingerprint`` cannot see (the code of ``fold``,
# ``tokens``, ``guess_language``, ``char_grams``): every catalog then re-derives its terms on open.
ANALYSIS_REVISION = 1


@lru_cache(maxsize=1)
def analysis_fingerprint() -> str:
    """What the index terms of a passage depend on, as a short digest: stored in every catalog, and a
    catalog made with another analysis re-derives its terms and n-gram statistics when it is opened."""
    parts = (ANALYSIS_REVISION, GRAM, _WORD.pattern, sorted(SPANISH_STOP), sorted(ENGLISH_STOP),
             sorted(_ES_MARKS), sorted(_EN_MARKS), Stemmer.version())
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


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
