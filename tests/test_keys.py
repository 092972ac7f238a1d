"""API keys: shown once, stored hashed, revocable, carrying their user's groups."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest

from rag.access.keys import KEYS_FILE, KeyStore
from rag.errors import SettingsError
from tests.conftest import ROOT, subprocess_env


def test_a_key_is_stored_hashed_and_verifies(tmp_path) -> None:
    store = KeyStore.open(tmp_path)
    info, secret = store.create("ana@uni.es", ["rrhh", " rrhh", ""], "intranet")
    assert secret.startswith(f"rag_{info.id}_") and len(secret) > 40
    assert info.groups == ("rrhh",)
    raw = (tmp_path / KEYS_FILE).read_bytes()
    assert secret.encode() not in raw and secret.split("_", 2)[2].encode() not in raw
    found = store.verify(secret)
    assert found is not None and found.user == "ana@uni.es" and found.last_used_at
    for bad in ["", "rag_", secret[:-1], secret + "x", f"rag_{info.id}_" + "A" * 43, "Bearer " + secret]:
        assert store.verify(bad) is None
    assert [k.id for k in store.list("ana@uni.es")] == [info.id]
    assert "hash" not in json.dumps([k.to_json() for k in store.list()])


def test_revoked_keys_stop_working_and_only_their_user_revokes_them(tmp_path) -> None:
    store = KeyStore.open(tmp_path)
    ana, secret = store.create("ana", ["rrhh"])
    store.create("luis", ["obras"])
    with pytest.raises(SettingsError):
        store.revoke(ana.id, user="luis")
    assert store.verify(secret) is not None
    revoked = store.revoke(ana.id, user="ana")
    assert revoked.revoked_at and store.verify(secret) is None
    assert [k.user for k in store.list()] == ["luis"]
    assert len(store.list(include_revoked=True)) == 2


def test_groups_follow_the_last_sign_in(tmp_path) -> None:
    store = KeyStore.open(tmp_path)
    _, secret = store.create("ana", ["rrhh"])
    assert store.refresh_groups("ana", ["obras", "rrhh"]) == 1
    found = store.verify(secret)
    assert found is not None and found.groups == ("obras", "rrhh")


def test_cli_creates_lists_and_revokes(tmp_path, settings) -> None:
    env = subprocess_env(settings)

    def rag(*args: str) -> dict:
        out = subprocess.run([sys.executable, "-m", "rag", "keys", *args, "--json"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    created = rag("create", "--user", "ana@uni.es", "--groups", "rrhh,obras", "--label", "moodle")
    assert created["key"].startswith("rag_") and created["groups"] == ["obras", "rrhh"]
    listed = rag("list")["keys"]
    assert [k["id"] for k in listed] == [created["id"]] and "key" not in listed[0]
    assert rag("revoke", created["id"])["active"] is False
    assert rag("list")["keys"] == []
    conn = sqlite3.connect(settings.data_dir / KEYS_FILE)
    assert conn.execute("SELECT count(*) FROM keys").fetchone() == (1,)


def test_who_a_request_is_in_each_mode(tmp_path) -> None:
    from pydantic import SecretStr

    from api.auth import Authenticator
    from api.errors import ApiError
    from rag.settings import Settings

    store = KeyStore.open(tmp_path)
    personal = Authenticator(Settings(data_dir=tmp_path, _env_file=None), store)
    assert personal.identify(None).user == "local"  # no key anywhere: loopback's one user
    _, secret = store.create("ana@uni.es", ["rrhh"])
    with pytest.raises(ApiError) as refused:
        personal.identify(None)  # a key exists now: every request needs one
    assert refused.value.status == 401
    assert personal.identify(f"Bearer {secret}").user == "local"  # in personal mode, as the local user
    personal.settings.api_key = SecretStr("operator-key")
    assert personal.identify("Bearer operator-key").admin
    department = Authenticator(Settings(data_dir=tmp_path, mode="department", cookie_secret="x" * 40,
                                        admin_groups=["secretaria"], _env_file=None), store)
    ana = department.identify(f"bearer {secret}")
    assert (ana.user, ana.groups, ana.admin) == ("ana@uni.es", frozenset({"rrhh"}), False)
    _, boss = store.create("jefa@uni.es", ["secretaria"])
    assert department.identify(f"Bearer {boss}").admin  # the settings' rule, as at sign-in
    for bad in [None, "Bearer operator-key", "Basic " + secret, f"Bearer {secret}x"]:
        with pytest.raises(ApiError):
            department.identify(bad)
