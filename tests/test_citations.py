"""Citation markers: parsing, validation against shown passages, streaming filter."""

from __future__ import annotations

import random

import pytest

from rag.answer.citations import MarkerFilter, check_citations, clean_markers, marker_numbers
from rag.answer.prompts import Passage
from tests.answer_helpers import REGLAMENTO

PASSAGES = [Passage(n, h, h.text) for n, h in enumerate(REGLAMENTO, start=1)]  # numbers 1..3


@pytest.mark.parametrize(
    ("body", "numbers"),
    [
        ("1", [1]),
        ("1, 2", [1, 2]),
        ("1;3", [1, 3]),
        ("1-3", [1, 2, 3]),
        ("3–1", [1, 2, 3]),
        ("2-999", [2, 3, 4]),
    ],
)
def test_marker_numbers(body: str, numbers: list[int]) -> None:
    assert marker_numbers(body, limit=3) == numbers


@pytest.mark.parametrize(
    ("answer", "cleaned", "cited"),
    [
        ("La nota es 5 [1].", "La nota es 5 [1].", [1]),
        ("Es 5 [1, 2].", "Es 5 [1, 2].", [1, 2]),
        ("Es 5 [1][2].", "Es 5 [1][2].", [1, 2]),
        ("Es 5 [1-3].", "Es 5 [1-3].", [1, 2, 3]),
        ("Es 5 [9].", "Es 5.", []),
        ("Es 5 [1][9] y 7 [2, 9].", "Es 5 [1] y 7 [2].", [1, 2]),
        ("Es 5 [2-5].", "Es 5 [2, 3].", [2, 3]),
        ("[0] Es 5.", "Es 5.", []),
        ("Desde [2019] es 5 [3].", "Desde [2019] es 5 [3].", [3]),  # a year is not a citation
    ],
)
def test_check_citations(answer: str, cleaned: str, cited: list[int]) -> None:
    checked = check_citations(answer, PASSAGES)
    assert checked.text == cleaned
    assert [c.n for c in checked.citations] == cited
    assert checked.supported is bool(cited)


def test_citations_map_to_source_page_and_text() -> None:
    (citation,) = check_citations("Es 7 [2].", PASSAGES).citations
    assert (citation.source, citation.page, citation.chunk_id) == ("posgrado.pdf", 7, "posgrado.pdf:2")
    assert citation.text.startswith("En los programas de posgrado")


def test_citations_can_only_name_passages_that_were_shown() -> None:
    shown = PASSAGES[:1]  # passage 2 was retrieved but trimmed out of the prompt
    checked = check_citations("Es 7 [2] y 5 [1].", shown)
    assert [c.n for c in checked.citations] == [1]
    assert checked.text == "Es 7 y 5 [1]."


def test_no_passages_means_no_citations() -> None:
    checked = check_citations("Es 5 [1].", [])
    assert checked.text == "Es 5." and not checked.supported


def test_marker_filter_matches_the_batch_result_for_any_token_split() -> None:
    answer = "La nota es 5 [1][9] y en posgrado 7 [2, 9]; ver [1-3] y [12] o [ 3 ]. Fin [2"
    rng = random.Random(7)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(answer)), rng.randint(1, 25)))
        tokens = [answer[i:j] for i, j in zip([0, *cuts], [*cuts, len(answer)], strict=True)]
        stream = MarkerFilter({1, 2, 3})
        shown = "".join(stream.feed(t) for t in tokens) + stream.flush()
        assert shown == clean_markers(answer, {1, 2, 3})


def test_marker_filter_holds_only_unfinished_markers() -> None:
    stream = MarkerFilter({1})
    assert stream.feed("Es 5 [") == "Es 5"
    assert stream.feed("9]. Y") == ". Y"
    assert stream.feed(" [1") == ""
    assert stream.feed("]") + stream.flush() == " [1]"
