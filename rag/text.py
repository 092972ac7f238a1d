"""Text clean-up shared by every loader and the chunker.

Example: normalize_page("Regla\u00adment\nde evalu-\naci\u00f3n  \ufb01nal") -> "Reglament\nde evaluación final"
"""

from __future__ import annotations

import re
import unicodedata

_SOFT_HYPHEN = "\u00ad"
# A word broken at a line end: "evalu-\nación" -> "evaluación". Both sides must be lower-case letters so
# that "Inter-\nAmerican" and list dashes survive.
_HYPHEN_BREAK = re.compile(r"(\w*[a-záéíóúüñàèìòùâêîôûç])[-\u2010\u2011]\n[ \t]*([a-záéíóúüñàèìòùâêîôûç]\w*)")
_SPACES = re.compile(r"[ \t\f\v\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f\ufffe\uffff]")
_BLANK_LINES = re.compile(r"\n{3,}")


def normalize_page(text: str) -> str:
    """NFKC (ligatures -> letters), rejoin hyphenated line ends, collapse spaces; keep line breaks."""
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace(_SOFT_HYPHEN, "")
    text = text.replace("\ufeff", "").replace("\u200b", "")
    text = _CONTROL.sub(" ", text)
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    text = _HYPHEN_BREAK.sub(r"\1\2", text)
    text = _BLANK_LINES.sub("\n\n", text)
    return text.strip()


def collapse(text: str) -> str:
    """One line, single spaces: how a passage is stored and shown."""
    return " ".join(text.split())


def fold(text: str) -> str:
    """Lower-case and strip accents: 'Información' -> 'informacion' (ñ is kept apart from n)."""
    text = unicodedata.normalize("NFKD", text.lower())
    out: list[str] = []
    for ch in text:
        if unicodedata.combining(ch):
            # keep the tilde of ñ: 'año' and 'ano' are different words in Spanish
            if ch == "\u0303" and out and out[-1] == "n":
                out[-1] = "ñ"
            continue
        out.append(ch)
    return "".join(out)
