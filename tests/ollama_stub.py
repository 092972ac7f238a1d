"""A loopback stand-in for Ollama that speaks its real HTTP API, so the real clients are exercised.

Endpoints and wire format follow Ollama's docs/api.md: GET /api/version and /api/tags, POST /api/show,
/api/chat and /api/generate (streamed NDJSON over chunked transfer, a final ``done`` object with timing
counters), /api/embed. Unknown models get Ollama's own 404 bodies. Behaviour is scripted per test:

    stub.reply = lambda messages: "La nota mínima es 5 [1]."   # or a list of chunks
    stub.cut_after = 3        # close the connection after 3 chunks, no final message
    stub.delay = 2.0          # sleep before the first byte (client timeouts)
    stub.fail_status = 500    # answer chat/generate with {"error": stub.fail_message}
    stub.replies["llama3.1:8b"] = ...  # one model answers differently from the others
    stub.cards["llama3.1:8b"] = {"license": "LLAMA 3.1 COMMUNITY LICENSE…", "parameter_size": "8.0B"}
    stub.token_delay = 0.02   # a fixed token rate: sleep between streamed chunks (benchmarks, disconnects)
    stub.streams_closed       # streamed answers whose client hung up before the end (counted)
"""

from __future__ import annotations

import hashlib
import math
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

from tests.ollama_wire import handler_for

Reply = Callable[[list[dict[str, Any]]], "str | list[str]"]


def default_reply(messages: list[dict[str, Any]]) -> str:
    """Cite passage 1 in the language the prompt was written in."""
    last = messages[-1]["content"] if messages else ""
    if "Pregunta:" in last:
        return "Según los documentos, la respuesta está en el primer pasaje [1]."
    return "According to the documents, the answer is in the first passage [1]."


@dataclass
class Recorded:
    """One request the stub received."""

    method: str
    path: str
    body: dict[str, Any]


@dataclass
class OllamaStub:
    """Scriptable fake Ollama server on 127.0.0.1 and a free port."""

    models: list[str] = field(default_factory=lambda: ["qwen2.5:7b", "nomic-embed-text:latest"])
    architecture: str = "qwen2"
    context_length: int = 32768
    num_ctx: int | None = None  # a "PARAMETER num_ctx" in the Modelfile, reported by /api/show
    reply: Reply = default_reply
    cut_after: int | None = None
    delay: float = 0.0
    fail_status: int | None = None
    fail_message: str = "llama runner process has terminated: exit status 2"
    stream_error_after: int | None = None  # send an in-stream {"error": ...} line after this many chunks
    done_reason: str = "stop"
    token_delay: float = 0.0
    streams_closed: int = 0
    embed_dim: int = 16
    replies: dict[str, Reply] = field(default_factory=dict)  # per model (full name); others use ``reply``
    # per model: what /api/tags and /api/show say ("license", "family", "parameter_size", "parameter_count",
    # "quantization_level", "context_length", "size"); a model without "license" carries none, as in Ollama
    cards: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> OllamaStub:
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> OllamaStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the stub first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- what tests assert on -------------------------------------------------------------------
    def bodies(self, path: str) -> list[dict[str, Any]]:
        """Request bodies received on ``path`` (e.g. "/api/chat"), oldest first."""
        return [r.body for r in self.requests if r.path == path]

    def chat_prompts(self) -> list[str]:
        """All message contents of every /api/chat request, joined per request."""
        bodies = self.bodies("/api/chat")
        return ["\n".join(m.get("content", "") for m in b.get("messages", [])) for b in bodies]

    # -- behaviour ------------------------------------------------------------------------------
    def record(self, method: str, path: str, body: dict[str, Any]) -> None:
        """Keep a request for the test to inspect."""
        self.requests.append(Recorded(method, path, body))

    def reply_for(self, name: str) -> Reply:
        """The reply script of model ``name``."""
        return self.replies.get(self.resolve(name) or name, self.reply)

    def card(self, name: str) -> dict[str, Any]:
        """What the stand-in says about model ``name`` beyond its defaults."""
        return self.cards.get(self.resolve(name) or name, {})

    def resolve(self, name: str) -> str | None:
        """The pulled model ``name`` refers to (a missing tag means ':latest'), or None."""
        full = name if ":" in name else f"{name}:latest"
        return full if full in self.models else None

    def embedding(self, text: str) -> list[float]:
        """A deterministic unit vector seeded by the text's SHA-256."""
        seed = hashlib.sha256(text.encode()).digest()
        raw = (seed * (self.embed_dim * 4 // len(seed) + 1))[: self.embed_dim * 4]
        values = [v / 2**31 for v in struct.unpack(f"<{self.embed_dim}i", raw)]
        norm = math.sqrt(sum(v * v for v in values)) or 1.0
        return [v / norm for v in values]


def free_port() -> int:
    """A loopback port with nothing listening on it (for 'connection refused')."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
