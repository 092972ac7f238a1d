"""A bounded number of answers in flight; the rest wait a bounded time, then get 503 with Retry-After."""

from __future__ import annotations

import asyncio

from api.errors import ApiError


class Slot:
    """One answer's place; ``release`` may be called more than once."""

    def __init__(self, semaphore: asyncio.Semaphore) -> None:
        self._semaphore: asyncio.Semaphore | None = semaphore

    def release(self) -> None:
        if self._semaphore is not None:
            self._semaphore.release()
            self._semaphore = None


class AnswerSlots:
    """``RAG_API_MAX_ANSWERS`` slots; ``acquire`` waits up to ``RAG_API_QUEUE_TIMEOUT`` seconds."""

    def __init__(self, size: int, wait: float) -> None:
        self.size = size
        self.wait = wait
        self._semaphore = asyncio.Semaphore(size)

    async def acquire(self) -> Slot:
        try:
            await asyncio.wait_for(self._semaphore.acquire(), timeout=self.wait)
        except TimeoutError:
            retry = max(1, round(self.wait)) if self.wait else 5
            raise ApiError(503, f"the server is answering {self.size} questions already: try again in "
                                f"{retry} s (RAG_API_MAX_ANSWERS)", {"Retry-After": str(retry)}) from None
        return Slot(self._semaphore)
