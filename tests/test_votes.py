"""Votes: kept per collection in the data directory, surviving restarts, removed with the collection."""

from __future__ import annotations

import csv
import io
import json

import pytest

from rag.cli import main
from rag.errors import SettingsError
from rag.models.votes import MIN_VOTES_FOR_RATING, VoteStore, bradley_terry, export_csv, leaderboard

A, B, C = "qwen2.5:7b", "llama3.1:8b", "gemma3:4b"


def test_votes_survive_a_restart_and_stay_in_their_collection(tmp_path) -> None:
    store = VoteStore.open(tmp_path, "default")
    first = store.add("¿Nota mínima?", A, B, "a", comment="  cita mejor ", answer_a="5 [1]", answer_b="?")
    store.add("¿Plazo?", B, A, "both_wrong", user="ana@uni.es")
    assert first.id == 1 and first.comment == "cita mejor" and first.user == "local"
    reopened = VoteStore.open(tmp_path, "default")  # a new process would do the same
    votes = reopened.votes()
    assert [(v.verdict, v.user, v.collection) for v in votes] == [("a", "local", "default"),
                                                                   ("both_wrong", "ana@uni.es", "default")]
    assert votes[0].answer_a == "5 [1]"
    assert [v.question for v in reopened.votes(user="ana@uni.es")] == ["¿Plazo?"]
    assert VoteStore.open(tmp_path, "otra").votes() == []
    assert reopened.path == tmp_path / "collections" / "default" / "votes.sqlite3"


def test_bad_votes_are_refused(tmp_path) -> None:
    store = VoteStore.open(tmp_path, "default")
    with pytest.raises(SettingsError, match="unknown verdict"):
        store.add("q", A, B, "c")
    with pytest.raises(SettingsError, match="two different models"):
        store.add("q", A, A, "a")
    with pytest.raises(SettingsError):
        VoteStore.open(tmp_path, "../x")


def test_removing_a_collection_removes_its_votes(service) -> None:
    service.create_collection("pruebas")
    VoteStore.open(service.settings.data_dir, "pruebas").add("q", A, B, "tie")
    VoteStore.open(service.settings.data_dir, "default").add("q", A, B, "a")
    service.index.drop_collection("pruebas")
    assert VoteStore.open(service.settings.data_dir, "pruebas").votes() == []
    assert len(VoteStore.open(service.settings.data_dir, "default").votes()) == 1
    assert "pruebas" not in service.index.collections()


def test_leaderboard_counts_pairs_and_rates_only_with_enough_votes(tmp_path) -> None:
    store = VoteStore.open(tmp_path, "default")
    for verdict in ("a", "a", "b", "tie", "both_wrong"):
        store.add("q", A, B, verdict)
    store.add("q", B, A, "a")  # B, shown on the left this time, wins
    board = leaderboard(store.votes())
    (pair,) = board.pairs
    assert (pair.first, pair.second, pair.votes) == (B, A, 6)
    assert (pair.wins_first, pair.wins_second, pair.ties, pair.both_wrong) == (2, 2, 1, 1)
    assert pair.win_rate(A) == pytest.approx(2 / 6)
    assert board.rated_votes == 5 and board.ratings == []
    for i in range(MIN_VOTES_FOR_RATING):
        store.add("q", C, A if i % 2 else B, "b" if i % 4 == 0 else "a")
    board = leaderboard(store.votes())
    assert [r.model for r in board.ratings][0] == C and len(board.ratings) == 3
    assert sum(r.rating for r in board.ratings) / 3 == pytest.approx(1000.0, abs=1.0)


def test_bradley_terry_matches_the_closed_form_for_two_models(tmp_path) -> None:
    store = VoteStore.open(tmp_path, "default")
    for _ in range(10):
        store.add("q", A, B, "a")
    ratings = bradley_terry(store.votes())
    # 10 wins plus one virtual tie: odds 21 to 1, split evenly around 1000
    assert ratings[A] == pytest.approx(1000 + 200 * 1.3222, abs=0.5)
    assert ratings[A] + ratings[B] == pytest.approx(2000.0)


def test_export_json_and_csv(tmp_path, settings, monkeypatch, capsys) -> None:
    monkeypatch.setenv("RAG_DATA_DIR", str(settings.data_dir))
    store = VoteStore.open(settings.data_dir, "default")
    store.add("¿Nota?", A, B, "a", comment="=HYPERLINK(\"http://x\")")
    store.add("¿Plazo?", A, B, "tie", user="ana")
    assert main(["votes", "export", "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [v["verdict"] for v in data["votes"]] == ["a", "tie"] and data["votes"][0]["user"] == "local"
    out = tmp_path / "votes.csv"
    assert main(["votes", "export", "--format", "csv", "--user", "ana", "-o", str(out)]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [r["question"] for r in rows] == ["¿Plazo?"] and rows[0]["verdict"] == "tie"
    row = next(csv.DictReader(io.StringIO(export_csv(store.votes()))))
    assert row["comment"].startswith("'="), "no formula runs in a spreadsheet"
    assert main(["votes", "leaderboard", "--json"]) == 0
    board = json.loads(capsys.readouterr().out)
    assert board["pairs"][0]["votes"] == 2 and board["min_votes_for_rating"] == MIN_VOTES_FOR_RATING


def test_export_reads_the_collection_named_by_its_option(settings, monkeypatch, capsys) -> None:
    monkeypatch.setenv("RAG_DATA_DIR", str(settings.data_dir))
    VoteStore.open(settings.data_dir, "tesis").add("¿Plazo de la tesis?", A, B, "b")
    assert main(["votes", "export", "--format", "json", "--collection", "tesis"]) == 0
    assert [v["question"] for v in json.loads(capsys.readouterr().out)["votes"]] == ["¿Plazo de la tesis?"]
