"""Two models answer the same question from the same passages, side by side.

Retrieval runs once; each model then goes through the answering chain of rag.answer.chain (prompt, stream, citation
check) over those same hits, so each answer comes with its verified citations and supported/abstained flags,
plus its time to first token and tokens per second. Both run at once when Ollama may generate two answers
in parallel (``RAG_OLLAMA_PARALLEL`` >= 2), else one after the other; either side can be cancelled alone.

    comparer = Comparer.from_settings(settings, retriever, ("qwen2.5:7b", "llama3.1:8b"))
    for side, kind, data in comparer.stream("¿Cuál es la nota mínima?"):
        ...  # ("", "hits", list[Hit]) · (side, "start"|"token"|"status", …) · (side, "done", SideResult)
             # · ("", "done", Comparison) last
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from rag.answer.chain import AnswerEvent, Generator, Retriever, build_chain, fallback_notice
from rag.answer.extractive import CALIBRATION, Calibration
from rag.errors import GenerationError, ModelNotFoundError, OllamaUnavailableError, SettingsError
from rag.settings import Settings
from rag.text import detect_language
from rag.types import Answer, Hit

log = logging.getLogger(__name__)

Side = Literal["a", "b"]
SIDES: tuple[Side, Side] = ("a", "b")
Outcome = Literal["ok", "missing", "error", "cancelled"]


class CompareEvent(NamedTuple):
    """One step of a comparison; unpacks as ``side, kind, data`` (side "" for what both share)."""

    side: Literal["a", "b", ""]
    kind: Literal["hits", "start", "status", "token", "done"]
    data: Any


@dataclass
class SideResult:
    """One model's answer and how fast it came."""

    model: str
    outcome: Outcome = "ok"
    answer: Answer | None = None
    error: str = ""  # why there is no answer (missing model: with the `ollama pull` line)
    partial: str = ""  # what a cancelled side had written
    ttft: float | None = None  # seconds from this side's start to its first token
    seconds: float | None = None  # from this side's start to its last token
    tokens: int = 0  # tokens generated, as Ollama counts them (streamed pieces otherwise)
    tokens_per_second: float | None = None

    def to_json(self) -> dict[str, Any]:
        answer = self.answer
        return {
            "model": self.model, "outcome": self.outcome, "error": self.error or None,
            "answer": answer.answer if answer else None, "mode": answer.mode if answer else None,
            "citations": [c.to_json() for c in answer.citations] if answer else [],
            "supported": answer.supported if answer else None, "abstained": answer.abstained if answer else None,
            "notice": answer.notice if answer else None, "partial": self.partial or None,
            "ttft_s": _round(self.ttft), "seconds": _round(self.seconds), "tokens": self.tokens,
            "tokens_per_second": _round(self.tokens_per_second, 1),
        }


@dataclass
class Comparison:
    """Both sides' results over one retrieval; ``extractive`` only when no model could answer."""

    question: str
    hits: list[Hit]
    a: SideResult
    b: SideResult
    concurrent: bool
    extractive: Answer | None = None
    notice: str | None = None

    def side(self, side: Side) -> SideResult:
        return self.a if side == "a" else self.b

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "question": self.question, "concurrent": self.concurrent,
            "hits": [h.to_json() for h in self.hits], "answers": [self.a.to_json(), self.b.to_json()],
        }
        if self.extractive is not None:
            out["extractive"] = self.extractive.to_json()
        if self.notice:
            out["notice"] = self.notice
        return out


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


@dataclass
class _FixedRetriever:
    """The passages already retrieved, handed to each model's chain so retrieval runs once."""

    hits: list[Hit]
    source: Retriever  # the real one: the extractive answer reads its pages and its embedder

    def retrieve(self, question: str, k: int) -> list[Hit]:
        return list(self.hits)

    def page_text(self, doc_sha: str, page: int) -> str | None:
        read = getattr(self.source, "page_text", None)
        return read(doc_sha, page) if read is not None else None


