"""The high-level answering API that the CLI and the web page share: ``Answerer`` and ``Conversation``.

    answerer = Answerer.from_settings(settings, retriever)
    for kind, data in answerer.stream("¿Cuál es la nota mínima de aprobación?"):
        ...  # "status" str, "hits" list[Hit], "token" str, then "done" Answer
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from langchain_core.language_models import BaseChatModel

from rag.answer.chain import AnswerEvent, Generator, Retriever, as_generator, build_chain
from rag.answer.extractive import CALIBRATION, Calibration, Encoder
from rag.errors import GenerationError, SettingsError
from rag.settings import Settings
from rag.types import Answer, Turn


class Answerer:
    """Answers questions over one retriever: streamed as AnswerEvents, or whole with ``ask``."""

    def __init__(
        self,
        retriever: Retriever,
        llm: Generator | BaseChatModel | None = None,
        top_k: int = 5,
        calibration: Calibration = CALIBRATION,
        encoder: Encoder | None = None,
    ) -> None:
        self.retriever = retriever
        self.generator = as_generator(llm)
        self.top_k = top_k
        # the retriever's embedder (multilingual by default) compares units across languages
        encoder = encoder or getattr(retriever, "encoder", None)
        self.chain = build_chain(retriever, self.generator, calibration=calibration, encoder=encoder)

    @classmethod
    def from_settings(cls, settings: Settings, retriever: Retriever, model: str | None = None) -> Answerer:
        """An Answerer using Ollama as configured (``model`` overrides RAG_MODEL); contacts nothing yet."""
        from rag.answer.generation import OllamaGenerator  # keeps ollama out of imports that do not answer

        return cls(retriever, OllamaGenerator(settings, model=model), top_k=settings.top_k)

    def stream(
        self, question: str, history: Sequence[Turn] = (), k: int | None = None
    ) -> Iterator[AnswerEvent]:
        """Stream the answer to ``question``; ``history`` (oldest first) lets follow-ups be condensed."""
        if not question.strip():
            raise SettingsError('the question is empty: ask one, e.g. rag ask "¿Cuál es la nota mínima?"')
        yield from self.chain.stream({"question": question, "history": list(history), "k": k or self.top_k})

    def ask(self, question: str, history: Sequence[Turn] = (), k: int | None = None) -> Answer:
        """The whole Answer (consumes ``stream``)."""
        for event in self.stream(question, history, k):
            if event.kind == "done":
                answer: Answer = event.data
                return answer
        raise GenerationError("the answering chain ended without an answer")  # a bug, not a user error

    def close(self) -> None:
        """Release the model's connections, if it holds any."""
        close = getattr(self.generator, "close", None)
        if callable(close):
            close()


class Conversation:
    """A question-and-answer session that keeps its own history, so follow-ups just work."""

    def __init__(self, answerer: Answerer, max_turns: int = 10) -> None:
        self.answerer = answerer
        self.max_turns = max_turns
        self.history: list[Turn] = []

    def stream(self, question: str, k: int | None = None) -> Iterator[AnswerEvent]:
        """Like Answerer.stream; the finished exchange joins the history."""
        for event in self.answerer.stream(question, self.history, k):
            if event.kind == "done":
                self.history = [*self.history, Turn(question, event.data.answer)][-self.max_turns :]
            yield event

    def ask(self, question: str, k: int | None = None) -> Answer:
        """Like Answerer.ask; the exchange joins the history."""
        for event in self.stream(question, k):
            if event.kind == "done":
                answer: Answer = event.data
                return answer
        raise GenerationError("the answering chain ended without an answer")

    def reset(self) -> None:
        """Forget the conversation."""
        self.history = []
