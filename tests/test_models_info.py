"""Model facts and licences: recognised from the text Ollama returns, listed by `rag models`."""

from __future__ import annotations

import json
import tomllib
from typing import Any

import pytest

from rag.cli import main
from rag.models.info import LINES, ModelDirectory, fold, licence_table, localized, recognise, recommendations
from rag.settings import Settings
from tests.conftest import ROOT
from tests.fixtures_ollama import APACHE_TEXT, LLAMA_TEXT, UNKNOWN_TEXT
from tests.ollama_stub import OllamaStub


@pytest.mark.parametrize(("text", "licence"), [
    (APACHE_TEXT, "apache-2.0"),
    ("Licensed under the Apache License, Version 2.0 (the \"License\");", "apache-2.0"),
    ("MIT License\n\nCopyright (c) Microsoft Corporation.\n\nPermission is hereby granted, free of charge, "
     "to any person obtaining a copy", "mit"),
    (LLAMA_TEXT, "llama-3.1"),
    ("META LLAMA 3 COMMUNITY LICENSE AGREEMENT\nMeta Llama 3 Version Release Date: April 18, 2024", "llama-3"),
    ("LLAMA 3.2 COMMUNITY LICENSE AGREEMENT", "llama-3.2"),
    ("Llama 3.3 Version Release Date: December 6, 2024", "llama-3.3"),
    ("Llama 4 Community License Agreement\nLlama 4 Version Effective Date: April 5, 2025", "llama-4"),
    ("Gemma Terms of Use\n\nLast modified: February 21, 2024", "gemma"),
    ("subject to the Gemma Prohibited Use Policy at ai.google.dev/gemma/prohibited_use_policy", "gemma"),
    ("Qwen RESEARCH LICENSE AGREEMENT\nRelease Date: September 19, 2024", "qwen-research"),
    ("Qwen LICENSE AGREEMENT\nRelease Date: September 19, 2024", "qwen"),
    ("Tongyi Qianwen LICENSE AGREEMENT", "qwen"),
    ("# Mistral AI Research License\nIf You want to use a Mistral Model…", "mistral-mrl"),
    ("Attribution-NonCommercial 4.0 International\n\n=======", "cc-by-nc-4.0"),
    ("TII Falcon License 2.0", "tii-falcon"),
    ("BigScience RAIL License v1.0\ndated May 19, 2022", "bigscience-rail"),
    (UNKNOWN_TEXT, "unknown"),
    ("", "none"),
    ("   \n", "none"),
])
def test_licence_texts_are_recognised_by_distinctive_phrases(text: str, licence: str) -> None:
    assert recognise(text).id == licence


def test_the_restrictive_licence_wins_when_a_model_carries_two() -> None:
    # a model packaging the Apache-2.0 text of its code beside a non-commercial licence for its weights
    assert recognise(APACHE_TEXT + "\n" + "Attribution-NonCommercial 4.0 International").restricted


def test_every_recognised_licence_has_four_sourced_lines() -> None:
    table = licence_table()
    assert {"apache-2.0", "mit", "llama-3", "llama-3.1", "llama-3.2", "llama-3.3", "llama-4", "gemma", "qwen",
            "qwen-research", "mistral-mrl", "cc-by-nc-4.0", "tii-falcon", "bigscience-rail", "unknown",
            "none"} <= {lic.id for lic in table}
    for lic in table:
        for key in LINES:
            line = getattr(lic, key)
            assert line.text, (lic.id, key)
            if lic.recognised:
                assert line.source.startswith("https://"), (lic.id, key)
            assert localized(line.text, "es") != line.text, (lic.id, key)  # each line has its Spanish
        assert all(p == fold(p) for p in lic.match)
    restricted = {lic.id for lic in table if lic.restricted}
    assert restricted == {"qwen-research", "mistral-mrl", "mistral-mnpl", "cc-by-nc-4.0"}


def test_recommendations_name_sources_and_keep_a_permissive_default() -> None:
    recs = recommendations()
    assert [r.download_gb for r in recs] == sorted(r.download_gb for r in recs)
    default = [r for r in recs if r.default]
    assert [r.name for r in default] == ["qwen2.5:7b"] and default[0].licence.spdx == "Apache-2.0"
    assert not any(r.licence.restricted for r in recs)
    assert all(r.language_source.startswith("https://") and r.size_source.startswith("https://") for r in recs)
    readme = (ROOT / "README.md").read_text()
    assert all(f"ollama pull {r.name}" in readme for r in recs), "README lists the same models"


