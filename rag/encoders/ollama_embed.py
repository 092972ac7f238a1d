"""Embeddings through Ollama's ``/api/embed`` (``RAG_EMBED_MODEL=ollama:bge-m3``): plain HTTP with httpx.

Ollama does not expose its tokenizer, so ``count_tokens`` estimates: one token per three characters,
rounded up. Multilingual tokenizers (bge-m3's XLM-R) spend about one token per four characters of Spanish
or English prose, so the estimate overcounts and the chunker's passages stay inside the window; Ollama is
also asked to truncate, so a rare underestimate (long numbers, CJK text) loses a passage's tail, not the
request. The window is the model's context length from ``/api/show`` (512 when Ollama does not say).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from rag.errors import ModelNotFoundError, OllamaUnavailableError, RagError
from rag.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_WINDOW = 512
CHARS_PER_TOKEN = 3


class OllamaEmbedder:
    """An Ollama embedding model; the HTTP client is created on first use."""

    def __init__(self, model: str, settings: Settings, *, batch_size: int = 32) -> None:
        if not model.strip():
            raise RagError("RAG_EMBED_MODEL=ollama:MODEL needs a model name, e.g. ollama:bge-m3")
        self.model = model.strip()
        self.name = f"ollama:{self.model}"
        self.url = settings.ollama_url
        self.timeout = settings.request_timeout
        self.batch_size = batch_size
        self._client: Any = None
        self._window: int | None = None
        self._lock = threading.Lock()

    def _http(self) -> Any:
        with self._lock:
            if self._client is None:
                import httpx

                self._client = httpx.Client(base_url=self.url, timeout=self.timeout, trust_env=False)
        return self._client

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        import httpx

        try:
            response = self._http().post(path, json=body)
        except httpx.TimeoutException as exc:
            raise OllamaUnavailableError(
                f"Ollama at {self.url} did not answer {path} within {self.timeout:.0f} s; "
                "raise RAG_REQUEST_TIMEOUT or check the server"
            ) from exc
        except httpx.HTTPError as exc:
            raise OllamaUnavailableError(
                f"cannot reach Ollama at {self.url} to embed with {self.model!r} ({exc}); start it with "
                "`ollama serve`, set OLLAMA_HOST, or unset RAG_EMBED_MODEL to use the bundled model"
            ) from exc
        if response.status_code == 404:
            raise ModelNotFoundError(
                f"Ollama at {self.url} has no model {self.model!r}: run `ollama pull {self.model}`"
            )
        if response.status_code >= 400:
            raise OllamaUnavailableError(
                f"Ollama at {self.url} answered {path} with HTTP {response.status_code}: "
                f"{response.text[:200]}"
            )
        try:
            data = response.json()
        except ValueError as exc:
            raise OllamaUnavailableError(
                f"Ollama at {self.url} sent {path} a reply that is not JSON") from exc
        if not isinstance(data, dict):
            raise OllamaUnavailableError(f"Ollama at {self.url} sent {path} an unexpected reply")
        return data

    @property
    def max_tokens(self) -> int:
        """The model's context length, asked of ``/api/show`` once."""
        if self._window is None:
            self._window = _context_length(self._post("/api/show", {"model": self.model}))
            log.info("Ollama embedding model %s: window %d tokens", self.model, self._window)
        return self._window

    def embed(self, texts: Sequence[str], *, query: bool = False) -> np.ndarray:
        """Unit-length vectors; Ollama truncates any input longer than the model's window."""
        rows: list[np.ndarray] = []
        for start in range(0, len(texts), self.batch_size):
            part = list(texts[start : start + self.batch_size])
            data = self._post("/api/embed", {"model": self.model, "input": part, "truncate": True})
            got = data.get("embeddings")
            if not isinstance(got, list) or len(got) != len(part):
                raise OllamaUnavailableError(
                    f"Ollama at {self.url} returned {0 if not isinstance(got, list) else len(got)} "
                    f"embeddings for {len(part)} texts; is {self.model!r} an embedding model?"
                )
            rows.append(np.asarray(got, dtype=np.float32))
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        vectors = np.concatenate(rows)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms > 0, norms, 1.0)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """An overestimate: ``ceil(len(text) / 3)``."""
        return [math.ceil(len(t) / CHARS_PER_TOKEN) for t in texts]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def _context_length(show: dict[str, Any]) -> int:
    """'<arch>.context_length' from ``model_info``, else ``num_ctx`` in the parameters, else 512."""
    info = show.get("model_info")
    if isinstance(info, dict):
        for key, value in info.items():
            if key.endswith(".context_length") and isinstance(value, int) and value > 0:
                return value
    params = show.get("parameters")
    if isinstance(params, str):
        for line in params.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] == "num_ctx" and parts[1].isdigit():
                return int(parts[1])
    return DEFAULT_WINDOW
