"""Votes on side-by-side answers, kept per collection beside its catalog, and the leaderboard they make.

A vote says which of two models answered better (``a``, ``b``, ``tie`` or ``both_wrong``), with an optional
comment. Votes live in ``RAG_DATA_DIR/collections/<collection>/votes.sqlite3``: backed up with the rest of
the data directory, removed with the collection, never sent anywhere.

    store = VoteStore.open(settings.data_dir, "default")
    store.add("¿Nota mínima?", "qwen2.5:7b", "llama3.1:8b", "a", comment="cita mejor")
    board = leaderboard(store.votes())
"""

from __future__ import annotations

import csv
import io
import json
import math
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rag.errors import IndexError_, SettingsError
from rag.settings import validate_collection

VERDICTS = ("a", "b", "tie", "both_wrong")
DEFAULT_USER = "local"  # personal mode has one user; department mode passes the signed-in one
MIN_VOTES_FOR_RATING = 20  # votes other than "both wrong" before a Bradley–Terry rating is shown
VOTES_FILE = "votes.sqlite3"
FIELDS = ("id", "at", "collection", "user", "question", "model_a", "model_b", "verdict", "comment",
          "answer_a", "answer_b")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS votes (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    collection TEXT NOT NULL,
    user TEXT NOT NULL DEFAULT 'local',
    question TEXT NOT NULL,
    model_a TEXT NOT NULL,
    model_b TEXT NOT NULL,
    verdict TEXT NOT NULL CHECK (verdict IN ('a', 'b', 'tie', 'both_wrong')),
    comment TEXT NOT NULL DEFAULT '',
    answer_a TEXT NOT NULL DEFAULT '',
    answer_b TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS votes_user ON votes(user);
"""


@dataclass(frozen=True)
class Vote:
    """One recorded vote."""

    id: int
    at: str  # ISO 8601, UTC
    collection: str
    user: str
    question: str
    model_a: str
    model_b: str
    verdict: str
    comment: str = ""
    answer_a: str = ""
    answer_b: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class VoteStore:
    """The votes of one collection; each call opens the file briefly, so any process may vote at any time."""

    def __init__(self, path: Path, collection: str) -> None:
        self.path = path
        self.collection = collection

    @classmethod
    def open(cls, data_dir: Path, collection: str) -> VoteStore:
        collection = validate_collection(collection)
        return cls(data_dir / "collections" / collection / VOTES_FILE, collection)

    @contextmanager
    def _connect(self, create: bool) -> Iterator[sqlite3.Connection | None]:
        if not create and not self.path.exists():
            yield None
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with closing(sqlite3.connect(self.path, timeout=30.0, isolation_level=None)) as conn:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.executescript(_SCHEMA)
                yield conn
        except (OSError, sqlite3.Error) as exc:
            raise IndexError_(f"cannot use the votes file {self.path}: {exc}; check RAG_DATA_DIR") from exc

    def add(self, question: str, model_a: str, model_b: str, verdict: str, comment: str = "",
            user: str = DEFAULT_USER, answer_a: str = "", answer_b: str = "") -> Vote:
        """Record a vote (SettingsError for an unknown verdict or a model compared with itself)."""
        if verdict not in VERDICTS:
            raise SettingsError(f"unknown verdict {verdict!r}: use one of {', '.join(VERDICTS)}")
        if not model_a or not model_b or model_a == model_b:
            raise SettingsError("a vote compares two different models")
        at = datetime.now(UTC).isoformat(timespec="seconds")
        values = (at, self.collection, user or DEFAULT_USER, question, model_a, model_b, verdict,
                  comment.strip(), answer_a, answer_b)
        with self._connect(create=True) as conn:
            assert conn is not None
            cursor = conn.execute(
                "INSERT INTO votes(at, collection, user, question, model_a, model_b, verdict, comment, answer_a, "
                "answer_b) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", values)
            vote_id = int(cursor.lastrowid or 0)
        return Vote(vote_id, *values)

    def votes(self, user: str | None = None) -> list[Vote]:
        """Every vote, oldest first (only ``user``'s when given)."""
        with self._connect(create=False) as conn:
            if conn is None:
                return []
            sql = f"SELECT {', '.join(FIELDS)} FROM votes"
            rows = conn.execute(sql + " WHERE user = ? ORDER BY id", (user,)) if user is not None \
                else conn.execute(sql + " ORDER BY id")
            return [Vote(*row) for row in rows]


# -- the leaderboard ------------------------------------------------------------------------------

@dataclass(frozen=True)
class PairStats:
    """How two models fared against each other (``first`` and ``second`` in name order)."""

    first: str
    second: str
    votes: int
    wins_first: int
    wins_second: int
    ties: int
    both_wrong: int

    def win_rate(self, model: str) -> float:
        """Share of this pair's votes that ``model`` won (ties and both-wrong count as not won)."""
        wins = self.wins_first if model == self.first else self.wins_second
        return wins / self.votes if self.votes else 0.0


@dataclass(frozen=True)
class Rating:
    model: str
    rating: float  # Elo scale: 1000 is the average model, +400 is ten times the odds of winning
    votes: int


@dataclass(frozen=True)
class Leaderboard:
    pairs: list[PairStats]
    ratings: list[Rating]  # empty until ``rated_votes`` reaches MIN_VOTES_FOR_RATING
    rated_votes: int  # votes that count for the rating (all but "both wrong")
    total: int

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total, "rated_votes": self.rated_votes, "min_votes_for_rating": MIN_VOTES_FOR_RATING,
            "pairs": [asdict(p) | {"win_rate_first": round(p.win_rate(p.first), 4),
                                   "win_rate_second": round(p.win_rate(p.second), 4)} for p in self.pairs],
            "ratings": [asdict(r) | {"rating": round(r.rating, 1)} for r in self.ratings],
        }


def _outcomes(votes: Sequence[Vote]) -> list[tuple[str, str, float]]:
    """(model, other, score of model) for each vote that rates: 1 win, 0 loss, 0.5 tie."""
    scores = {"a": 1.0, "b": 0.0, "tie": 0.5}
    return [(v.model_a, v.model_b, scores[v.verdict]) for v in votes if v.verdict in scores]


def bradley_terry(votes: Sequence[Vote], iterations: int = 200) -> dict[str, float]:
    """Bradley–Terry strengths on the Elo scale, fitted by minorise–maximise (Hunter 2004).

    Ties count half a win each way; one virtual tie per compared pair keeps a model that never lost finite.
    Example: 10 votes of A over B -> A about 1000 + 200*log10(21), B the mirror image.
    """
    wins: dict[str, float] = {}
    games: dict[tuple[str, str], float] = {}
    for model, other, score in _outcomes(votes):
        for name, won in ((model, score), (other, 1.0 - score)):
            wins[name] = wins.get(name, 0.0) + won
        key = (min(model, other), max(model, other))
        games[key] = games.get(key, 0.0) + 1.0
    for first, second in games:  # the virtual tie
        wins[first] += 0.5
        wins[second] += 0.5
        games[(first, second)] += 1.0
    strength = dict.fromkeys(wins, 1.0)
    for _ in range(iterations):
        updated = {}
        for name in strength:
            denominator = sum(n / (strength[a] + strength[b]) for (a, b), n in games.items() if name in (a, b))
            updated[name] = wins[name] / denominator if denominator else strength[name]
        mean_log = sum(math.log(s) for s in updated.values()) / len(updated)
        strength = {name: s / math.exp(mean_log) for name, s in updated.items()}
    return {name: 1000.0 + 400.0 * math.log10(s) for name, s in strength.items()}


def leaderboard(votes: Sequence[Vote]) -> Leaderboard:
    """Win rates per pair with their vote counts, and ratings once enough votes rate."""
    pairs: dict[tuple[str, str], list[int]] = {}
    for v in votes:
        first, second = sorted((v.model_a, v.model_b))
        row = pairs.setdefault((first, second), [0, 0, 0, 0, 0])  # votes, wins first, wins second, tie, wrong
        row[0] += 1
        if v.verdict in ("a", "b"):
            winner = v.model_a if v.verdict == "a" else v.model_b
            row[1 if winner == first else 2] += 1
        else:
            row[3 if v.verdict == "tie" else 4] += 1
    stats = [PairStats(first, second, *row) for (first, second), row in sorted(pairs.items(),
                                                                                 key=lambda kv: -kv[1][0])]
    rated = len(_outcomes(votes))
    ratings: list[Rating] = []
    if rated >= MIN_VOTES_FOR_RATING:
        counts: dict[str, int] = {}
        for model, other, _ in _outcomes(votes):
            counts[model] = counts.get(model, 0) + 1
            counts[other] = counts.get(other, 0) + 1
        ratings = sorted((Rating(m, r, counts[m]) for m, r in bradley_terry(votes).items()),
                         key=lambda r: -r.rating)
    return Leaderboard(stats, ratings, rated, len(votes))


# -- export ---------------------------------------------------------------------------------------

def export_json(votes: Sequence[Vote]) -> str:
    return json.dumps({"votes": [v.to_json() for v in votes]}, ensure_ascii=False, indent=2) + "\n"


def _cell(value: object) -> object:
    """A spreadsheet must not run a comment as a formula: text starting with = + - @ gets a leading '."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def export_csv(votes: Sequence[Vote]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(FIELDS)
    for v in votes:
        writer.writerow([_cell(getattr(v, name)) for name in FIELDS])
    return out.getvalue()
