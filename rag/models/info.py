"""Model facts and licences: what Ollama says about each pulled model, with its licence recognised.

The facts come from Ollama's own API (rag.answer.generation reads ``/api/tags`` and ``/api/show``); the licence
text a model carries is recognised against ``rag/data/licences.toml``, a sourced table kept as data.

    directory = ModelDirectory(settings)
    for facts in directory.facts():     # asked once, then cached for ``ttl`` seconds
        facts.name, facts.licence.name, facts.licence.restricted
"""

from __future__ import annotations

import re
import threading
import time
import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from rag.answer.generation import ModelCard, OllamaGenerator
from rag.settings import Settings

FACTS_TTL = 60.0  # seconds: a model pulled meanwhile shows up within a minute
LINES = ("commercial", "attribution", "user_cap", "acceptable_use")  # the licence lines, in display order
_FOLD = re.compile(r"[^0-9a-z]+")


@dataclass(frozen=True)
class LicenceLine:
    """One claim about a licence and where it was read."""

    text: str
    source: str = ""


@dataclass(frozen=True)
class Licence:
    """One entry of the licence table."""

    id: str
    name: str
    url: str = ""
    spdx: str = ""
    restricted: bool = False  # non-commercial, research-only or non-production
    commercial: LicenceLine = LicenceLine("")
    attribution: LicenceLine = LicenceLine("")
    user_cap: LicenceLine = LicenceLine("")
    acceptable_use: LicenceLine = LicenceLine("")
    match: tuple[str, ...] = ()

    @property
    def recognised(self) -> bool:
        return self.id not in {"unknown", "none"}

    def lines(self) -> list[tuple[str, LicenceLine]]:
        return [(key, getattr(self, key)) for key in LINES]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "name": self.name, "spdx": self.spdx or None, "url": self.url or None,
                               "recognised": self.recognised, "restricted": self.restricted}
        for key, line in self.lines():
            out[key] = {"text": line.text, "source": line.source or None}
        return out


@dataclass(frozen=True)
class ModelFacts:
    """A pulled model's facts and its recognised licence (the text kept for whoever wants to read it)."""

    card: ModelCard
    licence: Licence

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def answers(self) -> bool:
        """Whether it can write answers (embedding-only models cannot)."""
        caps = self.card.capabilities
        return ("completion" in caps) if caps else "embed" not in self.card.name

    def to_json(self) -> dict[str, Any]:
        c = self.card
        return {"name": c.name, "family": c.family or None, "parameter_size": c.parameter_size or None,
                "parameter_count": c.parameter_count, "quantization": c.quantization or None,
                "context_length": c.context_length, "size_bytes": c.size,
                "capabilities": list(c.capabilities), "licence": self.licence.to_json()}


@dataclass(frozen=True)
class Recommendation:
    """A model that answers Spanish well, with the memory it needs and where that was read."""

    name: str
    download_gb: float
    licence: Licence
    language_source: str
    size_source: str
    default: bool = False

    @property
    def pull(self) -> str:
        return f"ollama pull {self.name}"


def fold(text: str) -> str:
    """Text as licence phrases are compared: lower case, every run of other characters one space.

    Example: 'LLAMA 3.1 COMMUNITY LICENSE' -> 'llama 3 1 community license'
    """
    return " ".join(_FOLD.sub(" ", text.lower().replace("\u2019", "'")).split())


def _line(raw: Any) -> LicenceLine:
    raw = raw or {}
    return LicenceLine(str(raw.get("text", "")), str(raw.get("source", "")))


@cache
def _licence_data() -> dict[str, Any]:
    return tomllib.loads(resources.files("rag").joinpath("data/licences.toml").read_text(encoding="utf-8"))


def localized(text: str, lang: str) -> str:
    """A licence line in ``lang`` when the table has it translated (English otherwise)."""
    translations: dict[str, str] = _licence_data().get("translations", {}).get(lang, {})
    return translations.get(text, text)


@cache
def licence_table() -> tuple[Licence, ...]:
    """The licence table shipped with the package, in recognition order."""
    data = _licence_data()
    return tuple(
        Licence(id=e["id"], name=e["name"], url=e.get("url", ""), spdx=e.get("spdx", ""),
                restricted=bool(e.get("restricted", False)), commercial=_line(e.get("commercial")),
                attribution=_line(e.get("attribution")), user_cap=_line(e.get("user_cap")),
                acceptable_use=_line(e.get("acceptable_use")),
                match=tuple(fold(p) for p in e.get("match", [])))
        for e in data["licence"]
    )


def licence_by_id(licence_id: str) -> Licence:
    return next(lic for lic in licence_table() if lic.id == licence_id)


def recognise(text: str) -> Licence:
    """The table entry whose distinctive phrases occur in ``text``; "none" for no text, else "unknown"."""
    folded = fold(text or "")
    if not folded:
        return licence_by_id("none")
    padded = f" {folded} "
    for entry in licence_table():
        if any(f" {phrase} " in padded for phrase in entry.match):
            return entry
    return licence_by_id("unknown")


@cache
def recommendations() -> tuple[Recommendation, ...]:
    """The recommended models (rag/data/recommended_models.toml), smallest first."""
    text = resources.files("rag").joinpath("data/recommended_models.toml").read_text(encoding="utf-8")
    return tuple(
        Recommendation(name=m["name"], download_gb=float(m["download_gb"]), licence=licence_by_id(m["licence"]),
                       language_source=m["language_source"], size_source=m["size_source"],
                       default=bool(m.get("default", False)))
        for m in sorted(tomllib.loads(text)["model"], key=lambda m: float(m["download_gb"]))
    )


def facts_from_cards(cards: list[ModelCard]) -> list[ModelFacts]:
    return [ModelFacts(card, recognise(card.licence)) for card in sorted(cards, key=lambda c: c.name)]


@dataclass
class ModelDirectory:
    """Every pulled model's facts, asked of Ollama once and kept ``ttl`` seconds (raises GenerationError)."""

    settings: Settings
    ttl: float = FACTS_TTL
    _cached: tuple[float, list[ModelFacts]] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def facts(self) -> list[ModelFacts]:
        with self._lock:
            if self._cached is not None and time.monotonic() - self._cached[0] < self.ttl:
                return self._cached[1]
            with OllamaGenerator(self.settings) as generator:
                facts = facts_from_cards(generator.cards())
            self._cached = (time.monotonic(), facts)
            return facts

    def get(self, model: str) -> ModelFacts | None:
        """The facts of ``model`` (a name without a tag means ':latest'), or None if it is not pulled."""
        for facts in self.facts():
            if facts.name == model or (":" not in model and facts.name == f"{model}:latest"):
                return facts
        return None


def human_size(size: int) -> str:
    """Bytes as people read disk sizes: 4683087332 -> '4.7 GB'."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit in {"B", "KB"} else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"  # pragma: no cover
