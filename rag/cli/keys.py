"""``rag keys create|list|revoke``: the operator's hand on the HTTP API's keys (rag.access.keys)."""

from __future__ import annotations

import argparse
from typing import Any

from rag.access.keys import KeyStore
from rag.cli.common import add_json, load_settings, print_json, safe


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "keys", help="create, list or revoke API keys (rag serve)",
        description="An API key acts as its user, with exactly that user's permissions; the secret is "
                    "shown once, at creation, and only its SHA-256 is stored.")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    create = verbs.add_parser("create", help="a new key for a user (prints the secret once)")
    create.add_argument("--user", required=True, help="the user the key acts as (as she signs in: her e-mail)")
    create.add_argument("--groups", default="", help="her groups, comma separated (department mode)")
    create.add_argument("--label", default="", help="what the key is for, e.g. 'moodle plugin'")
    add_json(create)
    create.set_defaults(handler=run_create)
    ls = verbs.add_parser("list", help="active keys (never their secrets)")
    ls.add_argument("--user", help="only this user's keys")
    ls.add_argument("--all", action="store_true", help="revoked keys too")
    add_json(ls)
    ls.set_defaults(handler=run_list)
    rm = verbs.add_parser("revoke", help="revoke a key by its id (the 8 characters after rag_)")
    rm.add_argument("key_id", metavar="ID")
    rm.add_argument("--user", help="refuse unless the key is this user's")
    add_json(rm)
    rm.set_defaults(handler=run_revoke)


def _store(args: argparse.Namespace) -> KeyStore:
    return KeyStore.open(load_settings(args).data_dir)


def run_create(args: argparse.Namespace) -> int:
    info, secret = _store(args).create(args.user, args.groups.split(","), args.label)
    if args.json:
        print_json({**info.to_json(), "key": secret})
        return 0
    print(f"key {info.id} for {safe(info.user)}" + (f" (groups: {', '.join(info.groups)})" if info.groups else ""))
    print(secret)
    print("Keep it now: it is not shown again. Send it as `Authorization: Bearer KEY`.")
    return 0


def run_list(args: argparse.Namespace) -> int:
    keys = _store(args).list(args.user, include_revoked=args.all)
    if args.json:
        print_json({"keys": [k.to_json() for k in keys]})
        return 0
    if not keys:
        print("No API keys. Create one with `rag keys create --user NAME`.")
    for k in keys:
        state = f"revoked {k.revoked_at}" if k.revoked_at else f"last used {k.last_used_at or 'never'}"
        print(f"{k.id}  {safe(k.user)}  [{', '.join(k.groups)}]  {safe(k.label)}  created {k.created_at}, {state}")
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    info = _store(args).revoke(args.key_id, args.user)
    if args.json:
        print_json(info.to_json())
    else:
        print(f"revoked key {info.id} of {safe(info.user)}")
    return 0
