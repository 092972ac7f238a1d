"""The model picker's facts: size, quantisation, context and licence of the chosen model, restricted ones
marked, the licence lines with their sources and the full text one click away; the recommended models."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st

from rag.answer.generation import OllamaStatus
from rag.errors import GenerationError
from rag.models.info import (
    FACTS_TTL,
    LINES,
    ModelDirectory,
    ModelFacts,
    human_size,
    localized,
    recommendations,
)
from rag.settings import Settings
from ui.components import md_escape
from ui.i18n import Translator


@dataclass(frozen=True)
class PickerFacts:
    """What the picker knows about the pulled models (empty with ``error`` set when Ollama could not say)."""

    facts: tuple[ModelFacts, ...] = ()
    error: str = ""

    def get(self, model: str) -> ModelFacts | None:
        return next((f for f in self.facts if f.name in (model, f"{model}:latest")), None)

    def answering(self) -> list[str]:
        """The models that can write answers (embedding models cannot)."""
        return [f.name for f in self.facts if f.answers]


@st.cache_data(ttl=FACTS_TTL, show_spinner=False)
def load_facts(host: str, models: tuple[str, ...], _settings: Settings) -> PickerFacts:
    """Every pulled model's facts, asked of Ollama at most once a minute per host and set of models."""
    try:
        return PickerFacts(tuple(ModelDirectory(_settings, ttl=0).facts()))
    except GenerationError as exc:
        return PickerFacts(error=str(exc))


def picker_facts(settings: Settings, status: OllamaStatus) -> PickerFacts:
    if not status.reachable:
        return PickerFacts(error=status.error)
    return load_facts(settings.ollama_url, status.models, settings)


def option_label(facts: PickerFacts, tr: Translator) -> Callable[[str], str]:
    """The picker's format_func: a restricted model says so in the list itself."""

    def label(model: str) -> str:
        found = facts.get(model)
        return tr("models.restricted_option", model=model) if found and found.licence.restricted else model

    return label


def licence_badge(facts: ModelFacts, tr: Translator) -> str:
    lic = facts.licence
    if lic.restricted:
        return tr("models.restricted")
    if lic.id == "none":
        return tr("models.none")
    if not lic.recognised:
        return tr("models.unknown")
    return f":green-badge[{md_escape(lic.spdx or lic.name)}]"


def render_model_facts(facts: PickerFacts, model: str, tr: Translator) -> None:
    """Facts and licence of ``model`` under the picker; the licence's lines and text in an expander."""
    if facts.error:
        st.caption(tr("models.facts_error", error=md_escape(facts.error)))
        return
    found = facts.get(model)
    if found is None:
        return
    c = found.card
    st.caption(tr("models.facts", family=md_escape(c.family or "?"), params=md_escape(c.parameter_size or "?"),
                  quant=md_escape(c.quantization or "?"),
                  context=f"{c.context_length:,}" if c.context_length else "?",
                  size=human_size(c.size) if c.size else "?"))
    st.markdown(licence_badge(found, tr))
    with st.expander(tr("models.details"), icon=":material/gavel:"):
        lic = found.licence
        spdx = f" ({lic.spdx})" if lic.spdx else ""
        st.markdown(tr("models.licence", name=md_escape(lic.name + spdx)))
        for key in LINES:
            line = getattr(lic, key)
            source = f" · [{tr('models.source')}]({line.source})" if line.source else ""
            text = localized(line.text, tr.lang)
            st.markdown(f"**{tr('models.' + key)}:** {md_escape(text)}{source}")
        if c.licence:
            st.caption(tr("models.full_text"))
            st.code(c.licence, language=None, wrap_lines=True, height=240)
        else:
            st.caption(tr("models.no_text"))
        st.caption(tr("models.disclaimer"))


def render_recommendations(tr: Translator) -> None:
    """The sourced list of models that answer Spanish well, with their ``ollama pull`` lines."""
    with st.popover(tr("models.recommended"), icon=":material/recommend:", width="stretch"):
        st.markdown(tr("models.recommended_intro"))
        for r in recommendations():
            st.markdown("- " + tr("models.recommended_row", pull=r.pull, gb=f"{r.download_gb:.1f}",
                                  licence=md_escape(r.licence.spdx or r.licence.name),
                                  default=tr("models.default") if r.default else "",
                                  lang_src=r.language_source, size_src=r.size_source))
