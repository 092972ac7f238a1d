"""Department mode in the library (issue 17): every path that reads a collection refuses a caller without
the right, and what comes back holds no passage, name or count of a forbidden collection; grants take effect
on the next call; conversations are their owner's only; the audit trail records who changed what."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import SecretStr

from ingest.pipeline import IngestJob
from ingest.uploads import Upload, document_sources, documents_sources, ingest_uploads, reingest_document
from ingest.uploads import remove_document as remove_upload
from rag.access import Identity, implies
from rag.errors import (
    AccessDeniedError,
    CollectionNotFoundError,
    ConversationNotFoundError,
    RagError,
    SettingsError,
)
from rag.service import Service
from rag.settings import Settings

SECRET_COLLECTION = "rrhh-expedientes"
SECRET_FILE = "expediente_quiroga.txt"
SECRET_WORD = "ZX-4471"
SECRET_TEXT = (f"Expediente disciplinario {SECRET_WORD} abierto al profesor Quiroga por faltas reiteradas. "
               "La comisión propone suspensión de empleo durante tres meses.")
PUBLIC_TEXT = ("Horario de la biblioteca: abre a las 8:00 y cierra a las 21:00. El expediente académico se "
               "consulta en la secretaría, no en la biblioteca.")
QUESTION = f"¿Qué dice el expediente disciplinario {SECRET_WORD} del profesor Quiroga?"
TOPIC = "¿Qué sanción propone la comisión por las faltas reiteradas?"  # the secret's subject, not its words

ANA = Identity("ana@uni.es", frozenset({"rrhh"}), name="Ana")
CAROL = Identity("carol@uni.es", frozenset({"rrhh"}), name="Carol")
BOB = Identity("bob@uni.es", frozenset({"biblioteca"}), name="Bob")
BOSS = Identity("jefa@uni.es", frozenset({"ti"}), admin=True)


@pytest.fixture
def dept(settings: Settings, embedder: Any) -> Service:
    """A department-mode service with two group collections: rrhh's secret one and the library's."""
    dept_settings = settings.model_copy(update={"mode": "department", "cookie_secret": SecretStr("k" * 40)})
    service = Service(dept_settings, embedder=embedder)
    service.create_collection(SECRET_COLLECTION, identity=ANA, group="rrhh")
    report = ingest_uploads(service, SECRET_COLLECTION, [Upload(SECRET_FILE, SECRET_TEXT.encode()),
                                                         Upload("plazos.txt", b"Plazo de alegaciones: diez dias.")],
                            identity=ANA)
    assert sorted(report.added) == sorted([SECRET_FILE, "plazos.txt"])
    service.create_collection("biblioteca", identity=BOB, group="biblioteca")
    ingest_uploads(service, "biblioteca", [Upload("horario.txt", PUBLIC_TEXT.encode())], identity=BOB)
    return service


def _secret_sha(service: Service) -> str:
    return next(d.sha256 for d in service.documents(SECRET_COLLECTION, identity=ANA) if d.name == SECRET_FILE)


def _outcome(call: Callable[[], Any]) -> Any:
    """What a call gives back, or its error as the user would read it."""
    try:
        result = call()
    except RagError as exc:
        return f"{type(exc).__name__}: {exc}"
    if hasattr(result, "to_json"):
        return result.to_json()
    if isinstance(result, list):
        return [r.to_json() if hasattr(r, "to_json") else repr(r) for r in result]
    return repr(result)


def test_every_read_path_shows_nothing_of_a_forbidden_collection(dept: Service) -> None:
    sha = _secret_sha(dept)
    ana_answer = dept.answerer(SECRET_COLLECTION, identity=ANA).ask(QUESTION)
    assert SECRET_WORD in json.dumps(ana_answer.to_json(), ensure_ascii=False)  # the secret is findable...
    ana_chat = dept.conversations.append(ANA, None, SECRET_COLLECTION, ana_answer)

    bob_answerer = dept.answerer("biblioteca", identity=BOB)
    attempts: dict[str, Callable[[], Any]] = {
        "collections": lambda: dept.collections(identity=BOB),
        "documents": lambda: dept.documents(SECRET_COLLECTION, identity=BOB),
        "find": lambda: dept.find_documents(SECRET_FILE, SECRET_COLLECTION, identity=BOB),
        "find by sha": lambda: dept.find_documents(sha, SECRET_COLLECTION, identity=BOB),
        "find elsewhere": lambda: dept.find_documents(SECRET_FILE, "biblioteca", identity=BOB),
        "search": lambda: dept.search(QUESTION, SECRET_COLLECTION, identity=BOB),
        "search lexical": lambda: dept.search(SECRET_WORD, SECRET_COLLECTION, method="lexical", identity=BOB),
        "search own": lambda: dept.search(QUESTION, "biblioteca", identity=BOB),
        "retriever": lambda: dept.retriever(SECRET_COLLECTION, identity=BOB),
        "answerer": lambda: dept.answerer(SECRET_COLLECTION, identity=BOB),
        "ask own": lambda: bob_answerer.ask(TOPIC),
        "follow-up own": lambda: bob_answerer.ask("¿Y cuánto dura la suspensión?",
                                                  history=dept.conversations.get(BOB, ana_chat).history()),
        "page": lambda: dept.page_text(sha, 1, SECRET_COLLECTION, identity=BOB),
        "page elsewhere": lambda: dept.page_text(sha, 1, "biblioteca", identity=BOB),
        "page info": lambda: dept.page_info(sha, 1, SECRET_COLLECTION, identity=BOB),
        "page info elsewhere": lambda: dept.page_info(sha, 1, "biblioteca", identity=BOB),
        "can": lambda: dept.can(SECRET_COLLECTION, identity=BOB),
        "require": lambda: dept.require(SECRET_COLLECTION, identity=BOB),
        "sources": lambda: documents_sources(dept, SECRET_COLLECTION, {sha}, identity=BOB),
        "source": lambda: document_sources(dept, SECRET_COLLECTION, sha, identity=BOB),
        "upload": lambda: ingest_uploads(dept, SECRET_COLLECTION, [Upload("x.txt", b"hola")], identity=BOB),
        "ingest": lambda: IngestJob(dept, SECRET_COLLECTION, identity=BOB),
        "reindex": lambda: reingest_document(dept, SECRET_COLLECTION, sha, identity=BOB),
        "remove upload": lambda: remove_upload(dept, SECRET_COLLECTION, sha, identity=BOB),
        "remove": lambda: dept.remove_document(SECRET_FILE, SECRET_COLLECTION, identity=BOB),
        "reembed": lambda: dept.reembed(SECRET_COLLECTION, identity=BOB),
        "grants": lambda: dept.grants(SECRET_COLLECTION, identity=BOB),
        "grant": lambda: dept.grant(SECRET_COLLECTION, "user:bob@uni.es", "read", identity=BOB),
        "revoke": lambda: dept.revoke(SECRET_COLLECTION, "group:rrhh", identity=BOB),
        "audit": lambda: dept.audit(identity=BOB),
        "audit of it": lambda: dept.audit(collection=SECRET_COLLECTION, identity=BOB),
        "conversations": lambda: dept.conversations.list(BOB),
        "conversation": lambda: dept.conversations.get(BOB, ana_chat),
        "delete conversation": lambda: dept.conversations.delete(BOB, ana_chat),
        "append to it": lambda: dept.conversations.append(BOB, ana_chat, "biblioteca", ana_answer),
    }
    seen = {name: _outcome(call) for name, call in attempts.items()}
    text = json.dumps(seen, ensure_ascii=False)
    for secret in (SECRET_COLLECTION, SECRET_WORD, "Quiroga", "suspensi", "tres meses", SECRET_FILE, "plazos",
                   "alegaciones", sha[:8], ana_chat):
        names = [name for name, out in seen.items() if secret in json.dumps(out, ensure_ascii=False)]
        if secret in (SECRET_COLLECTION, sha[:8], SECRET_FILE, ana_chat):  # what Bob typed himself, echoed
            names = [n for n in names if not _echoes_only(seen[n], secret)]
        assert not names, f"{secret!r} shows in {names}: {text[:3000]}"
    assert seen["collections"] == [repr("biblioteca")]
    assert seen["can"] == "False"
    assert seen["search own"] and {h["source"] for h in seen["search own"]} == {"horario.txt"}
    # a forbidden collection reads exactly like a missing one, whatever the path
    for name in ("documents", "search", "retriever", "answerer", "page", "page info", "upload", "remove", "grants"):
        assert seen[name].startswith("CollectionNotFoundError: ")
    missing = _outcome(lambda: dept.documents("no-such-thing", identity=BOB))
    assert seen["documents"].replace(SECRET_COLLECTION, "X") == missing.replace("no-such-thing", "X")
    assert dept.conversations.get(ANA, ana_chat).turns[0].answer.citations  # still Ana's, whole


def _echoes_only(out: Any, secret: str) -> bool:
    """True when ``secret`` shows only as the caller's own argument, quoted once in a not-found error."""
    return isinstance(out, str) and out.startswith(("CollectionNotFoundError", "ConversationNotFoundError",
                                                    "DocumentNotFoundError")) \
        and out.count(secret) == 1 and f"'{secret}'" in out


