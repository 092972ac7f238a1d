"""One settings object, read from the environment (prefix ``RAG_``) and an optional ``.env``.

Built at the entry points (CLI, UI, benchmarks) and passed down; no module reads the environment itself.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rag.errors import SettingsError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA_DIR = PROJECT_ROOT / "rag_data"
DEFAULT_MODEL = "qwen2.5:7b"
BUNDLED_EMBEDDER = "bundled:all-MiniLM-L6-v2"

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
    multilingual: bool = Field(
        default=True,
        description="Also score passages with the bundled multilingual encoder (rag.multilingual).",
    )
    multilingual_e5: bool = Field(
        default=True,
        description="With the multilingual channel, also give passages not in English a "
        "multilingual-e5-small vector (rag.e5): better Spanish retrieval, slower Spanish ingestion.",
    )
    chroma_url: str = Field(default="", description="Empty: embedded Chroma. Set: a Chroma server URL.")
    ollama_host: str = Field(
        default="http://localhost:11434",
        validation_alias=AliasChoices("OLLAMA_HOST", "RAG_OLLAMA_HOST"),
        description="Ollama's own variable.",
    )
    model: str = Field(default=DEFAULT_MODEL, description="The Ollama model that writes answers.")
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
    max_upload_mb: int = Field(default=200, ge=1, description="Largest file the web page accepts.")
    allow_downloads: bool = Field(
        default=False, description="Let Hugging Face download models (off: fully offline)."
    )

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
