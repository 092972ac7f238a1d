"""The deployment files agree with each other and with the code; read as text, no Docker needed.

docker-compose.yml is parsed with PyYAML and interpolated here the way Compose does it (``${VAR:-default}``,
``${VAR:?message}``, ``$$``), so these tests see the values a default ``docker compose up`` would use.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from rag.settings import DEFAULT_MODEL, Settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
GPU_FILE = ROOT / "docker-compose.gpu.yml"
DOCKERFILE = ROOT / "Dockerfile"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERIGNORE = ROOT / ".dockerignore"

# What department mode needs from the operator (docker-compose.yml requires each with ${VAR:?explanation}).
OIDC = {
    "RAG_OIDC_SERVER_METADATA_URL": "https://idp.example.edu/.well-known/openid-configuration",
    "RAG_OIDC_CLIENT_ID": "rag-privado",
    "RAG_OIDC_CLIENT_SECRET": "client-secret",
    "RAG_OIDC_REDIRECT_URI": "https://rag.example.edu/oauth2callback",
    "RAG_COOKIE_SECRET": "x" * 40,
}
# The environment of a first `docker compose up` after `cp .env.example .env`, minus the optional lines:
# only what Compose insists on.
REQUIRED_ONLY = {"DOCUMENTS_DIR": "/srv/documentos", **OIDC}

_REF = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


class MissingVariable(Exception):
    pass


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's substitution on every string in a parsed compose file."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["bare"]
        op, arg = match["op"], match["arg"]
        current = env.get(name)
        missing = current is None or (current == "" and op is not None and op.startswith(":"))
        if op in (":-", "-"):
            return arg if missing else current
        if op in (":?", "?"):
            if missing:
                raise MissingVariable(f"{name}: {arg}")
            return current
        return current or ""

    return _REF.sub(substitute, value)


def variables_used(text: str) -> set[str]:
    """Names of the variables a compose file substitutes (not the escaped $$name ones)."""
    return {m["braced"] or m["bare"] for m in _REF.finditer(text) if not m["escaped"]}


def raw_compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))


def compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    return interpolate(raw_compose(), REQUIRED_ONLY if env is None else env)


def services(env: dict[str, str] | None = None) -> dict[str, Any]:
    return compose(env)["services"]


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def published(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(host ip, host port, container port) for each short-syntax port."""
    out = []
    for spec in service.get("ports", []):
        parts = str(spec).split(":")
        assert len(parts) == 3, f"port {spec!r} does not name a host address"
        out.append((parts[0], parts[1], parts[2].split("/")[0]))
    return out