def test_a_reader_cannot_change_and_an_administrator_can_do_everything(dept: Service) -> None:
    dept.grant(SECRET_COLLECTION, "group:biblioteca", "read", identity=ANA)
    assert dept.documents(SECRET_COLLECTION, identity=BOB)
    with pytest.raises(AccessDeniedError, match="'write' right"):
        dept.remove_document(SECRET_FILE, SECRET_COLLECTION, identity=BOB)
    with pytest.raises(AccessDeniedError):
        ingest_uploads(dept, SECRET_COLLECTION, [Upload("x.txt", b"hola")], identity=BOB)
    with pytest.raises(AccessDeniedError, match="'admin' right"):
        dept.grant(SECRET_COLLECTION, "user:bob@uni.es", "admin", identity=BOB)
    with pytest.raises(AccessDeniedError):
        dept.grant(SECRET_COLLECTION, "user:bob@uni.es", "admin", identity=CAROL)  # a writer, not an admin
    assert sorted(dept.collections(identity=BOSS)) == sorted(["biblioteca", "default", SECRET_COLLECTION])
    assert [g.principal for g in dept.grants(SECRET_COLLECTION, identity=BOSS)] == [
        "group:biblioteca", "group:rrhh", "user:ana@uni.es"]
    assert dept.audit(identity=BOSS)


