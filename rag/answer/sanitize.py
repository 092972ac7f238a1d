"""Keep model output inert on a terminal: ANSI/OSC escape sequences and control characters are removed.

Example: strip_control("ok\x1b[31m rojo\x1b]0;title\x07\r") -> "ok rojo"
"""

from __future__ import annotations

import re

# CSI (ESC [ ... final), OSC (ESC ] ... BEL or ESC \), other two-byte escapes, and the 8-bit C1 forms.
_ESCAPE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"
    r"|\x1b[@-Z\\-_]"
    r"|\x9b[0-?]*[ -/]*[@-~]"
)
# Everything below space except tab and newline, DEL, C1 controls, and bidi overrides that can make a
# terminal line read differently from its bytes.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# An escape sequence that may still be completed by the next token.
_UNFINISHED = re.compile(r"(?:\x1b(?:\[[0-?]*[ -/]*|\][^\x07\x1b]*\x1b?)?|\x9b[0-?]*[ -/]*)$")


def strip_control(text: str) -> str:
    """``text`` without escape sequences or control characters (tab and newline kept)."""
    return _CONTROL.sub("", _ESCAPE.sub("", text))


class ControlStripper:
    """strip_control for a token stream: an escape split across tokens is held until it is complete."""

    def __init__(self) -> None:
        self._pending = ""

    def feed(self, token: str) -> str:
        """Take the next token; return its clean, complete part."""
        text = self._pending + token
        match = _UNFINISHED.search(text)
        cut = match.start() if match and match.group(0) else len(text)
        if len(text) - cut > 256:  # not an escape anyone finishes; stop holding
            cut = len(text)
        self._pending = text[cut:]
        return strip_control(text[:cut])

    def flush(self) -> str:
        """Whatever is held at the end of the stream, cleaned."""
        text, self._pending = self._pending, ""
        return strip_control(text)
