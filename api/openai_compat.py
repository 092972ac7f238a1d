"""OpenAI-compatible endpoints under ``/v1``: each readable collection is a model named ``rag:COLLECTION``.

``POST /v1/chat/completions`` answers the last user message from that collection with the project's own
chain (earlier turns condense a follow-up; ``[n]`` markers in the text). The citations travel in an
extra field, ``citations`` ([{"n", "source", "page", "text"}]), on the response's message (and top level)
or on the stream's last chunk; a client that ignores them still gets the answer with a short list of its
sources at the end of the text (``"rag_sources_in_text": false`` in the request leaves it out).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from typing import Any

import anyio
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from starlette.responses import Response

from api.auth import CurrentIdentity
from api.errors import ApiError, error_body, status_of
from api.rest import runtime, whole_answer
from api.streaming import ClosingStream, closing, sse
from rag.answer.answerer import Answerer
from rag.errors import RagError
from rag.text import detect_language
from rag.types import Answer, Citation, Turn

router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"])

MODEL_PREFIX = "rag:"


class Message(BaseModel):
    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):  # [{"type": "text", "text": ...}, {"type": "image_url", ...}]
            return "\n".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatRequest(BaseModel):
    model: str = Field(description="rag:COLLECTION (as /v1/models lists them)")
    messages: list[Message] = Field(min_length=1)
    stream: bool = False
    rag_sources_in_text: bool = Field(default=True, description="append the sources' list to the answer text")
    model_config = {"extra": "allow"}  # temperature, max_tokens...: accepted, the chain decides


def collection_of(model: str) -> str:
    """``rag:default`` -> ``default`` (a bare collection name works too)."""
    return model.removeprefix(MODEL_PREFIX)


def conversation(messages: list[Message]) -> tuple[str, list[Turn]]:
    """The last user message, and the earlier user/assistant pairs as turns (system messages are ignored)."""
    turns: list[Turn] = []
    pending: str | None = None
    last = None
    for i, m in enumerate(messages):
        if m.role == "user":
            if i == len(messages) - 1:
                last = m.text()
            else:
                pending = m.text()
        elif m.role == "assistant" and pending is not None:
            turns.append(Turn(pending, m.text()))
            pending = None
    if last is None or not last.strip():
        raise ApiError(422, "malformed request: messages: the last message must be the user's question")
    return last, turns


def sources_text(question: str, citations: list[Citation]) -> str:
    """The footer a client that knows nothing of ``citations`` shows: one line per cited passage."""
    if not citations:
        return ""
    label = "Fuentes" if detect_language(question) == "es" else "Sources"
    lines = [f"[{c.n}] {c.source}, p. {c.page}" for c in citations]
    return f"\n\n{label}:\n" + "\n".join(lines)


def _extra(answer: Answer) -> dict[str, Any]:
    out: dict[str, Any] = {"citations": [c.to_json() for c in answer.citations]}
    if answer.notice:
        out["notice"] = answer.notice
    return out


@router.get("/models")
async def models(request: Request, who: CurrentIdentity) -> dict[str, Any]:
    """The collections the key may read, as models."""
    names = await anyio.to_thread.run_sync(lambda: runtime(request).service.collections(identity=who))
    return {"object": "list", "data": [{"id": MODEL_PREFIX + n, "object": "model", "created": 0,
                                        "owned_by": "rag"} for n in names]}


@router.post("/chat/completions", response_model=None)
async def chat(body: ChatRequest, request: Request, who: CurrentIdentity) -> dict[str, Any] | Response:
    """An answer from the collection the model names, whole or streamed as ``chat.completion.chunk``s."""
    rt = runtime(request)
    question, history = conversation(body.messages)
    answerer, watched = await anyio.to_thread.run_sync(lambda: rt.answerer(collection_of(body.model), who))
    slot = await rt.slots.acquire()
    created, ident = int(time.time()), "chatcmpl-" + secrets.token_hex(12)
    if body.stream:
        events = _chunks(answerer, question, history, body.model, ident, created, body.rag_sources_in_text)
        return ClosingStream(closing(events, slot.release), slot.release)
    try:
        answer = await anyio.to_thread.run_sync(lambda: whole_answer(answerer, watched, question, history, None))
    finally:
        slot.release()
    text = answer.answer + (sources_text(question, answer.citations) if body.rag_sources_in_text else "")
    return {"id": ident, "object": "chat.completion", "created": created, "model": body.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text, **_extra(answer)},
                         "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}, **_extra(answer)}


def _chunks(answerer: Answerer, question: str, history: list[Turn], model: str, ident: str, created: int,
            footer: bool) -> Iterator[str]:
    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        return sse({"id": ident, "object": "chat.completion.chunk", "created": created, "model": model,
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra})

    yield chunk({"role": "assistant", "content": ""})
    try:
        for kind, data in answerer.stream(question, history):
            if kind == "token" and data:
                yield chunk({"content": data})
            elif kind == "done":
                if footer and (tail := sources_text(question, data.citations)):
                    yield chunk({"content": tail})
                yield chunk({}, "stop", **_extra(data))
    except RagError as exc:  # the headers are sent: say it in the stream, as OpenAI does
        yield sse(error_body(status_of(exc), str(exc)))
    yield sse("[DONE]")


