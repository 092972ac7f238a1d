"""Supporting words of a passage: accent-folded, stemmed overlap with the answer and the question."""

from __future__ import annotations

from rag.highlight import support_spans


def marked(text: str, *evidence: str) -> list[str]:
    return [text[a:b] for a, b in support_spans(text, list(evidence))]


def test_question_words_in_any_form_and_accent() -> None:
    text = "La NOTA MINIMA de aprobación en pregrado es 51 (cincuenta y uno) puntos."
    assert marked(text, "¿Cuál es la nota mínima para aprobar?") == ["NOTA MINIMA", "aprobación"]


def test_answer_terms_and_numbers_count_stop_words_do_not() -> None:
    text = "El plazo es de 3 días hábiles desde la publicación de la nota."
    assert marked(text, "Tiene 3 días hábiles [1].") == ["3 días hábiles"]


def test_nothing_to_support_marks_nothing() -> None:
    assert support_spans("Texto cualquiera.", "") == []
    assert support_spans("Texto cualquiera.", "¿y el?") == []


def test_spans_index_the_original_text_even_with_markup_characters() -> None:
    text = "<b>nota</b> & «mínima»"
    spans = support_spans(text, "nota mínima")
    assert [text[a:b] for a, b in spans] == ["nota", "mínima"]
