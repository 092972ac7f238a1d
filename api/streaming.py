"""Streams from the (synchronous) answering chain, closed as soon as the client goes away.

Each step of the chain's generator runs in a worker thread; when the client disconnects, Starlette
cancels the response, and the generator is closed, which closes the model's stream to Ollama: the
generation stops instead of running on for nobody.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, cast

import anyio
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

_END = object()


async def closing(events: Iterator[str], on_close: Callable[[], None]) -> AsyncIterator[str]:
    """``events`` pulled in a worker thread; closed (and ``on_close`` called) however the stream ends."""
    try:
        while True:
            item = await anyio.to_thread.run_sync(next, events, _END)
            if item is _END:
                break
            yield cast(str, item)
    finally:
        with anyio.CancelScope(shield=True):
            close = getattr(events, "close", None)
            if callable(close):
                await anyio.to_thread.run_sync(close)
            on_close()


class ClosingStream(StreamingResponse):
    """A server-sent event stream whose body is closed even when it never started (early disconnect)."""

    def __init__(self, body: AsyncIterator[str], on_close: Callable[[], None]) -> None:
        super().__init__(body, media_type="text/event-stream",
                         headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self._on_close = on_close
        self._body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                aclose = getattr(self._body, "aclose", None)
                if callable(aclose):
                    await aclose()
                self._on_close()


def sse(data: Any, event: str | None = None) -> str:
    """One server-sent event; ``data`` as JSON unless it is already text."""
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return (f"event: {event}\n" if event else "") + f"data: {text}\n\n"