def test_grants_changed_take_effect_on_the_next_call(dept: Service) -> None:
    with pytest.raises(CollectionNotFoundError):
        dept.retriever(SECRET_COLLECTION, identity=BOB)
    dept.grant(SECRET_COLLECTION, "user:bob@uni.es", "read", identity=ANA)
    retriever = dept.retriever(SECRET_COLLECTION, identity=BOB)  # built once, like a page's cached one
    answerer = dept.answerer(SECRET_COLLECTION, identity=BOB)
    assert any(SECRET_WORD in h.text for h in retriever.retrieve(QUESTION, 3))
    assert SECRET_COLLECTION in dept.collections(identity=BOB)
    dept.revoke(SECRET_COLLECTION, "user:bob@uni.es", identity=ANA)
    with pytest.raises(CollectionNotFoundError):
        retriever.retrieve(QUESTION, 3)
    with pytest.raises(CollectionNotFoundError):
        answerer.ask(QUESTION)
    assert SECRET_COLLECTION not in dept.collections(identity=BOB)
    dept.grant(SECRET_COLLECTION, "group:biblioteca", "write", identity=ANA)
    assert retriever.retrieve(QUESTION, 3)
    dept.revoke(SECRET_COLLECTION, "group:biblioteca", "write", identity=ANA)  # write taken, read kept
    assert [g.right for g in dept.grants(SECRET_COLLECTION, identity=ANA) if g.principal == "group:biblioteca"] \
        == ["read"]
    with pytest.raises(AccessDeniedError):
        dept.remove_document(SECRET_FILE, SECRET_COLLECTION, identity=BOB)


