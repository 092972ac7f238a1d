"""Index terms: accent folding, stop words, Spanish and English stemming, the language guess."""

from __future__ import annotations

from rag.text import ENGLISH_STOP, SPANISH_STOP, analyze, analyze_query, guess_language, tokens


def test_accents_fold_but_enie_stays_apart():
    assert tokens("Información ÚNICA, año") == ["informacion", "unica", "año"]
    assert analyze("evaluación") == analyze("evaluacion") == analyze("EVALUACIÓN")
    assert analyze("año") != analyze("ano")  # 'year' and 'anus' are different words


def test_spanish_stemming_joins_inflections():
    assert analyze("Las evaluaciones finales") == analyze("la evaluación final")
    assert analyze("los estudiantes aprobados", "es") == analyze("el estudiante aprobado", "es")


def test_english_stemming_joins_inflections():
    assert analyze("The regulations were applied") == analyze("the regulation applies")


def test_stop_words_are_dropped():
    assert analyze("¿Cuál es la nota mínima de aprobación?") == ["not", "minim", "aprob"]
    assert analyze("What is the minimum passing grade?") == ["minimum", "pass", "grade"]
    assert {"de", "la", "que", "para"} <= SPANISH_STOP and {"the", "of", "which"} <= ENGLISH_STOP


def test_numbers_and_decimals_are_terms():
    assert analyze("Artículo 5: 3,5 puntos en 2026") == ["articul", "5", "3,5", "punt", "2026"]


def test_language_guess():
    assert guess_language(tokens("¿Cuál es la fecha de la matrícula para los estudiantes?")) == "es"
    assert guess_language(tokens("What is the deadline for the thesis of a student?")) == "en"
    assert guess_language(tokens("Universidad")) is None  # too little evidence


def test_unclear_question_gets_both_languages_stems():
    terms = analyze_query("evaluación")
    assert "evalu" in terms and "evaluacion" in terms  # Spanish and English stemmers disagree here
    assert analyze_query("la nota, la nota mínima") == ["not", "minim"]  # Spanish: distinct, in order
