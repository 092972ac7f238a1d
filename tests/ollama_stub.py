"""A loopback stand-in for Ollama that speaks its real HTTP API, so the real clients are exercised.

Endpoints and wire format follow Ollama's docs/api.md: GET /api/version and /api/tags, POST /api/show,
/api/chat and /api/generate (streamed NDJSON over chunked transfer, a final ``done`` object with timing
counters), /api/embed. Unknown models get Ollama's own 404 bodies. Behaviour is scripted per test:

    stub.reply = lambda messages: "La nota mínima es 5 [1]."   # or a list of chunks
    stub.cut_after = 3        # close the connection after 3 chunks, no final message
    stub.delay = 2.0          # sleep before the first byte (client timeouts)
    stub.fail_status = 500    # answer chat/generate with {"error": stub.fail_message}
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import re
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = Callable[[list[dict[str, Any]]], "str | list[str]"]
VERSION = "0.12.6"


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
    embed_dim: int = 16
    requests: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------
    def start(self) -> OllamaStub:
        server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
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


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _chunks(reply: str | list[str]) -> list[str]:
    if isinstance(reply, list):
        return reply
    return re.findall(r"\S+\s*|\s+", reply) or [""]


def _final_counters(prompt: str, chunks: list[str]) -> dict[str, Any]:
    return {
        "total_duration": 1_234_567_890,
        "load_duration": 12_345_678,
        "prompt_eval_count": max(1, len(prompt) // 4),
        "prompt_eval_duration": 123_456_789,
        "eval_count": len(chunks),
        "eval_duration": 987_654_321,
    }


def _handler_for(stub: OllamaStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # chunked streaming needs 1.1

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
            pass  # keep test output clean

        def handle(self) -> None:
            # the client may give up first (timeout tests); then there is nobody to answer
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                super().handle()

        # -- plumbing ---------------------------------------------------------------------------
        def _send_json(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _send_text(self, status: int, text: str) -> None:
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _write_chunk(self, payload: dict[str, Any]) -> None:
            data = (json.dumps(payload) + "\n").encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        def _abort(self) -> None:
            """Drop the connection mid-body, as a crashed runner or a dead network would."""
            self.wfile.flush()
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

        # -- routes -----------------------------------------------------------------------------
        def do_GET(self) -> None:  # noqa: N802 - stdlib naming
            stub.requests.append(Recorded("GET", self.path, {}))
            if self.path == "/api/version":
                self._send_json(200, {"version": VERSION})
            elif self.path == "/api/tags":
                self._send_json(200, {"models": [_model_entry(name) for name in stub.models]})
            elif self.path == "/":
                self._send_text(200, "Ollama is running")
            else:
                self._send_text(404, "404 page not found")

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                self._send_json(400, {"error": "invalid JSON"})
                return
            stub.requests.append(Recorded("POST", self.path, body))
            routes = {
                "/api/show": self._show,
                "/api/chat": self._chat,
                "/api/generate": self._generate,
                "/api/embed": self._embed,
            }
            route = routes.get(self.path)
            if route is None:
                self._send_text(404, "404 page not found")
            else:
                route(body)

        def _show(self, body: dict[str, Any]) -> None:
            name = str(body.get("model") or body.get("name") or "")
            if stub.resolve(name) is None:
                self._send_json(404, {"error": f"model '{name}' not found"})
                return
            arch = stub.architecture
            parameters = 'stop                           "<|im_end|>"'
            if stub.num_ctx is not None:
                parameters += f"\nnum_ctx                        {stub.num_ctx}"
            self._send_json(200, {
                "modelfile": f"# Modelfile generated by \"ollama show\"\nFROM {name}\n",
                "parameters": parameters,
                "template": "{{ .Prompt }}",
                "details": {"parent_model": "", "format": "gguf", "family": arch, "families": [arch],
                            "parameter_size": "7.6B", "quantization_level": "Q4_K_M"},
                "model_info": {"general.architecture": arch, "general.parameter_count": 7615616512,
                               f"{arch}.context_length": stub.context_length,
                               f"{arch}.embedding_length": 3584},
                "capabilities": ["completion"],
                "modified_at": "2025-01-01T00:00:00Z",
            })

        def _embed(self, body: dict[str, Any]) -> None:
            name = str(body.get("model", ""))
            if stub.resolve(name) is None:
                self._send_json(404, {"error": f'model "{name}" not found, try pulling it first'})
                return
            inputs = body.get("input", "")
            texts = [inputs] if isinstance(inputs, str) else list(inputs)
            self._send_json(200, {"model": name, "embeddings": [stub.embedding(t) for t in texts],
                                  "total_duration": 1_000_000, "load_duration": 10_000,
                                  "prompt_eval_count": sum(len(t.split()) for t in texts)})

        def _chat(self, body: dict[str, Any]) -> None:
            messages = list(body.get("messages") or [])
            prompt = "\n".join(str(m.get("content", "")) for m in messages)
            self._answer(body, prompt, lambda: stub.reply(messages), "message")

        def _generate(self, body: dict[str, Any]) -> None:
            prompt = str(body.get("prompt", ""))
            self._answer(body, prompt, lambda: stub.reply([{"role": "user", "content": prompt}]), "response")

        def _answer(
            self, body: dict[str, Any], prompt: str, make: Callable[[], Any], field_name: str
        ) -> None:
            name = str(body.get("model", ""))
            if stub.resolve(name) is None:
                self._send_json(404, {"error": f'model "{name}" not found, try pulling it first'})
                return
            if stub.delay and stub._stopping.wait(stub.delay):
                return  # the stub is shutting down
            if stub.fail_status is not None:
                self._send_json(stub.fail_status, {"error": stub.fail_message})
                return
            chunks = _chunks(make())

            def piece(text: str, done: bool) -> dict[str, Any]:
                content: Any = {"role": "assistant", "content": text} if field_name == "message" else text
                return {"model": name, "created_at": _now(), field_name: content, "done": done}

            if body.get("stream") is False:
                final = piece("".join(chunks), True) | {"done_reason": stub.done_reason}
                self._send_json(200, final | _final_counters(prompt, chunks))
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i, text in enumerate(chunks):
                if stub.cut_after is not None and i >= stub.cut_after:
                    self._abort()
                    return
                if stub.stream_error_after is not None and i >= stub.stream_error_after:
                    self._write_chunk({"error": stub.fail_message})
                    break
                self._write_chunk(piece(text, False))
            else:
                if stub.cut_after is not None and stub.cut_after >= len(chunks):
                    self._abort()  # every chunk sent, but never the final "done" object
                    return
                self._write_chunk(piece("", True) | {"done_reason": stub.done_reason}
                                  | _final_counters(prompt, chunks))
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    return Handler


def _model_entry(name: str) -> dict[str, Any]:
    digest = hashlib.sha256(name.encode()).hexdigest()
    family = name.split(":")[0].split("/")[-1]
    return {
        "name": name, "model": name, "modified_at": "2025-01-01T00:00:00.000000000Z", "size": 4_683_087_332,
        "digest": digest,
        "details": {"parent_model": "", "format": "gguf", "family": family, "families": [family],
                    "parameter_size": "7.6B", "quantization_level": "Q4_K_M"},
    }


def free_port() -> int:
    """A loopback port with nothing listening on it (for 'connection refused')."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