def test_new_collections_belong_to_a_group_of_the_creator(dept: Service) -> None:
    with pytest.raises(SettingsError, match="groups"):
        dept.create_collection("sin-grupo", identity=BOB)
    with pytest.raises(AccessDeniedError, match="not a member"):
        dept.create_collection("ajena", identity=BOB, group="rrhh")
    with pytest.raises(AccessDeniedError, match="taken"):
        dept.create_collection(SECRET_COLLECTION, identity=BOB, group="biblioteca")
    assert dept.create_collection("compras", identity=CAROL, group="rrhh") == "compras"
    assert dept.can("compras", "write", identity=ANA) and not dept.can("compras", "admin", identity=ANA)
    assert dept.can("compras", "admin", identity=CAROL) and not dept.can("compras", identity=BOB)
    assert "compras" not in dept.collections(identity=BOB)
    with pytest.raises(CollectionNotFoundError):  # only administrators create a collection by writing to it
        IngestJob(dept, "nueva", identity=ANA)
    assert IngestJob(dept, "nueva", identity=BOSS).collection == "nueva"


def test_department_mode_needs_an_identity_for_every_call(dept: Service) -> None:
    with pytest.raises(AccessDeniedError, match="identity"):
        dept.documents(SECRET_COLLECTION)
    with pytest.raises(AccessDeniedError, match="identity"):
        dept.collections()


def test_conversations_are_their_owners_and_lose_passages_with_access(dept: Service) -> None:
    answer = dept.answerer(SECRET_COLLECTION, identity=CAROL).ask(QUESTION)
    assert answer.hits and any(SECRET_WORD in h.text for h in answer.hits)
    first = dept.conversations.append(CAROL, None, SECRET_COLLECTION, answer)
    second = dept.answerer("biblioteca", identity=BOSS).ask("¿A qué hora abre la biblioteca?")
    assert dept.conversations.append(CAROL, first, SECRET_COLLECTION, answer) == first
    kept = dept.conversations.get(CAROL, first)
    assert [t.question for t in kept.turns] == [QUESTION, QUESTION] and kept.info.turns == 2
    assert kept.turns[0].answer == answer  # citations and hits, whole
    assert any("suspensión" in h.text for h in kept.turns[0].answer.hits)
    assert kept.history()[0].answer == answer.answer
    assert [c.id for c in dept.conversations.list(CAROL)] == [first]
    for other in (ANA, BOB, BOSS):  # not even an administrator
        assert dept.conversations.list(other) == []
        with pytest.raises(ConversationNotFoundError):
            dept.conversations.get(other, first)
        with pytest.raises(ConversationNotFoundError):
            dept.conversations.delete(other, first)
        with pytest.raises(ConversationNotFoundError):
            dept.conversations.append(other, first, SECRET_COLLECTION if other is ANA else "biblioteca", second)
    with pytest.raises(CollectionNotFoundError):  # nobody files an answer under a collection they cannot read
        dept.conversations.append(BOB, None, SECRET_COLLECTION, answer)
    # Carol leaves the group: her old answers lose their passages (and the collection's name)
    carol_now = Identity(CAROL.user, frozenset({"biblioteca"}))
    reopened = dept.conversations.get(carol_now, first)
    text = json.dumps([repr(t) for t in reopened.turns] + [repr(reopened.info)], ensure_ascii=False)
    assert "suspensión" not in text and "tres meses" not in text and SECRET_COLLECTION not in text  # her own
    assert [t.question for t in reopened.turns] == [QUESTION, QUESTION]  # question stays: her own words
    assert all(t.withheld and not t.answer.citations and not t.answer.hits for t in reopened.turns)
    assert reopened.history() == []  # nothing of it reaches follow-up condensation
    assert [c.collection for c in dept.conversations.list(carol_now)] == [""]
    assert dept.conversations.get(CAROL, first).turns[0].answer == answer  # back in the group: back
    dept.conversations.delete(CAROL, first)
    assert dept.conversations.list(CAROL) == []
    with pytest.raises(ConversationNotFoundError):
        dept.conversations.get(CAROL, first)


