"""``rag models``: every model Ollama has, with its facts and its licence, to choose one knowingly."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any, TextIO

from rag.cli.common import add_json, load_settings, print_json, safe
from rag.errors import ModelNotFoundError

if TYPE_CHECKING:
    from rag.models.info import ModelFacts

_LABELS = {"commercial": "commercial use", "attribution": "attribution", "user_cap": "user cap",
           "acceptable_use": "acceptable use"}


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "models", help="the models Ollama has: size, context, licence",
        description="List every model pulled into Ollama with its family, parameters, quantisation, context "
        "length, size on disk and licence (recognised against a sourced table; restricted licences marked).")
    add_json(p)
    p.add_argument("--licence", "--license", metavar="MODEL", dest="licence",
                   help="print the full licence text that MODEL carries")
    p.add_argument("--recommended", action="store_true",
                   help="list the recommended models for Spanish, by memory needed (no Ollama needed)")
    p.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    from rag.models.info import ModelDirectory  # the ollama client: imported here so `rag --help` stays fast

    if args.recommended:
        return show_recommended(args.json)
    settings = load_settings(args)
    directory = ModelDirectory(settings)
    if args.licence:
        facts = directory.get(args.licence)
        if facts is None:
            available = [f.name for f in directory.facts()]
            raise ModelNotFoundError(f"model '{args.licence}' is not pulled — run `ollama pull {args.licence}` "
                                     f"(available: {', '.join(available) or 'none'})", available)
        if args.json:
            print_json({"model": facts.name, "licence": facts.licence.to_json(), "text": facts.card.licence})
        else:
            sys.stdout.write(safe(facts.card.licence) + "\n" if facts.card.licence
                             else f"{facts.name} carries no licence text.\n")
        return 0
    models = directory.facts()
    if args.json:
        print_json({"host": settings.ollama_url, "models": [f.to_json() for f in models]})
        return 0
    if not models:
        print(f"Ollama at {settings.ollama_url} has no models: pull one, e.g. `ollama pull {settings.model}`")
        return 0
    for facts in models:
        write_facts(facts, sys.stdout)
    return 0


def write_facts(facts: ModelFacts, out: TextIO) -> None:
    """One model as a short block: the facts on one line, then the licence and its lines with sources."""
    from rag.models.info import LINES, human_size

    c, lic = facts.card, facts.licence
    parts = [c.family, c.parameter_size and f"{c.parameter_size} parameters", c.quantization,
             c.context_length and f"{c.context_length:,} tokens context", c.size and human_size(c.size)]
    out.write(f"{safe(c.name)}\n  {' · '.join(safe(str(p)) for p in parts if p)}\n")
    mark = "  [RESTRICTED: not for commercial use]" if lic.restricted else ""
    spdx = f" ({lic.spdx})" if lic.spdx else ""
    out.write(f"  licence: {lic.name}{spdx}{mark}\n")
    if not lic.recognised:
        out.write(f"    read it with `rag models --licence {safe(c.name)}`\n" if c.licence else "")
    for key in LINES:
        line = getattr(lic, key)
        source = f"  <{line.source}>" if line.source else ""
        out.write(f"    {_LABELS[key]}: {line.text}{source}\n")
    out.write("\n")


def show_recommended(as_json: bool) -> int:
    from rag.models.info import recommendations

    recs = recommendations()
    if as_json:
        print_json({"recommended": [
            {"name": r.name, "download_gb": r.download_gb, "licence": r.licence.id, "default": r.default,
             "pull": r.pull, "language_source": r.language_source, "size_source": r.size_source}
            for r in recs]})
        return 0
    for r in recs:
        default = "  (default)" if r.default else ""
        print(f"{r.pull:30s} ≈{r.download_gb:5.1f} GB  {r.licence.name}{default}")
    print("Memory needed: about the download size plus 1-2 GB. Sources: rag/data/recommended_models.toml")
    return 0
