"""The FastAPI application: ``create_app(service)``; ``rag serve`` runs it on uvicorn.

    uvicorn.run(create_app(Service.from_settings()), host="127.0.0.1", port=8502)
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from starlette.types import ASGIApp, Receive, Scope, Send

from api import errors, openai_compat, rest
from api.errors import error_response
from api.rest import MAX_FILES
from api.runtime import Runtime
from rag import __version__
from rag.service import Service

log = logging.getLogger(__name__)


class BodyLimit:
    """Refuse a request whose declared body exceeds what an upload may hold, before it is read (413)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            length = dict(scope.get("headers") or []).get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.max_bytes:
                response = error_response(413, f"the request is larger than {self.max_bytes // 2**20} MB "
                                                "(RAG_MAX_UPLOAD_MB per file)")
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def create_app(service: Service) -> FastAPI:
    """The API over ``service``; its background parts (jobs, keys) start and stop with the server."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.runtime = Runtime.start(service)
        app.state.auth = app.state.runtime.auth
        try:
            yield
        finally:
            app.state.runtime.close()

    app = FastAPI(
        title="Pregunte a sus documentos — API",
        version=__version__,
        description="Search, ask and manage documents over HTTP, with the same permissions as the web app. "
                    "Send `Authorization: Bearer KEY` (keys: `rag keys create` or the web app). "
                    "OpenAI-compatible chat under /v1 (models `rag:COLLECTION`).",
        lifespan=lifespan,
    )
    errors.install(app)
    app.include_router(rest.router)
    app.include_router(openai_compat.router)

    @app.get("/health", tags=["health"])
    async def health(request: Request) -> dict[str, Any]:
        """Liveness for compose and load balancers; says nothing about the documents."""
        return {"status": "ok", "version": __version__}

    limit = service.settings.max_upload_mb * 2**20
    app.add_middleware(BodyLimit, max_bytes=limit * MAX_FILES + 2**20)
    return app
