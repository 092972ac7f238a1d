"""Office files: is every file of ../shared/data/office accounted for as its manifest expects, and how many
probe sentences does the extracted text hold (text recall)?

    python benchmarks/office.py            # a table
    python benchmarks/office.py --json     # one JSON object

Each file is parsed as ``rag ingest`` parses it: in a sandboxed worker (``ingest.sandbox.ParserPool``, one at a
time so that each file's time is its own) with the default limits (``RAG_PARSE_TIMEOUT``,
``RAG_PARSE_MEMORY_MB``). A file is *accounted for* when it ends as its manifest's ``expect`` says: ``text``
-> indexed; ``encrypted`` -> "encrypted: pass --password" without the password (and, where the manifest gives
one, indexed with it: reported apart); ``damaged`` -> "damaged: …"; ``bomb`` -> "too large: …" or
"unsafe XML: …"; ``unsupported`` -> "legacy …"; ``empty`` -> "no text". *Recall* is the share of files with a
``probe`` whose extracted text (whitespace collapsed) contains it; ``absent`` strings found count as leaks.

A scan (a file whose pages await OCR) is then recognised as ``rag ingest`` does after the born-digital files
(``ingest.scans.recognise_scans``: Tesseract in the bounded workers, both cores); its time includes that.
Tika's encrypted .odt, whose password the manifest does not give, is also opened with the one Tika's own test
names ("tika", in ODFParserTest.testEncryptedODTFile) and reported apart, like the OOXML ones.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":  # the project root (not benchmarks/) first
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import json
import time
from typing import Any

from benchmarks.common import SHARED, dump_json, load_avg, machine, table
from ingest.sandbox import ParserPool
from ingest.scans import ScanDocument, Waiting, recognise_scans
from rag.errors import LoadError
from rag.settings import Settings
from rag.types import ParsedDocument

OFFICE = SHARED / "office"
PASSWORDS = {"adversarial/tika__testODTEncrypted.odt": "tika"}  # beside the manifest's own (see above)
REASONS = {
    "bomb": ("too large: ", "unsafe XML: "),
    "damaged": ("damaged: ",),
    "encrypted": ("encrypted: pass --password",),
    "unsupported": ("legacy ",),
    "empty": ("no text",),
}


def _flat(text: str) -> str:
    return " ".join(text.split())


def _outcome(pool: ParserPool, file: Path, password: str | None, settings: Settings
             ) -> tuple[ParsedDocument | LoadError, float]:
    began = time.perf_counter()
    [(_, result)] = list(pool.parse([file], password))
    if isinstance(result, ScanDocument):
        [(_, result)] = list(recognise_scans(settings, [Waiting(file, result)], password))
    return result, time.perf_counter() - began


def run() -> dict[str, Any]:
    settings = Settings()
    items = [json.loads(line) for line in (OFFICE / "manifest.jsonl").open()]
    rows: list[dict[str, Any]] = []
    with ParserPool(1, settings.parse_timeout, settings.parse_memory_mb,
                    per_unit=settings.parse_seconds_per_page) as pool:
        for item in items:
            if item["kind"] == "ground_truth":
                continue
            file = OFFICE / item["file"]
            result, seconds = _outcome(pool, file, None, settings)
            expect = item["expect"]
            text = _flat(" ".join(result.pages)) if isinstance(result, ParsedDocument) else ""
            if expect == "text":
                accounted = isinstance(result, ParsedDocument)
            else:
                accounted = isinstance(result, LoadError) and result.reason.startswith(REASONS[expect])
            row: dict[str, Any] = {
                "file": item["file"], "expect": expect, "outcome": "indexed" if isinstance(result, ParsedDocument)
                else result.reason, "accounted": accounted, "seconds": round(seconds, 3),
                "units": len(result.pages) if isinstance(result, ParsedDocument) else 0,
                "probe": None, "leaks": [a for a in item.get("absent", []) if a in text], "kind": item["kind"],
            }
            if item.get("probe") and expect == "text":
                row["probe"] = item["probe"] in text
            password = item.get("password") or PASSWORDS.get(item["file"])
            if expect == "encrypted" and password:
                opened, _ = _outcome(pool, file, password, settings)
                row["with_password"] = "indexed" if isinstance(opened, ParsedDocument) else opened.reason
                if item.get("probe") and isinstance(opened, ParsedDocument):
                    row["probe"] = item["probe"] in _flat(" ".join(opened.pages))
                elif item.get("probe"):
                    row["probe"] = False
            rows.append(row)
    probed = [r for r in rows if r["probe"] is not None]
    by_expect: dict[str, list[int]] = {}
    for r in rows:
        counts = by_expect.setdefault(r["expect"], [0, 0])
        counts[0] += int(r["accounted"])
        counts[1] += 1
    return {
        "files": len(rows),
        "accounted": sum(r["accounted"] for r in rows),
        "by_expect": {k: {"accounted": v[0], "files": v[1]} for k, v in sorted(by_expect.items())},
        "probe_recall": round(sum(r["probe"] for r in probed) / len(probed), 4) if probed else None,
        "probes_found": sum(r["probe"] for r in probed), "probes": len(probed),
        "probes_found_not_scans": sum(r["probe"] for r in probed if r["kind"] != "scan"),
        "probes_not_scans": sum(1 for r in probed if r["kind"] != "scan"),
        "leaks": sum(len(r["leaks"]) for r in rows),
        "seconds_total": round(sum(r["seconds"] for r in rows), 2),
        "seconds_max": max(r["seconds"] for r in rows),
        "limits": {"parse_timeout_s": settings.parse_timeout, "parse_memory_mb": settings.parse_memory_mb},
        "load_avg": load_avg(), "machine": machine(), "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if not (OFFICE / "manifest.jsonl").exists():
        sys.exit(f"{OFFICE} is not here (shared real data)")
    result = run()
    if args.json:
        print(dump_json(result))
        return
    print(table(["file", "expect", "outcome", "ok", "probe", "s"],
                [[r["file"], r["expect"], r["outcome"][:60], "yes" if r["accounted"] else "NO",
                  {None: "", True: "found", False: "MISSING"}[r["probe"]], f"{r['seconds']:.2f}"]
                 for r in result["rows"]]))
    print(f"\naccounted for: {result['accounted']} of {result['files']} files; by expect: "
          + ", ".join(f"{k} {v['accounted']}/{v['files']}" for k, v in result["by_expect"].items()))
    print(f"probe recall: {result['probes_found']}/{result['probes']} ({result['probe_recall']}); "
          f"without the scans (OCR): {result['probes_found_not_scans']}/{result['probes_not_scans']}; "
          f"absent strings leaked: {result['leaks']}; parse time {result['seconds_total']} s in all, "
          f"slowest file {result['seconds_max']} s; load average {result['load_avg']}")
    for r in result["rows"]:
        if "with_password" in r:
            print(f"with --password: {r['file']}: {r['with_password']}")


if __name__ == "__main__":
    main()
