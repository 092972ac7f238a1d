"""``rag access grant|revoke|list`` and ``rag audit``: who may use which collection, and who changed what.

Run on the server by its operator, these act as an administrator of every collection (and say so in
department mode, as every command does).
"""

from __future__ import annotations

import argparse
from typing import Any

from rag.access.control import RIGHTS, Grant, Identity
from rag.cli.common import add_json, cli_identity, load_settings, positive, print_json, safe
from rag.service import Service


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "access", help="grant or revoke read, write or admin rights on a collection",
        description="Rights: read (ask, search, see documents and pages) < write (upload, remove, re-index) "
                    "< admin (change grants); each includes the ones before it. Principals: group:NAME, "
                    "user:NAME (the name the identity provider gives, RAG_USER_CLAIM).",
    )
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    grant = verbs.add_parser("grant", help="give a group or user exactly this right on a collection")
    grant.add_argument("collection")
    grant.add_argument("principal", help="group:NAME or user:NAME")
    grant.add_argument("right", choices=RIGHTS)
    add_json(grant)
    grant.set_defaults(handler=run_grant)
    revoke = verbs.add_parser("revoke", help="take a right away (the rights below it stay), or every right")
    revoke.add_argument("collection")
    revoke.add_argument("principal", help="group:NAME or user:NAME")
    revoke.add_argument("right", nargs="?", choices=RIGHTS, help="default: every right")
    add_json(revoke)
    revoke.set_defaults(handler=run_revoke)
    ls = verbs.add_parser("list", help="the grants of a collection (of every collection without one)")
    ls.add_argument("collection", nargs="?")
    add_json(ls)
    ls.set_defaults(handler=run_list)

    audit = sub.add_parser("audit", help="who uploaded, removed, re-indexed and changed grants, and when")
    audit.add_argument("--limit", "-n", type=positive, default=50, metavar="N", help="newest N lines (default: 50)")
    audit.add_argument("--collection", "-c", metavar="C", help="only this collection's")
    add_json(audit)
    audit.set_defaults(handler=run_audit)


def _service(args: argparse.Namespace) -> tuple[Service, Identity]:
    """The service and the operator; COLLECTION names the collection acted on, never the default one."""
    settings = load_settings(argparse.Namespace())
    return Service.from_settings(settings), cli_identity(settings)


def run_grant(args: argparse.Namespace) -> int:
    service, me = _service(args)
    was = service.grant(args.collection, args.principal, args.right, identity=me)
    return _changed(args, was, args.right)


def run_revoke(args: argparse.Namespace) -> int:
    service, me = _service(args)
    was = next((g.right for g in service.grants(args.collection, identity=me)
                if g.principal == args.principal.strip()), None)
    left = service.revoke(args.collection, args.principal, args.right, identity=me)
    return _changed(args, was, left)


def _changed(args: argparse.Namespace, was: str | None, now: str | None) -> int:
    if args.json:
        print_json({"collection": args.collection, "principal": args.principal.strip(), "right": now, "was": was})
    elif was == now:
        print(f"{safe(args.principal)} already had {now or 'no right'} on {args.collection!r}: nothing changed")
    else:
        print(f"{safe(args.principal)} now has {now or 'no right'} on {args.collection!r} (was {was or 'none'})")
    return 0


def run_list(args: argparse.Namespace) -> int:
    service, me = _service(args)
    names = [args.collection] if args.collection else service.collections(identity=me)
    grants = {name: service.grants(name, identity=me) for name in names}
    if args.json:
        if args.collection:
            print_json({"collection": args.collection, "grants": [g.to_json() for g in grants[args.collection]]})
        else:
            print_json({"collections": [{"collection": n, "grants": [g.to_json() for g in gs]}
                                        for n, gs in grants.items()]})
        return 0
    for name, gs in grants.items():
        print(f"{name}:" if gs else f"{name}: no grants (administrators only)")
        for g in gs:
            print(f"  {_line(g)}")
    return 0


def _line(g: Grant) -> str:
    return f"{safe(g.principal):40s} {g.right:5s}  by {safe(g.granted_by)} at {g.granted_at}"


def run_audit(args: argparse.Namespace) -> int:
    service, me = _service(args)
    entries = service.audit(args.limit, args.collection, identity=me)
    if args.json:
        print_json({"entries": [e.to_json() for e in entries]})
        return 0
    if not entries:
        print("the audit trail is empty")
    for e in reversed(entries):  # oldest first, like a log
        detail = ", ".join(f"{k}={v}" for k, v in e.detail.items() if v not in (None, [], ""))
        print(f"{e.at}  {safe(e.user)}  {e.action}  {e.collection}  {safe(detail)}")
    return 0
