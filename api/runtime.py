"""What the API's handlers share: the one Service, the keys, the answer slots, the jobs, one model client."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from api.auth import Authenticator
from api.slots import AnswerSlots
from ingest.jobs import JobRunner, JobStore
from rag.access.control import Identity
from rag.access.keys import KeyStore
from rag.answer.answerer import Answerer
from rag.answer.chain import Generator
from rag.errors import GenerationTimeoutError
from rag.service import Service


class WatchedGenerator:
    """The shared model client, remembering for one answer whether Ollama timed out (the API's 504)."""

    def __init__(self, inner: Generator) -> None:
        self.inner = inner
        self.model = inner.model
        self.host = inner.host
        self.timed_out: GenerationTimeoutError | None = None

    def context_window(self) -> int:
        try:
            return self.inner.context_window()
        except GenerationTimeoutError as exc:
            self.timed_out = exc
            raise

    def stream(self, messages: Sequence[tuple[str, str]]) -> Iterator[str]:
        try:
            yield from self.inner.stream(messages)
        except GenerationTimeoutError as exc:
            self.timed_out = exc
            raise


@dataclass
class Runtime:
    """Built once per server from the Service; closed when the server stops."""

    service: Service
    keys: KeyStore
    jobs: JobRunner
    slots: AnswerSlots
    auth: Authenticator
    _generators: dict[str, Generator] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def start(cls, service: Service) -> Runtime:
        settings = service.settings
        keys = KeyStore.open(settings.data_dir)
        return cls(service, keys, JobRunner(service, JobStore.open(settings.data_dir)),
                   AnswerSlots(settings.api_max_answers, settings.api_queue_timeout),
                   Authenticator(settings, keys))

    def generator(self, model: str | None = None) -> Generator:
        """One Ollama client per model, shared by every answer (its connections are pooled)."""
        from rag.answer.generation import OllamaGenerator  # keeps ollama out of imports that do not answer

        name = model or self.service.settings.model
        with self._lock:
            if name not in self._generators:
                self._generators[name] = OllamaGenerator(self.service.settings, model=name)
            return self._generators[name]

    def answerer(self, collection: str | None, identity: Identity,
                 model: str | None = None) -> tuple[Answerer, WatchedGenerator]:
        """An Answerer for one request over a collection the caller may read (the library checks)."""
        watched = WatchedGenerator(self.generator(model))
        return self.service.answerer(collection, identity=identity, generator=watched), watched

    def close(self) -> None:
        self.jobs.close()
        for generator in self._generators.values():
            close = getattr(generator, "close", None)
            if callable(close):
                close()
