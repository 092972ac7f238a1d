"""The web panel for a user's own API keys, through Streamlit's AppTest."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from rag.access.keys import KeyStore


def _panel(data_dir: str, user: str, lang: str) -> None:
    from pathlib import Path

    from rag.access.control import Identity
    from rag.access.keys import KeyStore
    from ui.keys_panel import render

    render(KeyStore.open(Path(data_dir)), Identity(user, frozenset({"rrhh"})), lang)  # type: ignore[arg-type]


def test_a_user_makes_sees_and_revokes_only_her_own_keys(tmp_path) -> None:
    store = KeyStore.open(tmp_path)
    _, other = store.create("luis@uni.es", ["obras"], "his")
    at = AppTest.from_function(_panel, args=(str(tmp_path), "ana@uni.es", "es"), default_timeout=60).run()
    assert "No tiene claves activas." in [i.value for i in at.info]
    at.text_input[0].input("moodle")
    at.button[0].click().run()
    secret = at.code[0].value
    found = store.verify(secret)
    assert found is not None and found.user == "ana@uni.es" and found.groups == ("rrhh",)
    assert [k.label for k in store.list("ana@uni.es")] == ["moodle"]
    at = AppTest.from_function(_panel, args=(str(tmp_path), "ana@uni.es", "en"), default_timeout=60).run()
    assert not at.code and "his" not in " ".join(m.value for m in at.markdown)  # shown once; never his keys
    revoke = next(b for b in at.button if b.label == "Revoke")
    revoke.click().run()
    assert store.verify(secret) is None and store.verify(other) is not None
