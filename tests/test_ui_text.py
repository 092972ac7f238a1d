"""The web page's text handling without a browser: escaping untrusted text, answer markers, strings."""

from __future__ import annotations

import re
import string

import pytest

from ui.components import answer_markdown, highlighted_html, md_escape, md_with_code
from ui.i18n import STRINGS, Translator


@pytest.mark.parametrize("hostile", [
    "![x](http://example.com/x.png)",
    "[aquí](http://example.com)",
    "<img src=x onerror=alert(1)>",
    ":red[rojo] :material/home: $x^2$",
    "# Título\n> cita\n    código\n| a | b |",
])
def test_markdown_escape_leaves_no_live_syntax(hostile: str) -> None:
    escaped = md_escape(hostile)
    unescaped = re.sub(r"\\.", "", escaped)  # drop every escaped character: no punctuation may be left live
    assert not set(unescaped) & set(string.punctuation)
    assert "\n    " not in escaped  # no indented code block


def test_answer_markers_become_badges_and_the_rest_stays_text() -> None:
    md = answer_markdown("La nota es **51** [1] y en posgrado 71 [1, 2].\n- ver ![x](http://e/x.png) [3]")
    assert md == ("La nota es **51** :blue-badge[1] y en posgrado 71 :blue-badge[1] :blue-badge[2]\\.  \n"
                  "- ver \\!\\[x\\]\\(http\\:\\/\\/e\\/x\\.png\\) :blue-badge[3]")
    assert answer_markdown("Año [2019].") == "Año \\[2019\\]\\."  # a year is not a citation
    assert answer_markdown("Hola", cursor=True).endswith(" ▌")


def test_notices_keep_their_commands_as_code() -> None:
    assert md_with_code("Inicie `ollama serve` (o *no*).") == "Inicie `ollama serve` \\(o \\*no\\*\\)\\."


def test_passage_html_is_escaped_then_marked() -> None:
    html = highlighted_html("<script>x</script> La nota mínima es 51.", ["¿nota mínima?"])
    assert html.startswith("&lt;script&gt;") and "<mark>nota mínima</mark>" in html and "<script>" not in html


def test_both_languages_have_every_string_with_the_same_fields() -> None:
    assert STRINGS["es"].keys() == STRINGS["en"].keys()
    fields = re.compile(r"{(\w+)")
    for key, text in STRINGS["es"].items():
        assert set(fields.findall(text)) == set(fields.findall(STRINGS["en"][key])), key


@pytest.mark.parametrize(("reason", "spanish"), [
    ("encrypted: pass --password", "protegido con contraseña"),
    ("legacy Word format: save it as .docx", "formato antiguo de Word: guárdelo como .docx"),
    ("too large: expands to over 512 MB (zip bomb?)", "rechazado por seguridad: expands to over 512 MB"),
    ("no text", "el documento no contiene texto"),
    ("wrong password", "la contraseña no es correcta"),
    ("no text layer (scanned image?)", "no tiene texto que indexar"),
    ("damaged: startxref not found", "archivo dañado (startxref not found)"),
    ("too large / took too long (over 60 s)", "más de 60 s"),
    ("larger than the 5 MB limit per file (RAG_MAX_UPLOAD_MB)", "supera el límite de 5 MB"),
    ("something new", "something new"),
])
def test_ingestion_reasons_read_naturally(reason: str, spanish: str) -> None:
    assert spanish in Translator("es").reason(reason, max_upload_mb=5)
