"""OCR: accuracy on the shared scans, and throughput of a full ``rag ingest`` against ``ocrmypdf`` alone.

    python benchmarks/ocr.py                  # accuracy, then throughput (both sides back to back)
    python benchmarks/ocr.py --only accuracy  # or --only throughput; --json for one JSON object

Accuracy: character and word error rates (edit distance over the reference's length, whitespace collapsed)
of ``ingest.ocr.recognise`` with ``RAG_OCR_LANGS``' default (spa+eng) on ``pdfs/scanned/ocrmypdf__linn.pdf``
(ground truth ``ocrmypdf__linn.txt``), its skewed copy ``ocrmypdf__skew.pdf`` and the four rotations in
``ocrmypdf__cardinal.pdf`` (0/90/180/270), and on ``office/scans/*.tif`` with their ``.gt.txt``.

Throughput: the image-only PDFs of ``pdfs/scanned/`` (OCR pages counted), recognised
  ours       by ``rag ingest FOLDER`` in a fresh process on a fresh data directory (parsing, OCR in worker
             processes on every core, embedding, writing: everything a user waits for);
  ocrmypdf   by ``ocrmypdf -l spa+eng -j CORES --skip-text --output-type pdf`` on each file, one after
             the other (what an operator runs before ingesting today), and with ``--rotate-pages --deskew``
             (the same corrections ours makes).
Wall seconds and CPU seconds (user+sys of the process and its children) per side; pages per minute.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":  # the project root (not benchmarks/, whose ingest.py would shadow ingest/) first
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import os
import re
import resource
import shutil
import subprocess
import tempfile
import time
from typing import Any

import numpy as np

from benchmarks.common import ROOT, SHARED, dump_json, load_avg, machine, make_log, table

SCANNED = SHARED / "pdfs" / "scanned"
SCANS = SHARED / "office" / "scans"
THROUGHPUT_FILES = ["ocrmypdf__linn.pdf", "ocrmypdf__skew.pdf", "ocrmypdf__cardinal.pdf", "ocrmypdf__c02-22.pdf",
                    "ocrmypdf__francais.pdf", "ocrmypdf__multipage.pdf"]


def edit_distance(a: list[str], b: list[str]) -> int:
    """Levenshtein distance between two sequences (unit costs), one numpy row at a time."""
    if not a or not b:
        return max(len(a), len(b))
    vocab = {tok: i for i, tok in enumerate(set(a) | set(b))}
    bb = np.array([vocab[t] for t in b])
    ar = np.arange(len(b) + 1)
    row = ar.copy()
    for i, tok in enumerate(a, 1):
        sub = row[:-1] + (bb != vocab[tok])
        dele = row[1:] + 1
        tmp = np.concatenate(([i], np.minimum(sub, dele)))
        row = np.minimum.accumulate(tmp - ar) + ar  # insertions: row[j] = min(tmp[j], row[j-1] + 1)
    return int(row[-1])


def rates(hyp: str, ref: str) -> tuple[float, float]:
    """(CER, WER) of ``hyp`` against ``ref``, whitespace collapsed."""
    hyp, ref = " ".join(hyp.split()), " ".join(ref.split())
    cer = edit_distance(list(hyp), list(ref)) / max(1, len(ref))
    wer = edit_distance(hyp.split(), ref.split()) / max(1, len(ref.split()))
    return round(cer, 4), round(wer, 4)


def accuracy(log: Any) -> list[dict[str, Any]]:
    from ingest.ocr import page_image, recognise

    linn = (SCANNED / "ocrmypdf__linn.txt").read_text()
    cases: list[tuple[str, Path, int, str]] = [
        ("linn (straight)", SCANNED / "ocrmypdf__linn.pdf", 0, linn),
        ("skew", SCANNED / "ocrmypdf__skew.pdf", 0, linn),
    ]
    cardinal = SCANNED / "ocrmypdf__cardinal.pdf"
    cases += [(f"cardinal {deg}°", cardinal, i, linn) for i, deg in enumerate((0, 90, 180, 270))]
    for gt in sorted(SCANS.glob("*.gt.txt")):
        cases.append((gt.name.removesuffix(".gt.txt"), gt.with_name(gt.name.replace(".gt.txt", ".tif")), 0,
                      gt.read_text()))
    rows = []
    for label, file, index, ref in cases:
        began = time.perf_counter()
        image, dpi = page_image(file.read_bytes(), index)
        page = recognise(image, "spa+eng", dpi)
        cer, wer = rates(page.text, ref)
        rows.append({"scan": label, "cer": cer, "wer": wer, "confidence": page.confidence, "skew": page.skew,
                     "turned": page.rotated, "seconds": round(time.perf_counter() - began, 1)})
        log(f"  {label}: CER {cer:.4f} WER {wer:.4f} ({rows[-1]['seconds']} s)")
    return rows


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    cpu0, began = _children_cpu(), time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])}… failed: {done.stderr[-500:]}")
    return time.perf_counter() - began, _children_cpu() - cpu0, done.stdout


def ocr_pages(files: list[Path]) -> int:
    """Pages of these files that have no text layer: the ones both sides recognise."""
    from ingest.loaders import load_file
    from ingest.scans import ScanDocument

    total = 0
    for file in files:
        doc = load_file(file)
        total += len(doc.ocr_pages) if isinstance(doc, ScanDocument) else 0
    return total


def throughput(log: Any, cores: int) -> list[dict[str, Any]]:
    files = [SCANNED / name for name in THROUGHPUT_FILES]
    pages = ocr_pages(files)
    rows = []
    with tempfile.TemporaryDirectory(prefix="ocr-bench-") as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        for file in files:
            shutil.copy(file, folder / file.name)

        def ours() -> tuple[float, float]:
            data = Path(tmp) / "data"
            shutil.rmtree(data, ignore_errors=True)
            env = {**os.environ, "RAG_DATA_DIR": str(data), "PYTHONPATH": str(ROOT)}
            wall, cpu, out = _timed([sys.executable, "-m", "rag", "ingest", str(folder), "--json"], env)
            added = len(re.findall(r'"ocrmypdf__', out))
            if added < len(files):
                raise RuntimeError(f"rag ingest indexed {added} of {len(files)} scans: {out[-400:]}")
            return wall, cpu

        def ocrmypdf(*extra: str) -> tuple[float, float]:
            wall = cpu = 0.0
            for file in files:
                out = Path(tmp) / ("out-" + file.name)
                w, c, _ = _timed([sys.executable, "-m", "ocrmypdf", "-q", "-l", "spa+eng", "-j", str(cores),
                                  "--skip-text", "--output-type", "pdf", *extra, str(file), str(out)])
                wall, cpu = wall + w, cpu + c
            return wall, cpu

        sides = [("ours: rag ingest", ours), ("ocrmypdf", ocrmypdf),
                 ("ocrmypdf --rotate-pages --deskew", lambda: ocrmypdf("--rotate-pages", "--deskew"))]
        for label, run in sides:
            before = load_avg()
            wall, cpu = run()
            rows.append({"side": label, "pages": pages, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
                         "pages_per_min": round(pages / wall * 60, 2), "load_before": before,
                         "load_after": load_avg()})
            log(f"  {label}: {pages} pages in {wall:.1f} s wall, {cpu:.1f} s CPU")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["accuracy", "throughput"])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    log = make_log(args.json)
    if not SCANNED.is_dir() or shutil.which("tesseract") is None:
        sys.exit("needs ../shared/data/pdfs/scanned and Tesseract (apt-get install tesseract-ocr tesseract-ocr-spa)")
    result: dict[str, Any] = {"machine": machine()}
    if args.only in (None, "accuracy"):
        log("accuracy (spa+eng):")
        result["accuracy"] = accuracy(log)
    if args.only in (None, "throughput"):
        if subprocess.run([sys.executable, "-m", "ocrmypdf", "--version"], capture_output=True).returncode:
            sys.exit("needs ocrmypdf in this environment for the reference side (pip install ocrmypdf)")
        log("throughput (both sides back to back):")
        result["throughput"] = throughput(log, os.cpu_count() or 1)
    if args.json:
        print(dump_json(result))
        return
    if "accuracy" in result:
        print(table(["scan", "CER", "WER", "confidence", "skew °", "turned °", "s"],
                    [[r["scan"], r["cer"], r["wer"], r["confidence"], r["skew"], r["turned"], r["seconds"]]
                     for r in result["accuracy"]]))
    if "throughput" in result:
        print(table(["side", "pages", "wall s", "CPU s", "pages/min", "load before/after"],
                    [[r["side"], r["pages"], r["wall_s"], r["cpu_s"], r["pages_per_min"],
                      f"{r['load_before']}/{r['load_after']}"] for r in result["throughput"]]))
    print(f"machine: {result['machine']}")


if __name__ == "__main__":
    main()
