"""The page view's image: drawn from the original, the cited passage marked where it can be found."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from ingest.render import Box
from tests.helpers import make_pdf
from ui.page_image import draw_page, drawable, phrases, word_boxes


def test_phrases_keep_a_short_tail_with_the_run_before() -> None:
    assert phrases("a b c d e f g", 3) == ["a b c", "d e f g"]
    assert phrases("uno dos", 5) == ["uno dos"]


def test_recognised_words_are_marked_where_they_run_in_the_passage_order() -> None:
    words = [(w, Box(i * 10, 0, i * 10 + 8, 8)) for i, w in enumerate(
        "El plazo es de diez días. Después, el plazo vence".split())]
    marked = word_boxes(words, "el plazo es de diez dias")  # case and accents do not matter
    assert [b.left for b in marked] == [0, 10, 20, 30, 40, 50]  # "El plazo es de diez días.", not the later "el plazo"


def test_a_born_digital_page_is_drawn_with_the_passage_marked() -> None:
    data = make_pdf(["Primera pagina.", "La nota minima de aprobacion es de 51 puntos sobre 100."])
    assert drawable(data) and not drawable(b"just text")
    drawn = draw_page(data, 2, "La nota minima de aprobacion es de 51 puntos", ocr=False, langs="spa+eng")
    assert drawn.marked
    image = Image.open(io.BytesIO(drawn.png))
    assert image.format == "PNG" and image.width <= 1100
    colours = image.convert("RGB").getcolors(maxcolors=1 << 20) or []
    assert any(r > 200 and g > 150 and b < 120 for _, (r, g, b) in colours)  # the yellow mark is there
    unmarked = draw_page(data, 1, "nada de esto está en la página", ocr=False, langs="spa+eng")
    assert not unmarked.marked


def test_a_page_that_is_not_there_is_an_error_the_view_catches() -> None:
    from rag.errors import LoadError

    with pytest.raises(LoadError):
        draw_page(make_pdf(["Una sola página."]), 3, "x", ocr=False, langs="spa+eng")
