"""Ollama's HTTP wire format for the stand-in: the request handler and the response bodies it sends."""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.ollama_stub import OllamaStub

VERSION = "0.12.6"


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


def handler_for(stub: OllamaStub) -> type[BaseHTTPRequestHandler]:
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
            stub.record("GET", self.path, {})
            if self.path == "/api/version":
                self._send_json(200, {"version": VERSION})
            elif self.path == "/api/tags":
                self._send_json(200, {"models": [_model_entry(name, stub.card(name)) for name in stub.models]})
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
            stub.record("POST", self.path, body)
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
            card = stub.card(name)
            arch = card.get("family", stub.architecture)
            parameters = 'stop                           "<|im_end|>"'
            if stub.num_ctx is not None:
                parameters += f"\nnum_ctx                        {stub.num_ctx}"
            shown: dict[str, Any] = {
                "modelfile": f"# Modelfile generated by \"ollama show\"\nFROM {name}\n",
                "parameters": parameters,
                "template": "{{ .Prompt }}",
                "details": {"parent_model": "", "format": "gguf", "family": arch, "families": [arch],
                            "parameter_size": card.get("parameter_size", "7.6B"),
                            "quantization_level": card.get("quantization_level", "Q4_K_M")},
                "model_info": {"general.architecture": arch,
                               "general.parameter_count": card.get("parameter_count", 7615616512),
                               f"{arch}.context_length": card.get("context_length", stub.context_length),
                               f"{arch}.embedding_length": 3584},
                "capabilities": ["embedding"] if "embed" in name else ["completion"],
                "modified_at": "2025-01-01T00:00:00Z",
            }
            if "license" in card:
                shown["license"] = card["license"]
            self._send_json(200, shown)

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
            self._answer(body, prompt, lambda: stub.reply_for(str(body.get("model", "")))(messages), "message")

        def _generate(self, body: dict[str, Any]) -> None:
            prompt = str(body.get("prompt", ""))
            reply = stub.reply_for(str(body.get("model", "")))
            self._answer(body, prompt, lambda: reply([{"role": "user", "content": prompt}]), "response")

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
                if stub.token_delay and i and stub._stopping.wait(stub.token_delay):
                    return
                if stub.cut_after is not None and i >= stub.cut_after:
                    self._abort()
                    return
                if stub.stream_error_after is not None and i >= stub.stream_error_after:
                    self._write_chunk({"error": stub.fail_message})
                    break
                try:
                    self._write_chunk(piece(text, False))
                except OSError:  # the client hung up mid-answer (and so stopped the generation)
                    stub.streams_closed += 1
                    self.close_connection = True
                    return
            else:
                if stub.cut_after is not None and stub.cut_after >= len(chunks):
                    self._abort()  # every chunk sent, but never the final "done" object
                    return
                self._write_chunk(piece("", True) | {"done_reason": stub.done_reason}
                                  | _final_counters(prompt, chunks))
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    return Handler


def _model_entry(name: str, card: dict[str, Any]) -> dict[str, Any]:
    digest = hashlib.sha256(name.encode()).hexdigest()
    family = card.get("family", name.split(":")[0].split("/")[-1])
    return {
        "name": name, "model": name, "modified_at": "2025-01-01T00:00:00.000000000Z",
        "size": card.get("size", 4_683_087_332), "digest": digest,
        "details": {"parent_model": "", "format": "gguf", "family": family, "families": [family],
                    "parameter_size": card.get("parameter_size", "7.6B"),
                    "quantization_level": card.get("quantization_level", "Q4_K_M")},
    }
