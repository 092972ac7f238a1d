"""Format-neutral pieces of the office readers: a text budget against amplification bombs, table rows
that read alone, and a spreadsheet's rows in blocks of about one passage."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence

from rag.errors import LoadError

MAX_TEXT_CHARS = 20_000_000  # more text than a 10,000-page book: an amplification bomb, not a document
ROW_BLOCK_CHARS = 700  # a block of spreadsheet rows: about one passage


class Budget:
    """Counts the characters produced; refuses past MAX_TEXT_CHARS (shared-strings amplification)."""

    def __init__(self) -> None:
        self.used = 0

    def take(self, text: str) -> str:
        self.used += len(text)
        if self.used > MAX_TEXT_CHARS:
            raise LoadError(f"too large: over {MAX_TEXT_CHARS // 1_000_000} million characters of text "
                            "(an amplification bomb?)")
        return text


def table_rows(rows: Sequence[Sequence[str]]) -> list[str]:
    """Rows as lines that stand alone: 'Nombre: Ana | Nota: 7' under a header row, else 'a | b | c'."""
    rows = [list(r) for r in rows if any(c.strip() for c in r)]
    if not rows:
        return []
    header = rows[0]
    labelled = len(rows) > 1 and sum(1 for c in header if c.strip()) >= 2
    lines = [" | ".join(c for c in header if c.strip())]
    for row in rows[1:]:
        cells = []
        for i, cell in enumerate(row):
            if not cell.strip():
                continue
            name = header[i].strip() if labelled and i < len(header) else ""
            cells.append(f"{name}: {cell}" if name and name != cell else cell)
        lines.append(" | ".join(cells))
    return lines


def row_blocks(rows: Iterable[tuple[int, Sequence[str]]], budget: Budget) -> Iterator[tuple[int, int, list[str]]]:
    """(first row, last row, lines) blocks of about ROW_BLOCK_CHARS; rows carry the sheet's header."""
    header: list[str] = []
    block: list[str] = []
    first = last = 0
    size = 0
    for number, values in rows:  # (row number as the spreadsheet shows it, cell texts)
        cells = list(values)
        if not any(cells):
            continue
        budget.take("".join(cells))
        if not header and sum(1 for c in cells if c) >= 2 and all(not c or not _is_number(c) for c in cells):
            header = cells
            line = " | ".join(c for c in cells if c)
        else:
            line = " | ".join(
                f"{header[i]}: {c}" if i < len(header) and header[i] and header[i] != c else c
                for i, c in enumerate(cells) if c)
        if block and size + len(line) > ROW_BLOCK_CHARS:
            yield first, last, block
            block, size = [], 0
        if not block:
            first = number
        block.append(line)
        size += len(line)
        last = number
    if block:
        yield first, last, block


def _is_number(text: str) -> bool:
    return bool(re.fullmatch(r"[-+]?[\d.,]+%?", text))
