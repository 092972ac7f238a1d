"""``rag votes export|leaderboard``: the votes cast in compare mode, kept per collection on this machine."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rag.cli.common import add_collection, add_json, load_settings, print_json, safe
from rag.models.votes import MIN_VOTES_FOR_RATING, VoteStore, export_csv, export_json, leaderboard


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("votes", help="votes from compare mode: leaderboard, export")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    ex = verbs.add_parser("export", help="every vote of the collection as JSON or CSV")
    add_collection(ex)
    ex.add_argument("--format", choices=("json", "csv"), default="json")
    ex.add_argument("--user", help="only this user's votes (department mode)")
    ex.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of the terminal")
    ex.set_defaults(handler=run_export)
    lb = verbs.add_parser("leaderboard", help="win rates per model pair, and ratings once there are enough votes")
    add_collection(lb)
    add_json(lb)
    lb.set_defaults(handler=run_leaderboard)


def _store(args: argparse.Namespace) -> VoteStore:
    settings = load_settings(args)  # --collection names the collection; it is not folded into the settings
    return VoteStore.open(settings.data_dir, args.collection or settings.collection)


def run_export(args: argparse.Namespace) -> int:
    votes = _store(args).votes(user=args.user)
    text = export_csv(votes) if args.format == "csv" else export_json(votes)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"{len(votes)} vote(s) written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def run_leaderboard(args: argparse.Namespace) -> int:
    store = _store(args)
    board = leaderboard(store.votes())
    if args.json:
        print_json({"collection": store.collection, **board.to_json()})
        return 0
    if not board.total:
        print(f"No votes in collection {store.collection!r} yet: compare two models in the web app and vote.")
        return 0
    for p in board.pairs:
        print(f"{safe(p.first)} vs {safe(p.second)}: {p.votes} vote(s) — {safe(p.first)} "
              f"{p.win_rate(p.first):.0%}, {safe(p.second)} {p.win_rate(p.second):.0%}, "
              f"ties {p.ties}, both wrong {p.both_wrong}")
    if board.ratings:
        print("\nBradley–Terry rating (Elo scale):")
        for r in board.ratings:
            print(f"  {r.rating:7.1f}  {safe(r.model)}  ({r.votes} votes)")
    else:
        print(f"\nRatings appear at {MIN_VOTES_FOR_RATING} votes other than 'both wrong' (now {board.rated_votes}).")
    return 0
