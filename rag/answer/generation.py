"""The Ollama adapter: the only module that imports ``ollama`` and ``langchain-ollama``.

It checks that Ollama answers (``/api/version``), that the model is pulled (``/api/tags``), reads the
model's context window and its facts (``/api/show``: size, quantisation, licence text), streams chat
answers through langchain-ollama's ChatOllama, and turns every httpx/ollama failure into a rag.errors type
whose message says what to do.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import ollama
from langchain_ollama import ChatOllama

from rag.errors import GenerationError, GenerationTimeoutError, ModelNotFoundError, OllamaUnavailableError
from rag.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_MAX_CONTEXT = 8192  # tokens; a model trained on 128k would otherwise reserve gigabytes of KV cache
FALLBACK_CONTEXT = 4096  # Ollama's own default num_ctx when the model does not say
_METADATA_TIMEOUT = 10.0  # seconds for /api/version, /api/tags, /api/show: these answer at once
_NUM_CTX = re.compile(r"^\s*num_ctx\s+(\d+)\s*$", re.MULTILINE)


def is_pulled(model: str, available: Sequence[str]) -> bool:
    """Whether ``model`` is among ``available``; a name without a tag means ':latest', as in Ollama."""
    return model in available or (":" not in model and f"{model}:latest" in available)


def context_window_from_show(model_info: dict[str, Any], parameters: str, max_context: int) -> int:
    """The num_ctx to run with: the Modelfile's ``num_ctx`` if set, else the trained length capped.

    Example: ({"general.architecture": "qwen2", "qwen2.context_length": 32768}, "", 8192) -> 8192
    """
    if match := _NUM_CTX.search(parameters or ""):
        return int(match.group(1))
    arch = model_info.get("general.architecture")
    trained = model_info.get(f"{arch}.context_length")
    if trained is None:  # some GGUFs name the key after another architecture
        trained = next((v for k, v in model_info.items() if k.endswith(".context_length")), None)
    if not isinstance(trained, int) or trained <= 0:
        return min(FALLBACK_CONTEXT, max_context)
    return min(trained, max_context)


@dataclass(frozen=True)
class ModelCard:
    """What Ollama says about one pulled model (``/api/tags`` and ``/api/show``), in plain types."""

    name: str
    size: int = 0  # bytes on disk
    family: str = ""
    parameter_size: str = ""  # as Ollama writes it, e.g. "7.6B"
    parameter_count: int | None = None
    quantization: str = ""  # e.g. "Q4_K_M"
    context_length: int | None = None  # the length it was trained for
    licence: str = ""  # the licence text(s) the model carries; "" when it carries none
    capabilities: tuple[str, ...] = ()


def card_from_show(name: str, size: int, details: dict[str, Any], info: dict[str, Any], licence: str,
                   capabilities: Sequence[str] = ()) -> ModelCard:
    """A ModelCard from the fields of ``/api/tags`` and ``/api/show`` (details, model_info, license)."""
    arch = info.get("general.architecture")
    trained = info.get(f"{arch}.context_length")
    if trained is None:
        trained = next((v for k, v in info.items() if k.endswith(".context_length")), None)
    count = info.get("general.parameter_count")
    return ModelCard(
        name=name, size=int(size or 0), family=str(details.get("family") or arch or ""),
        parameter_size=str(details.get("parameter_size") or ""),
        parameter_count=count if isinstance(count, int) else None,
        quantization=str(details.get("quantization_level") or ""),
        context_length=trained if isinstance(trained, int) and trained > 0 else None,
        licence=(licence or "").strip(), capabilities=tuple(capabilities),
    )


@dataclass(frozen=True)
class OllamaStatus:
    """What a status line needs to say about Ollama: reachable or why not, and the models pulled."""

    host: str
    reachable: bool
    version: str = ""
    models: tuple[str, ...] = ()
    error: str = ""  # why it is unreachable (or why the models could not be listed), with the fix

    def has(self, model: str) -> bool:
        return is_pulled(model, self.models)


def ollama_status(settings: Settings, timeout: float = 3.0) -> OllamaStatus:
    """Ask Ollama (``/api/version``, ``/api/tags``) whether it runs and what it has; never raises.

    ``timeout`` is short: a status line must not hold a page up the way a slow answer may.
    """
    quick = settings.model_copy(update={"request_timeout": min(settings.request_timeout, timeout)})
    generator = OllamaGenerator(quick)
    try:
        version = generator.version()
    except GenerationError as exc:
        return OllamaStatus(generator.host, reachable=False, error=str(exc))
    try:
        models = tuple(generator.models())
    except GenerationError as exc:
        return OllamaStatus(generator.host, reachable=True, version=version, error=str(exc))
    return OllamaStatus(generator.host, reachable=True, version=version, models=models)


class OllamaGenerator:
    """Streams answers from one Ollama model; built from Settings, contacts nothing until asked."""

    def __init__(
        self,
        settings: Settings,
        model: str | None = None,
        temperature: float = 0.1,
        num_predict: int = 1024,
        max_context: int = DEFAULT_MAX_CONTEXT,
    ) -> None:
        self.model = model or settings.model
        self.host = settings.ollama_url
        self.timeout = settings.request_timeout
        self.temperature = temperature  # low: answers should restate the passages, not invent
        self.num_predict = num_predict
        self.max_context = max_context
        self._window: int | None = None
        self._chat: ChatOllama | None = None
        self._transport: httpx.HTTPTransport | None = None  # ours, so close() can release its connections
        self.last_eval: tuple[int, float] | None = None  # the last answer's (tokens, seconds), as Ollama counts

    def close(self) -> None:
        """Release pooled connections to Ollama; the generator can still be used afterwards."""
        if self._transport is not None:
            self._transport.close()
        self._transport = None
        self._chat = None

    def __enter__(self) -> OllamaGenerator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- metadata -------------------------------------------------------------------------------
    def _client(self) -> ollama.Client:
        return ollama.Client(host=self.host, timeout=httpx.Timeout(min(self.timeout, _METADATA_TIMEOUT)))

    def version(self) -> str:
        """Ollama's version; raises OllamaUnavailableError when nothing (or not Ollama) answers."""
        try:
            response = httpx.get(f"{self.host}/api/version", timeout=min(self.timeout, _METADATA_TIMEOUT))
            response.raise_for_status()
            return str(response.json()["version"])
        except (httpx.HTTPStatusError, ValueError, KeyError, TypeError) as exc:
            raise OllamaUnavailableError(
                f"something answers at {self.host} but it is not Ollama ({exc.__class__.__name__}) — "
                "check OLLAMA_HOST"
            ) from None
        except httpx.HTTPError as exc:
            raise self._translate(exc) from None

    def models(self) -> list[str]:
        """Names of the models pulled into Ollama."""
        try:
            with self._client() as client:
                return [m.model for m in client.list().models if m.model]
        except Exception as exc:  # noqa: BLE001 - translated, never swallowed
            raise self._translate(exc) from None

    def cards(self) -> list[ModelCard]:
        """Every pulled model with its facts: one ``/api/tags`` and one ``/api/show`` per model."""
        try:
            with self._client() as client:
                listed = [m for m in client.list().models if m.model]
                cards = []
                for m in listed:
                    shown = client.show(str(m.model))
                    details = (shown.details or m.details)
                    cards.append(card_from_show(
                        str(m.model), int(m.size or 0), details.model_dump() if details else {},
                        dict(shown.modelinfo or {}), shown.license or "", shown.capabilities or ()))
                return cards
        except Exception as exc:  # noqa: BLE001 - translated, never swallowed
            raise self._translate(exc) from None

    def context_window(self) -> int:
        """Tokens the model will run with; checks reachability and that the model is pulled (cached)."""
        if self._window is not None:
            return self._window
        self.version()
        available = self.models()
        if not is_pulled(self.model, available):
            raise self._missing(available)
        try:
            with self._client() as client:
                shown = client.show(self.model)
        except Exception as exc:  # noqa: BLE001
            raise self._translate(exc) from None
        info = dict(shown.modelinfo or {})
        window = context_window_from_show(info, shown.parameters or "", self.max_context)
        log.info("model %s at %s: context window %d tokens", self.model, self.host, window)
        self._window = window
        return window

    # -- generation -----------------------------------------------------------------------------
    def _chat_model(self) -> ChatOllama:
        if self._chat is None:
            self._transport = httpx.HTTPTransport()
            self._chat = ChatOllama(
                model=self.model,
                base_url=self.host,
                num_ctx=self.context_window(),  # sent explicitly so the window we budget for is the one used
                num_predict=self.num_predict,
                temperature=self.temperature,
                # connect fails fast (nothing listening); read waits for the first token of a cold model
                client_kwargs={"timeout": httpx.Timeout(self.timeout, connect=min(self.timeout, 5.0))},
                sync_client_kwargs={"transport": self._transport},
            )
        return self._chat

    def stream(self, messages: Sequence[tuple[str, str]]) -> Iterator[str]:
        """Stream the answer's text; raises a GenerationError subclass on failure.

        A stream that ends without Ollama's final ``done`` message, or ends because the answer reached
        ``num_predict``, raises GenerationError after its text has been yielded, so callers keep it.
        """
        chat = self._chat_model()
        done_reason: str | None = None
        try:
            for chunk in chat.stream(list(messages)):
                if chunk.text:
                    yield chunk.text
                if chunk.response_metadata.get("done"):
                    done_reason = str(chunk.response_metadata.get("done_reason") or "stop")
                    self.last_eval = _eval_counters(chunk.response_metadata)
        except GenerationError:
            raise
        except Exception as exc:  # noqa: BLE001 - every failure is explained, none is swallowed
            raise self._translate(exc) from None
        if done_reason is None:
            raise GenerationError("the connection to Ollama ended before the answer was complete")
        if done_reason == "length":
            raise GenerationError(f"the answer reached the model's length limit ({self.num_predict} tokens)")

    # -- errors ---------------------------------------------------------------------------------
    def _missing(self, available: list[str]) -> ModelNotFoundError:
        listed = ", ".join(available) if available else "none"
        return ModelNotFoundError(
            f"model '{self.model}' is not pulled — run `ollama pull {self.model}` (available: {listed})",
            available,
        )

    def _translate(self, exc: BaseException) -> GenerationError:
        """One rag.errors exception, with the fix in its message, for any client-side failure."""
        log.debug("ollama call failed", exc_info=exc)
        if isinstance(exc, httpx.ConnectTimeout | httpx.ConnectError | ConnectionError):
            return OllamaUnavailableError(
                f"Ollama is not running at {self.host} — start it with `ollama serve` (or set OLLAMA_HOST)"
            )
        if isinstance(exc, httpx.TimeoutException):
            return GenerationTimeoutError(
                f"Ollama did not answer within {self.timeout:g} s (RAG_REQUEST_TIMEOUT)"
            )
        if isinstance(exc, ollama.ResponseError):
            if exc.status_code == 404:
                try:
                    available = self.models()
                except GenerationError:
                    available = []
                return self._missing(available)
            status = f"HTTP {exc.status_code}" if exc.status_code > 0 else "during the answer"
            return GenerationError(f"Ollama reported an error ({status}): {exc.error}")
        if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
            return GenerationError("the connection to Ollama closed in the middle of the answer")
        if isinstance(exc, json.JSONDecodeError):
            return GenerationError("Ollama sent a reply that is not valid JSON")
        if isinstance(exc, httpx.HTTPError):
            return GenerationError(f"HTTP error talking to Ollama at {self.host}: {exc}")
        log.warning("unexpected failure calling Ollama", exc_info=exc)
        return GenerationError(f"the model call failed: {exc.__class__.__name__}: {exc}")


def _eval_counters(meta: dict[str, Any]) -> tuple[int, float] | None:
    """(tokens generated, seconds spent generating them) from Ollama's final message, if it sent them."""
    count, duration = meta.get("eval_count"), meta.get("eval_duration")
    if isinstance(count, int) and isinstance(duration, int) and count > 0 and duration > 0:
        return count, duration / 1e9
    return None
