"""Index terms: accent folding, stop words, Spanish and English stemming, the language guess."""

from __future__ import annotations

from rag.analysis import (
    ENGLISH_STOP,
    SPANISH_STOP,
    analyze,
    analyze_query,
    char_grams,
    gram_counts,
    guess_language,
    passage_grams,
    passage_words,
    query_grams,
    sentence_units,
    sentences,
    tokens,
    word_gram_counts,
    word_sentence_units,
)


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


def test_character_grams_mark_word_ends_and_skip_stop_words():
    assert char_grams("la Ciudadanía") == ["#ciu", "ciud", "iuda", "udad", "dada", "adan", "dani", "ania", "nia#"]
    assert char_grams("de 15 a") == ["#15#"]  # short words are one gram; stop words none
    assert query_grams("Kan, kan") == ["#kan", "kan#"]  # distinct


def test_character_grams_join_what_stems_keep_apart():
    """Spelling variants of one name and derived forms share grams, not stems."""
    for a, b, least in (("Genghis Khan", "Gengis Kan", 2), ("ciudadanía", "ciudadano", 6)):
        assert not set(analyze(a)) & set(analyze(b))
        assert len(set(char_grams(a)) & set(char_grams(b))) >= least, (a, b)


def test_sentences_split_after_end_marks_and_line_breaks():
    assert sentences("Se fundó en 1831. Tiene 3 sedes; la mayor en La Paz.") == [
        "Se fundó en 1831.", "Tiene 3 sedes;", "la mayor en La Paz."]
    assert sentences("Art. 5\nLa nota  mínima es 51?  Sí! ") == ["Art.", "5", "La nota  mínima es 51?", "Sí!"]
    assert sentences("  ") == [] and sentences("sin punto final") == ["sin punto final"]


def test_sentence_units_stem_every_sentence_in_the_passage_language():
    """A short sentence says nothing of its language: the passage's is used for all of them."""
    passage = "The committee has three members. Evaluaciones."
    (first_stems, first_marked), (second_stems, _) = sentence_units(passage)
    assert first_stems == set(analyze("The committee has three members.", "en"))
    assert second_stems == set(analyze("Evaluaciones.", "en"))  # English stemming, as the passage
    assert first_marked == "#committee# #three# #members#"
    assert all(g in first_marked for g in char_grams("The committee has three members."))


def test_passage_words_are_the_tokens_a_sentence_a_line():
    """What the catalog stores per passage: read at query time instead of folding and tokenizing."""
    text = "La Señora Pérez fundó la U.M.S.A. en 1.830,5 años.\nTiene 3 sedes; la mayor en La Paz! Fin"
    words = passage_words(text)
    assert words == "la señora perez fundo la u m s a\nen 1.830,5 años\ntiene 3 sedes\nla mayor en la paz\nfin"
    assert words.split() == tokens(text)
    assert [line.split() for line in words.split("\n")] == [tokens(s) for s in sentences(text)]
    assert word_sentence_units(words) == sentence_units(text)
    grams = ["#paz", "sede", "#ñ"]
    assert word_gram_counts(words, "Reglamento", grams) == gram_counts(text, "Reglamento", grams)
    assert passage_words("") == "" and word_sentence_units("") == [(frozenset(), "")]


def test_gram_counts_are_those_of_the_passages_own_grams():
    """Counted without building the passage's n-gram list: the same as counting that list, for
    single letters, stop words of either language and the context line too."""
    from collections import Counter

    text = "La U.M.S.A. y la UCB: a b 1 22 333 ciudadanía, ciudadano; él es de Cochabamba. The end of it."
    context = "Reglamento — Título I"
    listed = Counter(passage_grams(text, context))
    grams = list(dict.fromkeys(passage_grams(text, context))) + ["#zz#", "xyzw"]
    counts, length = gram_counts(text, context, grams)
    assert counts == {g: listed[g] for g in grams}
    assert length == sum(listed.values())
