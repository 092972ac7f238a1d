"""The answering chain, built from LangChain runnables, and the Answerer that the CLI and the web page use.

preflight (is the model ready? its context window) → condense (a follow-up becomes a standalone question)
→ retrieve → build prompt (numbered, fenced passages trimmed to the window) → answer (stream tokens, then
check citations against the passages that were sent). The hits travel through every step, so a citation
can only name a retrieved passage. Without a usable model (none given, Ollama down, model missing, or a
failure before the first token) the last step answers extractively and its notice says how to fix it.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Iterator, Sequence
from typing import Any, Literal, NamedTuple, Protocol

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable, RunnableGenerator, RunnableLambda

from rag.answer import prompts
from rag.answer.citations import MarkerFilter, check_citations
from rag.answer.extractive import CALIBRATION, Calibration, Encoder, extractive_answer
from rag.answer.sanitize import ControlStripper, strip_control
from rag.errors import GenerationError, GenerationTimeoutError, ModelNotFoundError, OllamaUnavailableError
from rag.text import Language, collapse, detect_language, fold
from rag.types import Answer, Hit

log = logging.getLogger(__name__)

ANSWER_RESERVE_TOKENS = 1024  # room left in the window for the answer (OllamaGenerator's num_predict)
_CONDENSE_LABEL = re.compile(  # "Pregunta independiente:", "**Standalone question:**"
    r"^\W*(?:pregunta(?: independiente| reformulada)?|(?:standalone |rewritten )?question)\W*:[\s*_]*",
    re.IGNORECASE,
)


class Retriever(Protocol):
    """Anything that finds passages for a question."""

    def retrieve(self, question: str, k: int) -> list[Hit]: ...


class Generator(Protocol):
    """A model that streams text for chat messages; rag.answer.generation.OllamaGenerator is the real one.

    ``context_window`` also checks the model is usable and raises OllamaUnavailableError or
    ModelNotFoundError; ``stream`` raises GenerationError subclasses, after yielding any partial text.
    """

    model: str
    host: str

    def context_window(self) -> int: ...

    def stream(self, messages: Sequence[tuple[str, str]]) -> Iterator[str]: ...


class AnswerEvent(NamedTuple):
    """One step of a streamed answer; unpacks as ``kind, data``.

    ("status", str) a notice or progress line · ("hits", list[Hit]) once, before any token ·
    ("token", str) answer text, already cleaned · ("done", Answer) last, always.
    """

    kind: Literal["status", "hits", "token", "done"]
    data: Any


class ChatModelGenerator:
    """Any LangChain chat model as a Generator (tests, experiments); failures become GenerationError."""

    def __init__(self, llm: BaseChatModel, context_window: int = 4096, model: str = "") -> None:
        self.llm = llm
        self.model = model or str(getattr(llm, "model", "") or type(llm).__name__)
        self.host = ""
        self._window = context_window

    def context_window(self) -> int:
        return self._window

    def stream(self, messages: Sequence[tuple[str, str]]) -> Iterator[str]:
        try:
            for chunk in self.llm.stream(list(messages)):
                if chunk.text:
                    yield chunk.text
        except GenerationError:
            raise
        except Exception as exc:  # noqa: BLE001 - explained to the user, logged for us
            log.warning("chat model failed", exc_info=exc)
            raise GenerationError(f"{type(exc).__name__}: {exc}") from exc


def as_generator(llm: Generator | BaseChatModel | None) -> Generator | None:
    """A Generator for ``llm``: LangChain chat models are wrapped, Generators pass through."""
    if isinstance(llm, BaseChatModel):
        return ChatModelGenerator(llm)
    return llm


def fallback_notice(lang: Language, exc: GenerationError, generator: Generator) -> str:
    """Why the answer is extractive, and what to run to get generated answers."""
    if isinstance(exc, OllamaUnavailableError):
        host = generator.host or "OLLAMA_HOST"
        return prompts.notice(lang, "unavailable", host=host, model=generator.model)
    if isinstance(exc, ModelNotFoundError):
        available = prompts.available_models(lang, exc.available)
        return prompts.notice(lang, "missing", model=generator.model, available=available)
    kind = "timeout" if isinstance(exc, GenerationTimeoutError) else "error"
    return prompts.notice(lang, kind, detail=str(exc))


def is_not_found(text: str) -> bool:
    """Whether an answer is essentially the model saying the passages do not contain it (either language)."""
    folded = fold(text)
    for sentence in prompts.NOT_FOUND.values():
        core = fold(sentence).rstrip(".")
        # A long answer that mentions the sentence in passing still answered something.
        if core in folded and len(folded) <= 1.5 * len(core) + 20:
            return True
    return False


def _standalone_from(reply: str, fallback: str) -> str:
    """The first line of a condense reply, without the label or quotes a model may add.

    Example: 'Pregunta independiente: «¿Y la nota en posgrado?»' -> '¿Y la nota en posgrado?'
    """
    for line in strip_control(reply).splitlines():
        line = _CONDENSE_LABEL.sub("", line.strip()).strip().strip("\"'«»“”").strip()
        if line:
            return line[:500]
    return fallback


def build_chain(
    retriever: Retriever,
    llm: Generator | BaseChatModel | None = None,
    calibration: Calibration = CALIBRATION,
    encoder: Encoder | None = None,
) -> Runnable[dict[str, Any], AnswerEvent]:
    """The chain; input ``{"question": str, "history": list[Turn], "k": int}``, streams AnswerEvents.

    Without a model the answer is extractive (``rag.answer.extractive``): it reads the cited pages' lines
    through the retriever's ``page_text`` when it has one, and compares units with a question in
    another language through ``encoder`` (the multilingual encoder; None: by their words only).
    """
    generator = as_generator(llm)
    pages = getattr(retriever, "page_text", None)

    def preflight(x: dict[str, Any]) -> dict[str, Any]:
        failure: GenerationError | None = None
        window = 0
        if generator is not None:
            try:
                window = generator.context_window()
            except GenerationError as exc:
                log.info("answering extractively: %s", exc)
                failure = exc
        return {**x, "lang": detect_language(x["question"]), "window": window, "failure": failure}

    def condense(x: dict[str, Any]) -> dict[str, Any]:
        question, history = x["question"], x.get("history") or []
        standalone = question
        if history:
            # Without a model, the previous question lends its topic: "¿Y para el posgrado?" keeps "nota".
            standalone = f"{collapse(history[-1].question)} {question}"
            if generator is not None and x["failure"] is None:
                try:
                    reply = "".join(generator.stream(prompts.condense_messages(x["lang"], history, question)))
                    standalone = _standalone_from(reply, standalone)
                except GenerationError as exc:
                    log.warning("could not condense the follow-up, retrieving with context: %s", exc)
        return {**x, "standalone": standalone}

    def retrieve(x: dict[str, Any]) -> dict[str, Any]:
        return {**x, "hits": list(retriever.retrieve(x["standalone"], x["k"]))}

    def build_prompt(x: dict[str, Any]) -> dict[str, Any]:
        if generator is None or x["failure"] is not None or not x["hits"]:
            return {**x, "passages": [], "messages": []}
        lang, question = x["lang"], x["standalone"]
        system = prompts.system_prompt(lang)
        scaffold = prompts.question_prompt(lang, question, [])
        fixed = prompts.estimate_tokens(system) + prompts.estimate_tokens(scaffold)
        budget = x["window"] - min(ANSWER_RESERVE_TOKENS, x["window"] // 4) - fixed
        passages = prompts.fit_passages(x["hits"], budget)
        log.debug("window %d tokens: %d of %d passages sent", x["window"], len(passages), len(x["hits"]))
        user = prompts.question_prompt(lang, question, passages)
        return {**x, "passages": passages, "messages": [("system", system), ("user", user)]}

    def extractive(x: dict[str, Any], notice: str | None) -> Iterator[AnswerEvent]:
        if notice:
            yield AnswerEvent("status", notice)
        # Score against the standalone question: a follow-up alone ("¿Y para el posgrado?") says too little.
        found = extractive_answer(x["standalone"], x["hits"], lang=x["lang"], pages=pages, encoder=encoder,
                                  cal=calibration)
        answer = dataclasses.replace(found, question=x["question"], notice=notice)
        yield AnswerEvent("token", answer.answer)
        yield AnswerEvent("done", answer)

    def answer(inputs: Iterator[dict[str, Any]]) -> Iterator[AnswerEvent]:
        x: dict[str, Any] = {}
        for part in inputs:
            x.update(part)
        yield AnswerEvent("hits", x["hits"])
        failure = x["failure"]
        if generator is None or failure is not None or not x["hits"]:
            notice = fallback_notice(x["lang"], failure, generator) if failure and generator else None
            yield from extractive(x, notice)
            return
        yield from _generate(x, generator)

    def _generate(x: dict[str, Any], gen: Generator) -> Iterator[AnswerEvent]:
        markers = MarkerFilter({p.n for p in x["passages"]})
        controls = ControlStripper()
        raw: list[str] = []
        notice = None
        try:
            for token in gen.stream(x["messages"]):
                raw.append(controls.feed(token))
                if shown := markers.feed(raw[-1]):
                    yield AnswerEvent("token", shown)
        except GenerationError as exc:
            if not "".join(raw).strip():
                yield from extractive(x, fallback_notice(x["lang"], exc, gen))
                return
            log.warning("answer cut short: %s", exc)
            notice = prompts.notice(x["lang"], "cut", detail=str(exc))
        raw.append(controls.flush())
        if shown := markers.feed(raw[-1]) + markers.flush():
            yield AnswerEvent("token", shown)
        checked = check_citations("".join(raw), x["passages"])
        yield AnswerEvent("done", Answer(
            question=x["question"], answer=checked.text, mode="llm", model=gen.model,
            citations=checked.citations, hits=x["hits"], notice=notice,
            supported=checked.supported, abstained=is_not_found(checked.text),
        ))

    return (
        RunnableLambda(preflight, name="preflight")
        | RunnableLambda(condense, name="condense")
        | RunnableLambda(retrieve, name="retrieve")
        | RunnableLambda(build_prompt, name="build_prompt")
        | RunnableGenerator(answer, name="answer")
    )