def test_audit_records_who_changed_what_and_no_questions_unless_asked(dept: Service) -> None:
    sha = _secret_sha(dept)
    dept.grant(SECRET_COLLECTION, "group:juridico", "read", identity=ANA)
    dept.revoke(SECRET_COLLECTION, "group:juridico", identity=ANA)
    reingest_document(dept, SECRET_COLLECTION, sha, identity=ANA)
    remove_upload(dept, SECRET_COLLECTION, sha, identity=CAROL)
    dept.search(QUESTION, SECRET_COLLECTION, identity=ANA)
    entries = list(reversed(dept.audit(identity=BOSS)))
    made = [(e.user, e.action, e.collection) for e in entries]
    expected = [("ana@uni.es", "grant", SECRET_COLLECTION), ("ana@uni.es", "grant", SECRET_COLLECTION),
                ("ana@uni.es", "create", SECRET_COLLECTION), ("ana@uni.es", "upload", SECRET_COLLECTION),
                ("bob@uni.es", "grant", "biblioteca"), ("bob@uni.es", "grant", "biblioteca"),
                ("bob@uni.es", "create", "biblioteca"),
                ("bob@uni.es", "upload", "biblioteca"),
                ("ana@uni.es", "grant", SECRET_COLLECTION), ("ana@uni.es", "revoke", SECRET_COLLECTION),
                ("ana@uni.es", "reindex", SECRET_COLLECTION), ("carol@uni.es", "remove", SECRET_COLLECTION)]
    assert made == expected
    assert sorted(entries[3].detail["added"]) == sorted([SECRET_FILE, "plazos.txt"])
    assert entries[9].detail == {"principal": "group:juridico", "right": None, "was": "read"}
    assert entries[-1].detail["documents"] == [SECRET_FILE]
    assert all(e.at.endswith("+00:00") for e in entries)
    assert [e.action for e in dept.audit(collection="biblioteca", identity=BOB)] == [
        "upload", "create", "grant", "grant"]
    assert len(dept.audit(2, identity=BOSS)) == 2

    dept.settings.log_questions = True
    dept.search(QUESTION, SECRET_COLLECTION, identity=ANA)
    asked = dept.audit(1, identity=BOSS)[0]
    assert (asked.user, asked.action, asked.collection, asked.detail) == (
        "ana@uni.es", "question", SECRET_COLLECTION, {"text": QUESTION})


def test_department_mode_refuses_to_start_without_a_cookie_secret(settings: Settings) -> None:
    with pytest.raises(SettingsError, match="RAG_COOKIE_SECRET"):
        Settings(data_dir=settings.data_dir, mode="department")
    with pytest.raises(SettingsError, match="RAG_COOKIE_SECRET"):
        Settings(data_dir=settings.data_dir, mode="department", cookie_secret="too-short")
    ok = Settings(data_dir=settings.data_dir, mode="department", cookie_secret="s" * 32)
    assert "s" * 32 not in repr(ok) and "s" * 32 not in ok.model_dump_json()  # never in logs


def test_settings_read_admin_lists_and_identity_from_claims(monkeypatch: pytest.MonkeyPatch,
                                                           settings: Settings) -> None:
    monkeypatch.setenv("RAG_ADMIN_USERS", "jefa@uni.es, root@uni.es")
    monkeypatch.setenv("RAG_ADMIN_GROUPS", "ti")
    monkeypatch.setenv("RAG_GROUPS_CLAIM", "roles")
    s = Settings()
    assert s.admin_users == ["jefa@uni.es", "root@uni.es"] and s.admin_groups == ["ti"]
    ana = Identity.from_claims({"sub": "1", "email": "ana@uni.es", "roles": ["rrhh", "pdi"], "name": "Ana"}, s)
    assert ana == Identity("ana@uni.es", frozenset({"rrhh", "pdi"}), False, "Ana")
    assert Identity.from_claims({"sub": "2", "email": "x@uni.es", "roles": "ti pdi"}, s).admin
    assert Identity.from_claims({"sub": "3", "email": "root@uni.es"}, s).admin
    assert Identity.from_claims({"sub": "4"}, s).user == "4"
    with pytest.raises(SettingsError):
        Identity.from_claims({}, s)
    assert implies("admin", "read") and implies("write", "read") and not implies("read", "write")
    assert not implies(None, "read")


