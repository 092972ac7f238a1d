"""Progress for the terminal: a bar with files, passages and an ETA on a TTY, plain lines otherwise."""

from __future__ import annotations

import sys
from typing import Any, TextIO

_PAGES_FORMAT = "{desc}: {bar}| {n_fmt}/{total_fmt} pages [{elapsed}<{remaining}]"


class LineProgress:
    """One line per file: for logs and pipes."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.total = 0
        self.done = 0

    def start(self, files: int) -> None:
        self.total = files
        self.message(f"ingesting {files} file(s)")

    def file_done(self, name: str, status: str, chunks: int = 0, reason: str = "") -> None:
        self.done += 1
        detail = f": {reason}" if reason else (f" ({chunks} passages)" if chunks else "")
        self.message(f"[{self.done}/{self.total}] {status} {name}{detail}")

    def chunks(self, done: int) -> None:
        pass

    def ocr_pages(self, name: str, done: int, total: int) -> None:
        self.message(f"  OCR {name}: page {done}/{total}")

    def message(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def close(self) -> None:
        pass


class BarProgress:
    """A tqdm bar over files, with the passages embedded so far in its postfix."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.bar: Any = None
        self.pages_bar: Any = None
        self.ocr: dict[str, tuple[int, int]] = {}
        self.passages = 0
        self.failed = 0

    def start(self, files: int) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=files, unit="file", file=self.stream, dynamic_ncols=True,
                        bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} files [{elapsed}<{remaining}] {postfix}")

    def file_done(self, name: str, status: str, chunks: int = 0, reason: str = "") -> None:
        if status == "failed":
            self.failed += 1
            self.message(f"failed {name}: {reason}")
        if self.bar is not None and status != "removed":
            self.bar.update(1)
            self._postfix()

    def chunks(self, done: int) -> None:
        self.passages = done
        self._postfix()

    def ocr_pages(self, name: str, done: int, total: int) -> None:
        """A second bar, in pages, while scans are being recognised."""
        from tqdm import tqdm

        self.ocr[name] = (done, total)
        pages_done = sum(d for d, _ in self.ocr.values())
        if self.pages_bar is None:
            self.pages_bar = tqdm(total=total, unit="page", file=self.stream, dynamic_ncols=True, position=1,
                                  desc="OCR", bar_format=_PAGES_FORMAT)
        self.pages_bar.total = max(self.pages_bar.total, sum(t for _, t in self.ocr.values()))
        self.pages_bar.update(pages_done - self.pages_bar.n)

    def _postfix(self) -> None:
        if self.bar is not None:
            extra = f", {self.failed} failed" if self.failed else ""
            self.bar.set_postfix_str(f"{self.passages} passages{extra}", refresh=True)

    def message(self, text: str) -> None:
        if self.bar is not None:
            self.bar.write(text, file=self.stream)
        else:
            print(text, file=self.stream, flush=True)

    def close(self) -> None:
        if self.pages_bar is not None:
            self.pages_bar.close()
            self.pages_bar = None
        if self.bar is not None:
            self.bar.close()
            self.bar = None