def test_package_data_ships_the_tables() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "data/*.toml" in config["tool"]["setuptools"]["package-data"]["rag"]


def zoo_settings(stub: OllamaStub, tmp_path: Any) -> Settings:
    return Settings(ollama_host=stub.url, data_dir=tmp_path, request_timeout=5.0)


def test_facts_come_from_ollama_once_then_from_the_cache(model_zoo: OllamaStub, tmp_path) -> None:
    directory = ModelDirectory(zoo_settings(model_zoo, tmp_path))
    facts = {f.name: f for f in directory.facts()}
    llama = facts["llama3.1:8b"]
    assert (llama.card.family, llama.card.parameter_size, llama.card.quantization) == ("llama", "8.0B", "Q4_K_M")
    assert (llama.card.context_length, llama.card.size, llama.card.parameter_count) == (
        131072, 4_920_753_328, 8_030_261_248)
    assert llama.licence.id == "llama-3.1" and facts["qwen2.5:7b"].licence.spdx == "Apache-2.0"
    assert not facts["nomic-embed-text:latest"].answers and llama.answers
    shows = len(model_zoo.bodies("/api/show"))
    assert shows == 5
    directory.facts()
    assert directory.get("bare") is not None and directory.get("missing:1b") is None
    assert len(model_zoo.bodies("/api/show")) == shows, "cached"


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_rag_models_json_shows_each_models_licence_lines(model_zoo, monkeypatch, capsys) -> None:
    monkeypatch.setenv("OLLAMA_HOST", model_zoo.url)
    code, out, _ = run_cli(["models", "--json"], capsys)
    assert code == 0
    models = {m["name"]: m for m in json.loads(out)["models"]}
    qwen = models["qwen2.5:7b"]
    assert qwen["licence"]["spdx"] == "Apache-2.0" and qwen["licence"]["recognised"]
    assert qwen["licence"]["commercial"]["source"] == "https://www.apache.org/licenses/LICENSE-2.0"
    assert (qwen["family"], qwen["parameter_size"], qwen["quantization"], qwen["context_length"],
            qwen["size_bytes"]) == ("qwen2", "7.6B", "Q4_K_M", 32768, 4_683_087_332)
    llama = models["llama3.1:8b"]["licence"]
    assert llama["id"] == "llama-3.1" and "700 million" in llama["user_cap"]["text"]
    assert "Built with Llama" in llama["attribution"]["text"]
    assert llama["acceptable_use"]["source"] == "https://www.llama.com/llama3_1/use-policy/"
    assert models["acme:1b"]["licence"]["id"] == "unknown" and not models["acme:1b"]["licence"]["recognised"]
    assert models["bare:latest"]["licence"]["id"] == "none"


def test_rag_models_terminal_marks_restricted_and_points_to_the_text(model_zoo, monkeypatch, capsys) -> None:
    model_zoo.cards["acme:1b"]["license"] = "Attribution-NonCommercial 4.0 International"
    model_zoo.cards["mystery:2b"] = {"license": UNKNOWN_TEXT}
    model_zoo.models.append("mystery:2b")
    monkeypatch.setenv("OLLAMA_HOST", model_zoo.url)
    code, out, _ = run_cli(["models"], capsys)
    assert code == 0
    block = out.split("acme:1b\n", 1)[1].split("\n\n", 1)[0]
    assert "CC-BY-NC-4.0" in block and "RESTRICTED" in block
    assert "rag models --licence mystery:2b" in out
    code, out, _ = run_cli(["models", "--licence", "mystery:2b"], capsys)
    assert code == 0 and out == UNKNOWN_TEXT
    code, out, err = run_cli(["models", "--licence", "absent:7b"], capsys)
    assert code == 2 and "ollama pull absent:7b" in err


def test_rag_models_with_ollama_down_is_one_line_and_fails(dead_ollama_url, monkeypatch, capsys) -> None:
    monkeypatch.setenv("OLLAMA_HOST", dead_ollama_url)
    code, out, err = run_cli(["models", "--json"], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "ollama serve" in err


def test_rag_models_recommended_needs_no_ollama(dead_ollama_url, monkeypatch, capsys) -> None:
    monkeypatch.setenv("OLLAMA_HOST", dead_ollama_url)
    code, out, _ = run_cli(["models", "--recommended", "--json"], capsys)
    assert code == 0
    names = [r["name"] for r in json.loads(out)["recommended"]]
    assert "qwen2.5:7b" in names
