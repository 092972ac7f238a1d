"""The extractive answerer: scoring, sentence choice, abstention."""

from __future__ import annotations

import pytest

from rag.extractive import best_sentences, extractive_answer, relevance, split_sentences, stem, terms
from tests.answer_helpers import REGLAMENTO, hit


@pytest.mark.parametrize(
    ("words", "same"),
    [
        (["aprobación", "aprobar", "aprobado"], True),
        (["nota", "notas"], True),
        (["mínima", "mínimo", "minimum"], True),
        (["passing", "passed", "pass"], True),
        (["grade", "grades"], True),
        (["nota", "semestre"], False),
    ],
)
def test_stem_conflates_inflections_in_both_languages(words: list[str], same: bool) -> None:
    assert (len({stem(w) for w in words}) == 1) is same


def test_terms_drop_stop_words_and_fold_accents() -> None:
    assert terms("¿Cuál es la nota mínima de aprobación?") == {"not", "minim", "aprob"}


def test_split_sentences_drops_fragments() -> None:
    assert split_sentences("Artículo 12. La nota mínima es 5,0 sobre 10. Fin.") == [
        "La nota mínima es 5,0 sobre 10."
    ]


def test_best_sentence_answers_the_question() -> None:
    (best,) = best_sentences("¿Cuál es la nota mínima de aprobación en posgrado?", REGLAMENTO, limit=1)
    assert best.n == 2 and "7,0" in best.text
    assert best.score > 0.6  # "calificación", not "nota": three of four terms


def test_relevance_is_low_for_questions_the_passages_do_not_cover() -> None:
    assert relevance("¿Quién ganó el mundial de fútbol de 1986?", REGLAMENTO) < 0.2
    assert relevance("¿Cuándo comienza el semestre de otoño?", REGLAMENTO) > 0.6
    assert relevance("¿Cuándo comienza el semestre?", []) == 0.0


def test_extractive_answer_cites_each_sentence() -> None:
    answer = extractive_answer("¿Cuándo comienza el semestre de otoño?", REGLAMENTO)
    assert answer.mode == "extractive" and answer.model is None
    assert "1 de septiembre" in answer.answer and answer.answer.endswith("[3]")
    assert [c.n for c in answer.citations] == [3]
    assert answer.citations[0].source == "calendario.pdf"
    assert answer.supported and not answer.abstained


@pytest.mark.parametrize(
    ("question", "sentence"),
    [
        ("¿Quién ganó el mundial de fútbol?", "No encontré esa información en los documentos."),
        ("Who won the football world cup?", "I could not find that in the documents."),
    ],
)
def test_extractive_abstains_in_the_question_language(question: str, sentence: str) -> None:
    answer = extractive_answer(question, REGLAMENTO)
    assert answer.abstained and not answer.supported
    assert answer.answer == sentence and answer.citations == []


def test_overlapping_chunks_do_not_repeat_sentences() -> None:
    twice = [*REGLAMENTO[:1], hit(2, "reglamento.pdf", 3, REGLAMENTO[0].text)]
    answer = extractive_answer("¿Cuál es la nota mínima de aprobación?", twice)
    assert answer.answer.count("La nota mínima") == 1
