"""The benchmark scripts run: each one's core on a tiny input. No timing is asserted (speed goals live in
docs/benchmarks.md, measured by the scripts themselves), only that the figures come out and add up.
The `--help` checks are quick; the three core runs load the real model and are marked slow."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from tests.conftest import ROOT


@pytest.fixture
def tiny_corpus(tmp_path):
    """A two-page PDF written here (no shared data needed)."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_font("helvetica", size=11)
    for page in ("The library opens from Monday to Friday, 8:00 to 20:00. Students need their card.",
                 "The minimum passing grade is 5 out of 10. Resits take place in July."):
        pdf.add_page()
        pdf.multi_cell(0, 6, (page + " ") * 6)
    folder = tmp_path / "corpus"
    folder.mkdir()
    pdf.output(str(folder / "tiny.pdf"))
    return folder


@pytest.mark.parametrize("script", ["ingest", "answer_latency", "abstention", "api_load", "office",
                                    "extractive_regulations", "query", "retrieval_baseline", "ocr"])
def test_scripts_start_from_the_project_root(script):
    """`python benchmarks/NAME.py` must import the checkout's packages, not benchmarks/ingest.py as `ingest`."""
    proc = subprocess.run([sys.executable, f"benchmarks/{script}.py", "--help"], cwd=ROOT,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "usage:" in proc.stdout


@pytest.mark.slow  # the real model, Chroma, worker processes: ~15 s each on the 2-core machine
def test_ingest_core_runs_both_pipelines(tiny_corpus, tmp_path, embedder, monkeypatch):
    from benchmarks import ingest as bench

    monkeypatch.chdir(tmp_path)
    ours = bench.run_ours(tiny_corpus, tmp_path / "ours", embedder=embedder)
    again = bench.run_ours(tiny_corpus, tmp_path / "ours", embedder=embedder, preload=False)
    tutorial = bench.run_tutorial(tiny_corpus, tmp_path / "tutorial", model=bench.TutorialModel.e5(embedder))
    minilm = bench.run_tutorial(tiny_corpus, tmp_path / "minilm", which="minilm")
    assert ours["pages"] == tutorial["pages"] == minilm["pages"] == 2
    assert tutorial["model"] != minilm["model"]
    assert ours["chunks"] > 0 and tutorial["chunks"] > 0 and ours["failed"] == []
    assert 0 < ours["in_model_s"] <= ours["run_s"] and 0 < tutorial["in_model_s"] <= tutorial["run_s"]
    assert again["chunks"] == 0 and again["unchanged"] == 1
    runs = [dict(r, variant=v, round=0, total_s=r["run_s"] + r["load_s"], load_avg=[0.0, 0.0])
            for r, v in ((ours, "ours"), (tutorial, "tutorial-e5"), (again, "rerun"))]
    summary = bench.summarize(runs)
    assert summary["ratios"]["ours_vs_tutorial_e5_steady"] > 0
    assert summary["ratios"]["rerun_fraction_total"] > 0
    assert "ours" in bench.render(summary)


@pytest.mark.slow  # the real model, Chroma, worker processes: ~15 s each on the 2-core machine
def test_answer_latency_core(shared_data, tmp_path, embedder, monkeypatch):
    from benchmarks import answer_latency as bench
    from rag.service import Service
    from rag.settings import BUNDLED_EMBEDDER, Settings

    monkeypatch.chdir(tmp_path)
    settings = Settings(data_dir=tmp_path / "data", embed_model=BUNDLED_EMBEDDER, collection=bench.COLLECTION)
    service = Service(settings, embedder=embedder)
    built = bench.build_index(service, bench.COLLECTION, target_chunks=40, limit_articles=1)
    assert built["built"] and built["chunks"] >= 40  # one article, then copies of it
    assert not bench.build_index(service, bench.COLLECTION, target_chunks=40, limit_articles=1)["built"]  # cached
    with bench.StubProcess() as stub:
        result = bench.measure(service, bench.COLLECTION, stub.url, bench.questions(3), warmup=1)
    assert result["answered_by_model"] == 3  # the stand-in answered: the llm path was timed, not a fallback
    for name in ("retrieve", "llm_hits", "llm_first_token", "extractive_first_token"):
        s = result["latency_ms"][name]
        assert s["n"] == 3 and 0 < s["p50"] <= s["p95"] <= s["max"]
    result["index"] = built
    assert "first token p95" in bench.render(result)


@pytest.mark.slow  # the real model, Chroma, worker processes: ~15 s each on the 2-core machine
def test_abstention_core(shared_data, tmp_path, embedder, monkeypatch):
    from benchmarks import abstention as bench

    monkeypatch.chdir(tmp_path)
    result = bench.run(tmp_path / "data", limit=30, limit_articles=1, embedder=embedder, off_limit=5)
    d = result["at_default"]
    assert d["unanswerable"] + d["answerable"] == result["questions"] == 30 and d["off_collection"] == 5
    assert 0 <= d["abstain_unanswerable"] <= 1 and 0 <= d["abstain_answerable"] <= 1
    # the sweep replays the former lexical rule; the answerer's tiers are counted apart
    assert sum(result["tiers"]["answerable"].values()) + sum(result["tiers"]["unanswerable"].values()) == 30
    assert sum(result["tiers"]["off_collection"].values()) == 5
    sweep = {s["threshold"]: s for s in result["sweep"]}
    assert sweep[0.0]["abstain_answerable"] <= sweep[1.0]["abstain_answerable"]
    assert not any(math.isnan(s["abstain_unanswerable"]) for s in result["sweep"])
    assert "min_relevance" in bench.render(result)


@pytest.mark.slow  # a server process, the sample corpus ingested, the real models: ~30-60 s on 2 cores
def test_api_load_core_counts_every_request(tmp_path):
    from benchmarks import api_load

    result = api_load.run(clients=2, seconds=2, token_rate=200, reply_tokens=5, data_dir=tmp_path / "data",
                          log=lambda line: None)
    assert result["requests"] == sum(result["by_status"].values()) > 0
    assert set(result["by_status"]) <= {"ask 200", "search 200"} and not result["transport_errors"]
    assert result["server_rss_mib"]["high_water"] >= result["server_rss_mib"]["before"] > 0