def test_personal_mode_is_one_local_user_with_every_right(service: Service) -> None:
    assert service.caller(None) == Identity.local()
    assert service.collections() == ["default"]
    assert service.documents() == [] and service.search("hola") == []
    ingest_uploads(service, None, [Upload("notas.txt", b"La biblioteca abre a las 8:00.")])
    assert [d.name for d in service.documents()] == ["notas.txt"]
    assert service.create_collection("otra") == "otra" and service.collections() == ["default", "otra"]
    with pytest.raises(CollectionNotFoundError, match=r"there is no collection 'tpyo' \(collections: default, "
                                                      r"otra\)"):
        service.search("hola", "tpyo")  # issue 16: a typo is not a new, empty collection
    assert not service.index.exists("tpyo")


def test_cli_access_and_audit_act_as_the_operator(dept: Service, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from rag.cli import main

    monkeypatch.setenv("RAG_DATA_DIR", str(dept.settings.data_dir))
    monkeypatch.setenv("RAG_MODE", "department")
    monkeypatch.setenv("RAG_COOKIE_SECRET", "c" * 40)

    def rag(*argv: str) -> tuple[int, str, str]:
        code = main(list(argv))
        out, err = capsys.readouterr()
        return code, out, err

    code, out, err = rag("access", "grant", "biblioteca", "group:rrhh", "read", "--json")
    assert code == 0 and json.loads(out) == {"collection": "biblioteca", "principal": "group:rrhh",
                                             "right": "read", "was": None}
    assert "acting as the operator" in err
    assert "biblioteca" in dept.collections(identity=CAROL)  # the next call sees it
    code, out, _ = rag("access", "list", "biblioteca", "--json")
    assert code == 0 and [(g["principal"], g["right"]) for g in json.loads(out)["grants"]] == [
        ("group:biblioteca", "write"), ("group:rrhh", "read"), ("user:bob@uni.es", "admin")]
    assert json.loads(out)["grants"][1]["granted_by"] == "operator"
    code, out, _ = rag("access", "revoke", "biblioteca", "group:rrhh", "--json")
    assert code == 0 and json.loads(out)["right"] is None and json.loads(out)["was"] == "read"
    assert "biblioteca" not in dept.collections(identity=CAROL)
    code, out, _ = rag("access", "revoke", "biblioteca", "group:biblioteca", "write")
    assert code == 0 and "now has read on 'biblioteca' (was write)" in out
    code, out, _ = rag("access", "list", "--json")
    assert code == 0 and [c["collection"] for c in json.loads(out)["collections"]] == [
        "biblioteca", "default", SECRET_COLLECTION]
    code, _, err = rag("access", "grant", "tpyo", "group:rrhh", "read")
    assert code == 2 and "there is no collection 'tpyo'" in err
    code, _, err = rag("access", "grant", "biblioteca", "rrhh", "read")
    assert code == 2 and "group:NAME or user:NAME" in err
    code, out, _ = rag("audit", "--json", "--limit", "3")
    entries = json.loads(out)["entries"]
    assert code == 0 and [(e["user"], e["action"], e["collection"]) for e in entries] == [
        ("operator", "revoke", "biblioteca"), ("operator", "revoke", "biblioteca"),
        ("operator", "grant", "biblioteca")]
    assert set(entries[0]) == {"id", "at", "user", "action", "collection", "detail"}
    code, out, _ = rag("audit", "--collection", "biblioteca", "-n", "1")
    assert code == 0 and "operator  revoke  biblioteca" in out
    monkeypatch.delenv("RAG_COOKIE_SECRET")
    code, _, err = rag("audit")
    assert code == 2 and "RAG_COOKIE_SECRET" in err
