"""Supporting words of a passage: accent-folded, stemmed overlap with the answer and the question."""

from __future__ import annotations

from rag.answer.highlight import support_spans


def marked(text: str, *evidence: str) -> list[str]:
    return [text[a:b] for a, b in support_spans(text, list(evidence))]


def test_question_words_in_any_form_and_accent() -> None:
    text = "La NOTA MINIMA de aprobación en pregrado es 51 (cincuenta y uno) puntos."
    assert marked(text, "¿Cuál es la nota mínima para aprobar?") == ["NOTA MINIMA de aprobación"]


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


def test_only_the_sentences_that_support_are_marked() -> None:
    text = ("La nota final de cada asignatura se compone de dos partes. El estudiante de pregrado que obtenga "
            "una nota final entre 36 y 50 puntos tiene derecho a un examen de segunda instancia.")
    answer = "El estudiante de pregrado que obtenga una nota final entre 36 y 50 puntos tiene derecho a un examen."
    spans = marked(text, "¿Quién puede rendir el examen de segunda instancia?", answer)
    assert spans[0].startswith("estudiante de pregrado") and "nota final entre 36 y 50 puntos" in spans[0]
    assert all(text.index(s) > text.index("El estudiante") for s in spans)


def test_citation_markers_are_not_evidence() -> None:
    assert marked("Papel A4, interlineado 1.5; la tesis no supera 120 páginas.", "No supera 120 páginas [1].") == [
        "supera 120 páginas"]