def mounts(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(source, target, mode) for each short-syntax volume."""
    out = []
    for spec in service.get("volumes", []):
        parts = str(spec).split(":")
        out.append((parts[0], parts[1], parts[2] if len(parts) > 2 else "rw"))
    return out


def healthcheck_text(service: dict[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    return " ".join(test) if isinstance(test, list) else test


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, with continuation lines joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    instructions = []
    for entry in logical:
        keyword, _, args = entry.partition(" ")
        instructions.append((keyword.upper(), args.strip()))
    return instructions


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, args in dockerfile_instructions():
        if keyword == "ENV":
            for item in shlex.split(args):
                key, _, value = item.partition("=")
                env[key] = value
    return env


def dockerfile_arg_default(name: str) -> str:
    for keyword, args in dockerfile_instructions():
        if keyword == "ARG" and args.startswith(name + "="):
            return args.split("=", 1)[1]
    raise AssertionError(f"Dockerfile has no ARG {name}=default")


def default_of(expression: str, variable: str) -> str:
    match = re.search(r"\$\{" + variable + r":-([^}]*)\}", expression)
    assert match, f"{expression!r} has no ${{{variable}:-default}}"
    return match.group(1)


# --------------------------------------------------------------------------------------------------------
# The services


def test_the_services_exist():
    assert {"ollama", "ollama-pull", "chroma", "app", "ingest", "api"} <= set(services())


def test_named_volumes_are_declared():
    declared = set(compose()["volumes"])
    assert {"ollama-models", "chroma-data", "rag-data"} <= declared
    for name, service in services().items():
        for source, _target, _mode in mounts(service):
            if not source.startswith((".", "/", "~")):
                assert source in declared, f"{name} mounts undeclared volume {source}"


def test_data_lives_on_volumes():
    svc = services()
    assert ("ollama-models", "/root/.ollama", "rw") in mounts(svc["ollama"])
    assert ("chroma-data", "/data", "rw") in mounts(svc["chroma"])
    assert ("rag-data", "/data", "rw") in mounts(svc["app"])


def test_a_default_up_needs_only_the_documented_variables():
    with pytest.raises(MissingVariable, match="DOCUMENTS_DIR"):
        compose(OIDC)
    compose(REQUIRED_ONLY)  # nothing else is required


@pytest.mark.parametrize("name", sorted(OIDC))
def test_department_mode_needs_each_sign_in_variable_with_an_explanation(name):
    with pytest.raises(MissingVariable, match=name):
        compose({key: value for key, value in REQUIRED_ONLY.items() if key != name})
    with pytest.raises(MissingVariable, match=name):
        compose({**REQUIRED_ONLY, name: ""})  # an empty line in .env is not a value
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    match = re.search(r"\$\{" + name + r":\?([^}]+)\}", text)
    assert match and len(match.group(1).split()) >= 5, f"{name} needs ${{{name}:?explanation}}"


def test_department_mode_is_the_compose_default(monkeypatch):
    env = environment(services()["app"])
    assert env["RAG_MODE"] == "department"
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings(_env_file=None)
    assert settings.mode == "department"
    assert settings.oidc_redirect_uri.endswith("/oauth2callback")
    assert settings.cookie_secret.get_secret_value() == OIDC["RAG_COOKIE_SECRET"]
    assert "RAG_COOKIE_SECRET" not in repr(settings) and OIDC["RAG_COOKIE_SECRET"] not in repr(settings)
    # still on loopback unless the operator publishes it
    assert published(services()["app"])[0][0] == "127.0.0.1"


def test_documents_dir_is_required_with_an_explanation():
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    match = re.search(r"\$\{DOCUMENTS_DIR:\?([^}]+)\}", text)
    assert match and len(match.group(1).split()) >= 3, "DOCUMENTS_DIR needs ${DOCUMENTS_DIR:?explanation}"


# --------------------------------------------------------------------------------------------------------
# Settings passed to the app and the ingestion job


def test_every_rag_variable_is_a_settings_field():
    fields = Settings.model_fields
    ollama_aliases = set(fields["ollama_host"].validation_alias.choices)
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    names = set(variables_used(text))
    for service in services().values():
        names |= set(environment(service))
    checked = 0
    for name in names:
        if name == "OLLAMA_HOST":
            assert name in ollama_aliases
            checked += 1
        elif name.startswith("RAG_") and name not in {"RAG_IMAGE_TAG"}:
            assert name[4:].lower() in fields, f"{name} is not a Settings field"
            checked += 1
    assert checked >= 5


def test_the_app_environment_is_valid_settings(monkeypatch):
    for key, value in environment(services()["app"]).items():
        monkeypatch.setenv(key, value)
    settings = Settings(_env_file=None)
    assert settings.chroma_url == "http://chroma:8000"
    assert str(settings.data_dir) == "/data"
    assert settings.model == DEFAULT_MODEL
    assert settings.collection == Settings.model_fields["collection"].default


def test_app_and_ingest_share_settings_and_data():
    svc = services()
    app, ingest = svc["app"], svc["ingest"]
    assert environment(app) == environment(ingest)
    assert app["image"] == ingest["image"]
    data_dir = environment(app)["RAG_DATA_DIR"]
    app_data = [m for m in mounts(app) if m[1] == data_dir]
    ingest_data = [m for m in mounts(ingest) if m[1] == data_dir]
    assert app_data and ingest_data, f"both must mount a volume at RAG_DATA_DIR={data_dir}"
    assert app_data[0][0] == ingest_data[0][0] == "rag-data"


def test_app_reaches_chroma_and_ollama_by_service_name():
    svc = services()
    env = environment(svc["app"])
    chroma = urlparse(env["RAG_CHROMA_URL"])
    assert chroma.hostname == "chroma" and chroma.hostname in svc
    assert str(chroma.port) in [str(p) for p in svc["chroma"]["expose"]]
    assert f"/127.0.0.1/{chroma.port}" in healthcheck_text(svc["chroma"])
    ollama = urlparse(env["OLLAMA_HOST"])
    assert ollama.hostname == "ollama" and ollama.hostname in svc
    assert str(ollama.port) in [container for _ip, _port, container in published(svc["ollama"])]
    assert environment(svc["ollama-pull"])["OLLAMA_HOST"] == env["OLLAMA_HOST"]


def test_the_default_model_is_the_applications_and_is_the_one_pulled():
    raw = raw_compose()
    app_model = raw["x-rag"]["environment"]["RAG_MODEL"]
    assert default_of(app_model, "RAG_MODEL") == DEFAULT_MODEL
    pulled = services()["ollama-pull"]["entrypoint"]
    assert pulled[:2] == ["ollama", "pull"] and pulled[2] == DEFAULT_MODEL
    assert interpolate(raw["services"]["ollama-pull"]["entrypoint"], {"RAG_MODEL": "llama3.2:3b"})[2] == (
        "llama3.2:3b"
    )


# --------------------------------------------------------------------------------------------------------
# Start-up order and health


def test_healthchecks_on_ollama_chroma_and_the_app():
    svc = services()
    assert "ollama" in healthcheck_text(svc["ollama"])
    chroma_check = healthcheck_text(svc["chroma"])
    assert "/api/v2/heartbeat" in chroma_check and " 200 " in chroma_check
    # $$status in the file reaches the container as $status (a bare $status would be substituted away).
    assert "$status" in chroma_check
    docker_health = [args for keyword, args in dockerfile_instructions() if keyword == "HEALTHCHECK"]
    assert len(docker_health) == 1
    assert "/_stcore/health" in docker_health[0] and ":8501/" in docker_health[0]
    assert "healthcheck" not in svc["app"] or not svc["app"]["healthcheck"].get("disable")


def test_the_api_serves_the_same_data_on_loopback_with_a_health_check():
    svc = services()
    api, app = svc["api"], svc["app"]
    assert api["image"] == app["image"] and environment(api) == environment(app)
    assert ("rag-data", environment(api)["RAG_DATA_DIR"], "rw") in mounts(api)
    command = api["command"]
    assert command[:2] == ["rag", "serve"] and command[command.index("--port") + 1] == "8502"
    assert published(api) == [("127.0.0.1", "8502", "8502")]
    assert ":8502/health" in healthcheck_text(api)
    assert depends_on_healthy(api)
    env = {**REQUIRED_ONLY, "API_BIND": "10.0.0.5", "API_PORT": "9000"}
    assert published(services(env)["api"]) == [("10.0.0.5", "9000", "8502")]
    assert "COPY api ./api" in DOCKERFILE.read_text(encoding="utf-8")


def depends_on_healthy(service: dict[str, Any]) -> bool:
    return all(service["depends_on"][name]["condition"] == "service_healthy" for name in ("chroma", "ollama"))


def test_app_waits_for_healthy_dependencies():
    depends = services()["app"]["depends_on"]
    for name in ("chroma", "ollama"):
        assert depends[name]["condition"] == "service_healthy"


def test_model_pull_is_a_one_shot_after_ollama():
    pull = services()["ollama-pull"]
    assert pull["depends_on"]["ollama"]["condition"] == "service_healthy"
    assert pull["restart"] == "no"
    assert pull["image"].split(":")[0] == services()["ollama"]["image"].split(":")[0] == "ollama/ollama"


def test_chroma_is_a_pinned_1x_image_matching_the_client_in_the_app_image():
    raw = raw_compose()
    image = services()["chroma"]["image"]
    name, tag = image.split(":")
    assert name == "chromadb/chroma" and re.fullmatch(r"1\.\d+\.\d+", tag), image
    assert default_of(raw["x-rag"]["build"]["args"]["CHROMA_VERSION"], "CHROMA_VERSION") == tag
    assert dockerfile_arg_default("CHROMA_VERSION") == tag
    assert environment(services()["chroma"])["ANONYMIZED_TELEMETRY"].upper() == "FALSE"


# --------------------------------------------------------------------------------------------------------
# Exposure


def test_ports_are_published_on_loopback_by_default():
    seen = 0
    for name, service in services().items():
        for ip, _port, _container in published(service):
            assert ip == "127.0.0.1", f"{name} publishes on {ip}"
            seen += 1
    assert seen >= 2
    assert "ports" not in services()["chroma"], "Chroma has no authentication: keep it off the host"


def test_the_operator_can_choose_the_address_and_port():
    env = {**REQUIRED_ONLY, "APP_BIND": "0.0.0.0", "APP_PORT": "8080"}
    assert published(services(env)["app"]) == [("0.0.0.0", "8080", "8501")]


# --------------------------------------------------------------------------------------------------------
# The ingestion job


def test_ingest_is_an_optional_job_over_a_read_only_folder():
    ingest = services()["ingest"]
    assert ingest["profiles"] == ["ingest"]
    assert ingest["command"][:3] == ["rag", "ingest", "/documents"]
    assert "--prune" in ingest["command"]
    assert (REQUIRED_ONLY["DOCUMENTS_DIR"], "/documents", "ro") in mounts(ingest)
    assert ingest["depends_on"]["chroma"]["condition"] == "service_healthy"
    assert ingest["healthcheck"]["disable"] is True
    assert ingest.get("restart") == "no"
    for name, service in services().items():
        if name != "ingest":
            assert "profiles" not in service, f"{name} must start with a plain `docker compose up`"


# --------------------------------------------------------------------------------------------------------
# GPU


def test_gpu_override_reserves_nvidia_gpus_for_ollama():
    gpu = yaml.safe_load(GPU_FILE.read_text(encoding="utf-8"))
    assert set(gpu["services"]) == {"ollama"}
    devices = gpu["services"]["ollama"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["driver"] == "nvidia" and "gpu" in devices[0]["capabilities"]
    assert "COMPOSE_FILE=docker-compose.yml:docker-compose.gpu.yml" in ENV_EXAMPLE.read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------------------
# .env.example


def test_env_example_lists_every_variable_compose_uses():
    documented = set()
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = re.match(r"#?\s*([A-Z][A-Z0-9_]*)=", line)
        if match:
            documented.add(match.group(1))
    used = variables_used(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert used <= documented, f"not in .env.example: {sorted(used - documented)}"


def test_env_example_is_a_working_env_file_once_sign_in_is_filled_in():
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    assert values["RAG_MODE"] == "department"
    with pytest.raises(MissingVariable, match="RAG_OIDC_|RAG_COOKIE_SECRET"):
        services(values)  # the example leaves the provider's details to the operator
    assert {key for key in OIDC if not values.get(key)} == set(OIDC)
    values.update(OIDC)
    svc = services(values)
    assert published(svc["app"]) == [("127.0.0.1", "8501", "8501")]
    assert environment(svc["app"])["RAG_MODEL"] == DEFAULT_MODEL
    assert services(values)["chroma"]["image"] == services()["chroma"]["image"]


# --------------------------------------------------------------------------------------------------------
# Dockerfile


def test_dockerfile_base_and_cpu_torch_before_the_project():
    instructions = dockerfile_instructions()
    assert instructions[0] == ("FROM", "python:3.11-slim")
    runs = [args for keyword, args in instructions if keyword == "RUN"]
    torch_at = next(i for i, args in enumerate(runs) if "torch==2.13.0" in args)
    assert "--index-url https://download.pytorch.org/whl/cpu" in runs[torch_at]
    project_at = next(i for i, args in enumerate(runs) if re.search(r"pip install \.(\s|$)", args))
    assert torch_at < project_at
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "torch==2.13.0" in makefile, "the Makefile and the Dockerfile must install the same torch"


def test_dockerfile_runs_as_a_non_root_user():
    instructions = dockerfile_instructions()
    users = [(i, args) for i, (keyword, args) in enumerate(instructions) if keyword == "USER"]
    assert users, "no USER instruction"
    last_at, user = users[-1]
    assert user not in {"root", "0", "0:0"}
    created_at = next(i for i, (k, args) in enumerate(instructions) if k == "RUN" and "useradd" in args)
    assert created_at < last_at
    assert re.search(rf"useradd\b.*--uid 10001\b.*\b{user}\b", instructions[created_at][1])
    assert f"chown {user}:{user} /data" in instructions[created_at][1]


def test_dockerfile_environment_is_private_and_matches_compose():
    env = dockerfile_env()
    assert env["HF_HUB_OFFLINE"] == "1"
    assert env["ANONYMIZED_TELEMETRY"] == "False"
    assert env["RAG_DATA_DIR"] == "/data" == environment(services()["app"])["RAG_DATA_DIR"]
    assert env["STREAMLIT_BROWSER_GATHER_USAGE_STATS"] == "false"


def test_dockerfile_serves_the_web_app_on_8501():
    instructions = dict(dockerfile_instructions())
    assert instructions["EXPOSE"].split() == ["8501", "8502"]  # the web app; the API (its own service)
    command = json.loads(instructions["CMD"])
    assert command[:2] == ["rag", "ui"]
    assert command[command.index("--port") + 1] == "8501"
    assert command[command.index("--host") + 1] == "0.0.0.0"
    assert [c for _ip, _port, c in published(services()["app"])] == ["8501"]


def test_dockerignore_keeps_local_state_out_but_not_what_the_image_needs():
    ignored = {line.strip() for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()}
    assert {".venv", "rag_data", ".git", ".env", ".pytest_cache"} <= ignored
    copies = [args.split() for keyword, args in dockerfile_instructions() if keyword == "COPY"]
    copied = [source for words in copies for source in words[:-1]]
    for path in copied:
        assert path not in ignored and (ROOT / path).exists(), f"COPY {path} is ignored or missing"
