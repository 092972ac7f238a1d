"""REST endpoints under ``/api``: the CLI's ``--json`` shapes over HTTP.

Handlers parse, authorise (``CurrentIdentity``), call the service and shape the answer; every check of
who may read or write a collection is the library's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.responses import Response

from api.auth import CurrentIdentity
from api.errors import ApiError, error_body, status_of
from api.runtime import Runtime, WatchedGenerator
from api.streaming import ClosingStream, closing, sse
from ingest.pipeline import SUPPORTED
from ingest.uploads import Upload, remove_document, upload_name
from rag.answer.answerer import Answerer
from rag.errors import LoadError, RagError
from rag.types import Answer, Turn

router = APIRouter(prefix="/api", tags=["REST"])

MAX_FILES = 20  # per upload request (each is held in memory until its job runs)


class SearchRequest(BaseModel):
    query: str = Field(min_length=1, max_length=4000)
    collection: str | None = None
    k: int | None = Field(default=None, ge=1, le=100)
    method: Literal["hybrid", "dense", "lexical"] = "hybrid"


class TurnIn(BaseModel):
    question: str
    answer: str


class AskRequest(BaseModel):
    question: str = Field(min_length=1, max_length=4000)
    collection: str | None = None
    k: int | None = Field(default=None, ge=1, le=100)
    model: str | None = Field(default=None, description="the Ollama model (default RAG_MODEL)")
    history: list[TurnIn] = Field(default_factory=list, description="earlier turns, oldest first")
    stream: bool = Field(default=False, description="server-sent events: token..., then citations, done")


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


@router.get("/collections")
async def collections(request: Request, who: CurrentIdentity) -> dict[str, Any]:
    """The collections the key may read."""
    names = await anyio.to_thread.run_sync(lambda: runtime(request).service.collections(identity=who))
    return {"collections": names}


@router.post("/search")
async def search(body: SearchRequest, request: Request, who: CurrentIdentity) -> dict[str, Any]:
    """Passages only, as ``rag search --json``."""
    service = runtime(request).service
    hits = await anyio.to_thread.run_sync(
        lambda: service.search(body.query, body.collection, body.k, body.method, identity=who))
    return {"query": body.query, "hits": [h.to_json() for h in hits]}


def whole_answer(answerer: Answerer, watched: WatchedGenerator, question: str, history: list[Turn],
                 k: int | None) -> Answer:
    """``answerer.ask``, with a 504 when the answer fell back to extracts because Ollama timed out."""
    answer = answerer.ask(question, history, k)
    if watched.timed_out is not None and answer.mode == "extractive":
        raise ApiError(504, str(watched.timed_out))
    return answer


@router.post("/ask", response_model=None)
async def ask(body: AskRequest, request: Request, who: CurrentIdentity) -> dict[str, Any] | Response:
    """An answer with citations, as ``rag ask --json``; with ``"stream": true``, server-sent events:
    ``status`` (notices), ``token`` {"text"}..., ``citations`` {"citations"}, ``done`` (the whole answer)."""
    rt = runtime(request)
    history = [Turn(t.question, t.answer) for t in body.history]
    answerer, watched = await anyio.to_thread.run_sync(lambda: rt.answerer(body.collection, who, body.model))
    slot = await rt.slots.acquire()
    if body.stream:
        events = _ask_events(answerer, body.question, history, body.k)
        return ClosingStream(closing(events, slot.release), slot.release)
    try:
        answer = await anyio.to_thread.run_sync(
            lambda: whole_answer(answerer, watched, body.question, history, body.k))
    finally:
        slot.release()
    return answer.to_json()


def _ask_events(answerer: Answerer, question: str, history: list[Turn], k: int | None) -> Iterator[str]:
    try:
        for kind, data in answerer.stream(question, history, k):
            if kind == "status":
                yield sse({"notice": data}, "status")
            elif kind == "token":
                yield sse({"text": data}, "token")
            elif kind == "done":
                yield sse({"citations": [c.to_json() for c in data.citations]}, "citations")
                if data.notice:
                    yield sse({"notice": data.notice}, "notice")
                yield sse(data.to_json(), "done")
    except RagError as exc:  # after the headers: the status can no longer say it, the last event does
        yield sse(error_body(status_of(exc), str(exc)), "error")


@router.get("/collections/{collection}/documents")
async def documents(collection: str, request: Request, who: CurrentIdentity) -> dict[str, Any]:
    """The documents of a collection, as ``rag docs list --json``."""
    docs = await anyio.to_thread.run_sync(lambda: runtime(request).service.documents(collection, identity=who))
    return {"collection": collection, "documents": [d.to_json() for d in docs]}


@router.delete("/collections/{collection}/documents/{name}")
async def remove(collection: str, name: str, request: Request, who: CurrentIdentity) -> dict[str, Any]:
    """Remove a document by file name or sha256 prefix (8+ characters), with its kept upload."""
    service = runtime(request).service

    def run() -> list[str]:
        service.require(collection, "write", identity=who)
        found = service.find_documents(name, collection, identity=who)
        for doc in found:
            remove_document(service, collection, doc.sha256, identity=who)
        return [d.name for d in found]

    return {"removed": await anyio.to_thread.run_sync(run)}


@router.post("/collections/{collection}/documents", status_code=202)
async def upload(collection: str, request: Request, who: CurrentIdentity,
                 files: Annotated[list[UploadFile], File(description="one or more files")]) -> JSONResponse:
    """Queue files for ingestion; answers at once with the job (202, ``Location``: where to follow it)."""
    rt = runtime(request)
    limit = rt.service.settings.max_upload_mb
    if not files or len(files) > MAX_FILES:
        raise ApiError(422, f"send between 1 and {MAX_FILES} files in the 'files' field")
    for file in files:
        suffix = "." + (file.filename or "").rsplit(".", 1)[-1].lower() if "." in (file.filename or "") else ""
        if suffix not in SUPPORTED:
            raise ApiError(415, f"{file.filename!r}: unsupported file type {suffix or '(none)'} "
                                f"(read: {', '.join(sorted(SUPPORTED))})")
    await anyio.to_thread.run_sync(lambda: rt.service.require(collection, "write", identity=who))
    uploads: list[Upload] = []
    for file in files:
        data = await file.read(limit * 1024 * 1024 + 1)
        if len(data) > limit * 1024 * 1024:
            raise ApiError(413, f"{file.filename!r} is larger than the {limit} MB limit per file (RAG_MAX_UPLOAD_MB)")
        try:
            name = upload_name(file.filename or "")
        except LoadError as exc:
            raise ApiError(422, f"{file.filename!r}: {exc.reason}") from None
        uploads.append(Upload(name, data))
    job = rt.jobs.submit(who, collection, uploads)
    if job is None:
        raise ApiError(503, "too many ingestion jobs are waiting: try again later", {"Retry-After": "60"})
    return JSONResponse({"job": job.to_json()}, status_code=202, headers={"Location": f"/api/jobs/{job.id}"})


@router.get("/jobs")
async def jobs(request: Request, who: CurrentIdentity) -> dict[str, Any]:
    """The caller's latest ingestion jobs, newest first."""
    return {"jobs": [j.to_json() for j in runtime(request).jobs.store.for_user(who.user)]}


@router.get("/jobs/{job_id}")
async def job(job_id: str, request: Request, who: CurrentIdentity) -> dict[str, Any]:
    """One job: state (queued, running, done, failed, interrupted), each file's outcome and reason."""
    found = runtime(request).jobs.store.get(job_id)
    if found is None or found.user != who.user:
        raise ApiError(404, f"no ingestion job {job_id!r} of yours")
    return {"job": found.to_json()}