def parse_pair(text: str) -> tuple[str, str]:
    """'qwen2.5:7b,llama3.1:8b' -> ('qwen2.5:7b', 'llama3.1:8b'); two different names or SettingsError."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if len(names) != 2 or names[0] == names[1]:
        raise SettingsError(f"--compare needs two different models, e.g. --compare qwen2.5:7b,llama3.1:8b "
                            f"(got {text!r})")
    return names[0], names[1]


@dataclass
class Comparer:
    """Compares two generators over one retriever; ``parallel`` >= 2 runs them at once."""

    retriever: Retriever
    generators: tuple[Generator, Generator]
    parallel: int = 1
    top_k: int = 5
    calibration: Calibration = CALIBRATION
    _cancel: dict[str, threading.Event] = field(default_factory=dict, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings, retriever: Retriever, models: Sequence[str]) -> Comparer:
        """Two Ollama models as configured (contacts nothing yet)."""
        from rag.answer.generation import OllamaGenerator  # keeps ollama out of imports that do not answer

        a, b = models
        if a == b:
            raise SettingsError("choose two different models to compare")
        return cls(retriever, (OllamaGenerator(settings, model=a), OllamaGenerator(settings, model=b)),
                   parallel=settings.ollama_parallel, top_k=settings.top_k)

    @property
    def concurrent(self) -> bool:
        return self.parallel >= 2

    def cancel(self, side: Side) -> None:
        """Stop one side's answer (thread-safe); the other side carries on."""
        self._cancel.setdefault(side, threading.Event()).set()

    def close(self) -> None:
        for generator in self.generators:
            close = getattr(generator, "close", None)
            if callable(close):
                close()

    def compare(self, question: str, k: int | None = None) -> Comparison:
        """The whole comparison (consumes ``stream``)."""
        for event in self.stream(question, k):
            if event.side == "" and event.kind == "done":
                result: Comparison = event.data
                return result
        raise GenerationError("the comparison ended without a result")  # a bug, not a user error

    def stream(self, question: str, k: int | None = None) -> Iterator[CompareEvent]:
        if not question.strip():
            raise SettingsError('the question is empty: ask one, e.g. rag ask "¿Cuál es la nota mínima?"')
        for side in SIDES:  # a new comparison: what was cancelled before runs again
            self._cancel[side] = threading.Event()
        hits = list(self.retriever.retrieve(question, k or self.top_k))
        yield CompareEvent("", "hits", hits)
        results = {side: SideResult(gen.model) for side, gen in zip(SIDES, self.generators, strict=True)}
        ready: list[Side] = []
        down: GenerationError | None = None
        for side, gen in zip(SIDES, self.generators, strict=True):
            try:
                gen.context_window()  # reachable, pulled (and the window each chain will use)
                ready.append(side)
            except OllamaUnavailableError as exc:
                down = exc
                results[side].outcome, results[side].error = "error", str(exc)
            except ModelNotFoundError as exc:
                results[side].outcome, results[side].error = "missing", str(exc)
            except GenerationError as exc:
                results[side].outcome, results[side].error = "error", str(exc)
            if results[side].outcome != "ok":
                yield CompareEvent(side, "done", results[side])
        comparison = Comparison(question, hits, results["a"], results["b"], self.concurrent and len(ready) == 2)
        if not ready:  # Ollama down (or neither model there): the extractive answer, once
            extractive = self._extractive(question, hits)
            comparison.extractive = extractive
            comparison.notice = fallback_notice(detect_language(question), down, self.generators[0]) if down \
                else None
            yield CompareEvent("", "done", comparison)
            return
        yield from self._run(question, hits, ready, results)
        yield CompareEvent("", "done", comparison)

    def _extractive(self, question: str, hits: list[Hit]) -> Answer:
        chain = build_chain(_FixedRetriever(hits, self.retriever), None, calibration=self.calibration,
                            encoder=getattr(self.retriever, "encoder", None))
        for event in chain.stream({"question": question, "history": [], "k": len(hits) or 1}):
            if event.kind == "done":
                answer: Answer = event.data
                return answer
        raise GenerationError("the extractive answer could not be made")  # pragma: no cover - a bug

    def _run(self, question: str, hits: list[Hit], ready: list[Side],
             results: dict[Side, SideResult]) -> Iterator[CompareEvent]:
        """Run the ready sides in worker threads (together or in turn), relaying their events in order."""
        events: queue.Queue[CompareEvent | None] = queue.Queue()
        by_side = dict(zip(SIDES, self.generators, strict=True))

        def work(sides: list[Side]) -> None:
            try:
                for side in sides:
                    self._answer(side, by_side[side], question, hits, results[side], events)
            finally:
                events.put(None)

        groups = [[side] for side in ready] if self.concurrent else [ready]
        threads = [threading.Thread(target=work, args=(group,), daemon=True, name=f"compare-{'-'.join(group)}")
                   for group in groups]
        for thread in threads:
            thread.start()
        running = len(threads)
        try:
            while running:
                event = events.get()
                if event is None:
                    running -= 1
                else:
                    yield event
        finally:  # the reader went away (a page rerun): stop both, so nothing keeps generating unseen
            if running:
                for side in SIDES:
                    self.cancel(side)

    def _answer(self, side: Side, gen: Generator, question: str, hits: list[Hit], result: SideResult,
                events: queue.Queue[CompareEvent | None]) -> None:
        """One model's answer through the chain, timed; never raises (failures end in ``result``)."""
        cancel = self._cancel[side]
        if cancel.is_set():
            result.outcome = "cancelled"
            events.put(CompareEvent(side, "done", result))
            return
        events.put(CompareEvent(side, "start", None))
        if hasattr(gen, "last_eval"):
            setattr(gen, "last_eval", None)  # noqa: B010 - not part of the Generator protocol
        chain = build_chain(_FixedRetriever(hits, self.retriever), gen, calibration=self.calibration,
                            encoder=getattr(self.retriever, "encoder", None))
        start = time.monotonic()
        first: float | None = None
        pieces = 0
        text: list[str] = []
        stream: Iterator[AnswerEvent] = chain.stream({"question": question, "history": [], "k": len(hits) or 1})
        try:
            for kind, data in stream:
                if cancel.is_set():
                    result.outcome = "cancelled"
                    break
                if kind == "token":
                    if first is None:
                        first = time.monotonic()
                    pieces += 1
                    text.append(data)
                    events.put(CompareEvent(side, "token", data))
                elif kind == "status":
                    events.put(CompareEvent(side, "status", data))
                elif kind == "done":
                    result.answer = data
        except Exception as exc:  # noqa: BLE001 - one side failing must not take the other down
            log.warning("model %s failed while comparing", gen.model, exc_info=exc)
            result.outcome, result.error = "error", str(exc)
        finally:
            close = getattr(stream, "close", None)
            if callable(close):
                close()  # a cancelled stream closes its connection: Ollama stops generating
        end = time.monotonic()
        if result.outcome == "cancelled":
            result.answer, result.partial = None, "".join(text)
        result.ttft = None if first is None else first - start
        result.seconds = end - start
        counted = getattr(gen, "last_eval", None)
        if result.answer is not None and result.answer.mode == "llm" and counted:
            result.tokens, spent = counted
            result.tokens_per_second = result.tokens / spent if spent > 0 else None
        else:
            result.tokens = pieces
            streaming = end - (first or end)
            result.tokens_per_second = pieces / streaming if pieces > 1 and streaming > 0 else None
        events.put(CompareEvent(side, "done", result))
