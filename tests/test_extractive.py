"""The extractive answerer: scoring, sentence choice, abstention."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from rag.answer.extractive import (
    CALIBRATION,
    best_sentences,
    decide,
    extractive_answer,
    relevance,
    split_sentences,
    years,
)
from rag.answer.units import page_units
from rag.text import content_terms, light_stem
from rag.types import Hit
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
    assert (len({light_stem(w) for w in words}) == 1) is same


def test_terms_drop_stop_words_and_fold_accents() -> None:
    assert content_terms("¿Cuál es la nota mínima de aprobación?") == {"not", "minim", "aprob"}


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


# -- the three tiers ---------------------------------------------------------------------------------

CALENDAR_PAGE = """CALENDARIO ACADÉMICO 2025-2026
Fechas del curso para los estudios de grado y máster de la universidad, aprobadas por el Consejo de Gobierno
en su sesión ordinaria y publicadas en el boletín oficial para conocimiento de toda la comunidad.
INICIO DE CLASES . . . . . . . . . . 12-01-2026
FIN DE CLASES . . . . . . . . . . . . 29-05-2026
EXÁMENES FINALES . . . . . . . . . 01-06-2026 al 19-06-2026
Las fechas de los exámenes de recuperación se publicarán en el tablón de cada escuela con antelación."""


def signalled(rank: int, source: str, page: int, text: str, similarity: float, sha: str = "") -> Hit:
    """A hit as retrieval hands it over: with its e5 cosine and the document it comes from."""
    return replace(hit(rank, source, page, text), similarity=similarity, doc_sha=sha or f"sha-{source}")


def one_line(page: str) -> str:
    """A page's text as a stored passage holds it: one line."""
    return " ".join(page.split())


def calendar_hits(first: float = 0.91, second: float = 0.88) -> list[Hit]:
    return [signalled(1, "calendario.pdf", 2, one_line(CALENDAR_PAGE), first),
            signalled(2, "reglamento.pdf", 3, REGLAMENTO[0].text, second)]


def pages_of(*hits: Hit) -> Any:
    texts = {("sha-calendario.pdf", 2): CALENDAR_PAGE}
    return lambda sha, page: texts.get((sha, page))


def test_a_calendar_row_answers_a_question_in_other_words() -> None:
    hits = calendar_hits()
    decision = decide("¿Qué día arrancan las clases del curso 2025-2026?", hits, pages=pages_of(*hits))
    assert decision.tier == "answer"
    assert decision.units[0].text == "INICIO DE CLASES … 12-01-2026" and decision.units[0].n == 1


def test_table_rows_are_units_of_their_own() -> None:
    units = page_units(CALENDAR_PAGE)
    assert "FIN DE CLASES … 29-05-2026" in units and "EXÁMENES FINALES … 01-06-2026 al 19-06-2026" in units
    assert any(u.startswith("Fechas del curso") and u.endswith("comunidad.") for u in units)  # wrapped prose


def test_passages_that_lose_the_agreement_are_the_middle_tier_labelled_as_such() -> None:
    hits = calendar_hits(first=0.90, second=0.93)  # e5 prefers another passage than retrieval's first
    answer = extractive_answer("¿Cuándo arrancan las clases del curso 2025-2026?", hits, pages=pages_of(*hits))
    assert answer.tier == "passages" and not answer.abstained and answer.supported
    assert answer.answer.startswith("Pasajes que pueden contener la respuesta:\n- ")
    assert "[1]" in answer.answer and {c.n for c in answer.citations} >= {1}
    assert answer.to_json()["tier"] == "passages"


def test_an_absent_answer_is_not_found() -> None:
    hits = calendar_hits(first=0.83, second=0.82)  # nothing retrieved is about the question
    answer = extractive_answer("¿Cuánto cuesta el aparcamiento del campus?", hits, pages=pages_of(*hits))
    assert answer.tier == "not_found" and answer.abstained
    assert answer.answer == "No encontré esa información en los documentos." and answer.citations == []


def test_a_year_no_passage_names_is_not_found() -> None:
    hits = calendar_hits()
    assert decide("¿Qué día empiezan las clases del curso 2027-2028?", hits, pages=pages_of(*hits)).tier == "not_found"
    assert years("el curso 2024-25 y el 2023/24") == {"2023", "2024", "2025"}
    assert years("upv calendario 2024 25 — Inicio de curso") == {"2024", "2025"}  # a file name's "2024_25"


@pytest.mark.parametrize("question", [
    "¿Cuánto cuesta cada crédito en primera matrícula?", "¿Cuánto cobra al mes un profesor ayudante?",
    "¿Cuál es el importe de la tasa de expedición del título?", "How much does a credit cost?",
    "What is the fee for a second enrolment?", "¿Cuántos bolivianos se pagan por la matrícula?"])
def test_a_sum_no_passage_states_is_not_found(question: str) -> None:
    """A question after an amount of money is not answered from passages that state none: the dates and
    conditions they hold are no price (regulations_es: two of its unanswerable questions)."""
    hits = calendar_hits(first=0.93, second=0.92)
    assert decide(question, hits, pages=pages_of(*hits)).tier == "not_found"
    priced = [signalled(1, "tasas.pdf", 4, "La expedición del título de grado tiene un precio de 167,53 euros. "
                        "Cada crédito en primera matrícula cuesta 12,50 €; en Bolivia, Bs. 150 por asignatura.",
                        0.93)]
    assert decide(question, priced).tier != "not_found"


@pytest.mark.parametrize("question", [
    "¿Cuánto tiempo tengo para el pago de la matrícula?", "¿Quién fija el precio de los créditos?",
    "¿Cuándo hay que pagar la matrícula?", "How much time do I have to appeal?"])
def test_questions_that_only_mention_money_keep_their_passages(question: str) -> None:
    hits = calendar_hits(first=0.93, second=0.92)
    assert decide(question, hits, pages=pages_of(*hits)).tier != "not_found"


def test_an_english_question_gets_the_spanish_sentence_cited(embedder: Any) -> None:
    spanish = [signalled(1, "tfg.pdf", 16, "La defensa del TFG se realizará en sesión pública. La duración máxima "
                        "del acto de defensa, incluidas las preguntas del tribunal, será de 45 minutos. El "
                        "tribunal deliberará a puerta cerrada.", 0.845),
               signalled(2, "becas.pdf", 9, "La cuantía fija ligada a la residencia será de 2.700 euros durante "
                         "el curso académico.", 0.831)]
    answer = extractive_answer("What is the maximum length of a thesis defence, including the questions?", spanish,
                               encoder=embedder)
    assert answer.tier == "answer" and answer.citations[0].source == "tfg.pdf"
    assert "45 minutos" in answer.answer and answer.answer.endswith("[1]")


def test_without_e5_signals_the_lexical_share_decides() -> None:
    assert decide("¿Cuándo comienza el semestre de otoño?", REGLAMENTO).tier == "answer"
    assert decide("¿Quién ganó el mundial de fútbol?", REGLAMENTO).tier == "not_found"
    assert relevance("¿Cuándo comienza el semestre de otoño?", REGLAMENTO) >= CALIBRATION.lexical_answer
