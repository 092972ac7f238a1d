"""The HTTP API on a live uvicorn: the real `openai` client and httpx, keys of two users in two groups.

Department mode throughout: ana (group rrhh) and luis (group obras) each read one collection; nothing of
the other's may show over any endpoint, not a passage, a name or a count.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from api.slots import AnswerSlots
from ingest.pipeline import SUPPORTED
from ingest.uploads import Upload, ingest_uploads
from rag.access import Identity
from rag.keys import KeyStore
from rag.service import Service
from rag.settings import Settings
from tests.api_server import LiveServer
from tests.conftest import SHARED
from tests.helpers import make_pdf
from tests.invariants import assert_consistent
from tests.ollama_stub import OllamaStub

pytestmark = pytest.mark.slow

SECRET_RRHH = "RRHH-4471"
SECRET_OBRAS = "OBRAS-9925"
ADVERSARIAL = SHARED / "pdfs" / "adversarial"
OFFICE = SHARED / "office"


class World:
    """One server, two collections, two users with a key each."""

    def __init__(self, server: LiveServer, stub: OllamaStub, service: Service, keys: dict[str, str]) -> None:
        self.server, self.stub, self.service, self.keys = server, stub, service, keys
        self.cleanup: list[Any] = []

    def http(self, who: str | None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.keys[who]}"} if who else {}
        return httpx.Client(base_url=self.server.url, headers=headers, timeout=60)

    def openai(self, who: str) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.server.url + "/v1", api_key=self.keys[who], max_retries=0, timeout=60)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Iterator[World]:
    data = tmp_path_factory.mktemp("api") / "data"
    with OllamaStub() as stub:
        settings = Settings(data_dir=data, ollama_host=stub.url, request_timeout=10.0, mode="department",
                            cookie_secret="x" * 40, admin_users=["boss@uni.es"], api_queue_timeout=5.0,
                            _env_file=None)  # type: ignore[call-arg]
        service = Service(settings, embedder=embedder)
        op = Identity.operator()
        for col, group, text in [
                ("rrhh", "rrhh", f"La nómina de marzo se paga el día 28. Código {SECRET_RRHH}."),
                ("obras", "obras", f"La obra del edificio B termina en junio. Código {SECRET_OBRAS}.")]:
            service.create_collection(col, identity=op, group=group)
            report = ingest_uploads(service, col, [Upload(f"{col}_aviso.txt", text.encode())], identity=op)
            assert report.added, report.failed
        store = KeyStore.open(data)
        keys = {"ana": store.create("ana@uni.es", ["rrhh"])[1], "luis": store.create("luis@uni.es", ["obras"])[1]}
        with LiveServer(service) as server:
            world = World(server, stub, service, keys)
            yield world
            for close in world.cleanup:
                close()


def _one_line_error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    message = body["error"]["message"]
    assert "\n" not in message and "Traceback" not in response.text and body["error"]["code"] == status
    return str(message)


# -- OpenAI-compatible ------------------------------------------------------------------------------
def test_openai_client_lists_models_and_chats_whole_and_streamed(world: World) -> None:
    client = world.openai("ana")
    world.cleanup.append(client.close)
    assert [m.id for m in client.models.list()] == ["rag:rrhh"]

    reply = client.chat.completions.create(
        model="rag:rrhh", messages=[{"role": "user", "content": "¿Cuándo se paga la nómina de marzo?"}])
    message = reply.choices[0].message
    assert "[1]" in message.content and "Fuentes:" in message.content and "rrhh_aviso.txt" in message.content
    citations = message.model_extra["citations"]
    assert citations[0]["source"] == "rrhh_aviso.txt" and SECRET_RRHH in citations[0]["text"]
    assert reply.choices[0].finish_reason == "stop"

    stream = client.chat.completions.create(
        model="rag:rrhh", stream=True,
        messages=[{"role": "system", "content": "Sé breve."},
                  {"role": "user", "content": "¿Cuándo se paga la nómina?"},
                  {"role": "assistant", "content": "El día 28 [1]."},
                  {"role": "user", "content": "¿Y qué código tiene?"}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert "[1]" in text and chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model_extra["citations"][0]["source"] == "rrhh_aviso.txt"
    condense = world.stub.chat_prompts()[-2]  # the follow-up was condensed with the earlier turn
    assert "nómina" in condense and "código" in condense


def test_stream_ends_with_done_in_openai_format(world: World) -> None:
    body = {"model": "rag:rrhh", "stream": True, "messages": [{"role": "user", "content": "¿Qué código?"}]}
    with world.http("ana") as client, client.stream("POST", "/v1/chat/completions", json=body) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]" and all(line.startswith("data: ") for line in lines)
    first = json.loads(lines[0][6:])
    assert first["object"] == "chat.completion.chunk" and first["choices"][0]["delta"]["role"] == "assistant"


# -- REST -------------------------------------------------------------------------------------------
def test_rest_search_ask_and_documents_in_the_cli_shapes(world: World) -> None:
    with world.http("ana") as client:
        assert client.get("/api/collections").json() == {"collections": ["rrhh"]}
        found = client.post("/api/search", json={"query": "nómina de marzo", "collection": "rrhh", "k": 3}).json()
        assert found["query"] == "nómina de marzo"
        assert set(found["hits"][0]) == {"rank", "source", "page", "page_end", "locator", "text", "score", "chunk_id",
                                         "ocr", "ocr_confidence"}
        answer = client.post("/api/ask", json={"question": "¿Cuándo se paga la nómina?", "collection": "rrhh"}).json()
        assert {"question", "answer", "mode", "model", "citations", "hits", "supported", "abstained"} <= set(answer)
        assert answer["mode"] == "llm" and answer["citations"][0]["source"] == "rrhh_aviso.txt"
        docs = client.get("/api/collections/rrhh/documents").json()
        assert [d["name"] for d in docs["documents"]] == ["rrhh_aviso.txt"]

        events = []
        with client.stream("POST", "/api/ask", json={"question": "¿Cuándo se paga la nómina?",
                                                      "collection": "rrhh", "stream": True}) as response:
            event = None
            for line in response.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    events.append((event, json.loads(line[6:])))
        kinds = [k for k, _ in events]
        assert kinds[0] == "token" and kinds[-2:] == ["citations", "done"] and "token" not in kinds[kinds.index(
            "citations"):]
        assert "".join(d["text"] for k, d in events if k == "token") == events[-1][1]["answer"]


def test_no_cross_group_passage_name_or_count_over_any_endpoint(world: World) -> None:
    seen: list[str] = []
    with world.http("luis") as client:
        def call(method: str, url: str, **kw: Any) -> httpx.Response:
            response = client.request(method, url, **kw)
            seen.append(response.text)
            return response

        assert call("GET", "/api/collections").json() == {"collections": ["obras"]}
        assert [m["id"] for m in call("GET", "/v1/models").json()["data"]] == ["rag:obras"]
        hidden, missing = [], []
        for col, bucket in [("rrhh", hidden), ("nadaaqui", missing)]:
            bucket.append(call("POST", "/api/search", json={"query": "nómina", "collection": col}))
            bucket.append(call("POST", "/api/ask", json={"question": "nómina", "collection": col}))
            bucket.append(call("GET", f"/api/collections/{col}/documents"))
            bucket.append(call("DELETE", f"/api/collections/{col}/documents/rrhh_aviso.txt"))
            bucket.append(call("POST", f"/api/collections/{col}/documents", files={"files": ("a.txt", b"hola")}))
            bucket.append(call("POST", "/v1/chat/completions", json={
                "model": f"rag:{col}", "messages": [{"role": "user", "content": "nómina"}]}))
            bucket.append(call("POST", "/api/ask", json={"question": "nómina", "collection": col, "stream": True}))
            bucket.append(call("POST", "/v1/chat/completions", json={
                "model": col, "stream": True, "messages": [{"role": "user", "content": "nómina"}]}))
        for a, b in zip(hidden, missing, strict=True):  # a forbidden collection looks exactly like a missing one
            assert _one_line_error(a, 404).replace("rrhh", "X") == _one_line_error(b, 404).replace("nadaaqui", "X")
        # his own collection: searching the other's words finds only his passages
        own = call("POST", "/api/search", json={"query": "nómina de marzo día 28 código", "collection": "obras"})
        assert {h["source"] for h in own.json()["hits"]} <= {"obras_aviso.txt"}
        with world.http("ana") as ana:
            ana_job = ana.post("/api/collections/rrhh/documents",
                               files={"files": ("b.txt", b"Otro aviso de rrhh.")}).json()["job"]["id"]
        assert _one_line_error(call("GET", f"/api/jobs/{ana_job}"), 404)
        assert call("GET", "/api/jobs").json() == {"jobs": []}
        with pytest.raises(openai.NotFoundError), world.openai("luis") as luis_ai:
            luis_ai.chat.completions.create(model="rag:rrhh", messages=[{"role": "user", "content": "x"}])
    everything = "\n".join(seen)
    assert SECRET_RRHH not in everything and "rrhh_aviso" not in everything and "b.txt" not in everything


# -- errors ---------------------------------------------------------------------------------------
def test_bad_requests_get_their_status_and_one_line(world: World) -> None:
    with httpx.Client(base_url=world.server.url, timeout=30) as anon:
        _one_line_error(anon.get("/api/collections"), 401)
        _one_line_error(anon.get("/v1/models", headers={"Authorization": "Bearer rag_0000aaaa_" + "x" * 43}), 401)
        assert anon.get("/health").json()["status"] == "ok"
        assert anon.get("/docs").status_code == 200 and "/v1/chat/completions" in anon.get("/openapi.json").text
    wrong = openai.OpenAI(base_url=world.server.url + "/v1", api_key="wrong", max_retries=0)
    with pytest.raises(openai.AuthenticationError), wrong:
        wrong.models.list()
    with world.http("ana") as client:
        _one_line_error(client.post("/v1/chat/completions", json={"model": "rag:rrhh"}), 422)
        _one_line_error(client.post("/api/ask", content=b"{not json", headers={"Content-Type": "application/json"}),
                        422)
        _one_line_error(client.post("/api/search", json={"query": ""}), 422)
        assert "unsupported" in _one_line_error(
            client.post("/api/collections/rrhh/documents", files={"files": ("virus.exe", b"MZ")}), 415)
        world.service.settings.max_upload_mb = 1
        try:
            big = ("grande.txt", b"a " * (600 * 1024))
            assert "1 MB" in _one_line_error(client.post("/api/collections/rrhh/documents", files={"files": big}), 413)
        finally:
            world.service.settings.max_upload_mb = 200
        with world.http("luis") as luis:
            _one_line_error(luis.delete("/api/collections/obras/documents/nada.txt"), 404)


def test_saturated_server_answers_503_with_retry_after(world: World) -> None:
    runtime = world.server.runtime
    saved, runtime.slots = runtime.slots, AnswerSlots(1, 0.3)
    world.stub.reply = lambda messages: "palabra " * 200 + "[1]"
    world.stub.token_delay = 0.05
    try:
        body = {"question": "¿Cuándo se paga la nómina?", "collection": "rrhh", "stream": True}
        with world.http("ana") as client, client.stream("POST", "/api/ask", json=body) as holding:
            lines = holding.iter_lines()  # kept: a dropped iterator closes the response (a disconnect)
            next(lines)  # the one slot is taken while this answer streams
            with world.http("ana") as other:
                refused = other.post("/api/ask", json={"question": "otra", "collection": "rrhh"})
                assert _one_line_error(refused, 503) and int(refused.headers["Retry-After"]) >= 1
                chat = other.post("/v1/chat/completions", json={
                    "model": "rag:rrhh", "messages": [{"role": "user", "content": "otra"}]})
                _one_line_error(chat, 503)
    finally:
        runtime.slots = saved
        world.stub.reply = OllamaStub().reply
        world.stub.token_delay = 0.0


def test_a_client_that_hangs_up_stops_the_generation(world: World) -> None:
    world.stub.reply = lambda messages: "palabra " * 100_000 + "[1]"  # half an hour at this rate: never ends
    world.stub.token_delay = 0.02
    before = world.stub.streams_closed
    try:
        body = {"model": "rag:rrhh", "stream": True, "messages": [{"role": "user", "content": "¿La nómina?"}]}
        with world.http("ana") as client, client.stream("POST", "/v1/chat/completions", json=body) as response:
            for n, _ in enumerate(response.iter_lines()):
                if n > 10:
                    break  # leave mid-answer: the client closes the connection
        deadline = time.monotonic() + 120  # only a guard: the stream ends only if the server closes it
        while world.stub.streams_closed == before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert world.stub.streams_closed == before + 1  # Ollama's stream was closed by the server
    finally:
        world.stub.reply = OllamaStub().reply
        world.stub.token_delay = 0.0
    with world.http("ana") as client:
        ok = client.post("/api/ask", json={"question": "¿La nómina?", "collection": "rrhh"})
    assert ok.status_code == 200  # and its slot was given back


def test_ollama_timeout_is_504(world: World) -> None:
    runtime = world.server.runtime
    world.service.settings.request_timeout = 0.5
    runtime._generators.clear()
    world.stub.delay = 3600  # answers only when the stub stops: the timeout is the only way out
    try:
        with world.http("ana") as client:
            response = client.post("/api/ask", json={"question": "¿La nómina?", "collection": "rrhh"})
        assert "RAG_REQUEST_TIMEOUT" in _one_line_error(response, 504)
    finally:
        world.stub.delay = 0.0
        world.service.settings.request_timeout = 10.0
        runtime._generators.clear()


# -- uploads and jobs -----------------------------------------------------------------------------
def _wait_job(client: httpx.Client, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        job: dict[str, Any] = client.get(f"/api/jobs/{job_id}").json()["job"]
        if job["state"] in {"done", "failed", "interrupted"}:
            return job
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish")


def test_hostile_pdfs_and_office_files_through_jobs_end_with_reasons(world: World) -> None:
    if not ADVERSARIAL.is_dir():
        pytest.skip(f"shared data not found at {SHARED}")
    hostile = ["qpdf__bad1.pdf", "pdfjs__helloworld-bad.pdf", "qpdf__pages-loop.pdf", "ocrmypdf__invalid.pdf",
               "pypdf__r4-aes-user-password.pdf", "qpdf__empty.pdf"]
    files = [("files", (n, (ADVERSARIAL / n).read_bytes())) for n in hostile]
    files.append(("files", ("circular.pdf", make_pdf(["Circular de rrhh sobre vacaciones de agosto."]))))
    with world.http("ana") as client:
        accepted = client.post("/api/collections/rrhh/documents", files=files)
        assert accepted.status_code == 202 and accepted.headers["Location"].startswith("/api/jobs/")
        job = _wait_job(client, accepted.json()["job"]["id"])
        assert job["state"] == "done" and job["progress"]["done"] == len(files)
        by_name = {f["name"]: f for f in job["files"]}
        assert by_name["circular.pdf"]["status"] == "added"
        failed = [f for f in job["files"] if f["status"] == "failed"]
        assert failed and all(f["reason"] and "\n" not in f["reason"] for f in failed)
        assert job["report"]["added"] == ["circular.pdf"] or "circular.pdf" in job["report"]["added"]
        assert_consistent(world.service.index, "rrhh")

        office = sorted(p for p in (OFFICE / "docs").iterdir())[:2] + sorted((OFFICE / "adversarial").iterdir())[:3]
        for path in office:  # office formats are read once their loaders are in (SUPPORTED says which)
            response = client.post("/api/collections/rrhh/documents", files={"files": (path.name, path.read_bytes())})
            if Path(path.name).suffix.lower() in SUPPORTED:
                done = _wait_job(client, response.json()["job"]["id"])
                assert all(f["status"] != "failed" or f["reason"] for f in done["files"])
            else:
                assert "unsupported" in _one_line_error(response, 415)


def test_a_job_cut_by_a_restart_is_reported_interrupted(world: World) -> None:
    from ingest.jobs import JobRunner, JobStore

    store = JobStore.open(world.service.settings.data_dir)
    job = store.create("ana@uni.es", "rrhh", ["a.pdf", "b.pdf"])
    job.state = "running"
    job.files[0].status = "added"
    store.update(job)
    JobRunner(world.service, store).close()  # what a server does when it starts
    with world.http("ana") as client:
        seen = client.get(f"/api/jobs/{job.id}").json()["job"]
    assert seen["state"] == "interrupted" and "again" in seen["error"]
    assert [f["status"] for f in seen["files"]] == ["added", "interrupted"]
