"""Every error the project raises on purpose, in one tree; each message says what to do.

RagError
├── SettingsError        bad configuration (a setting, a collection name)
├── IndexError_          the index cannot be opened or written
│   ├── IndexBusyError   another writer holds the lock
│   └── EmbedderMismatchError  a collection was built with another embedder
├── DocumentNotFoundError
├── CollectionNotFoundError  no such collection, or one the caller may not read (the same message)
├── AccessDeniedError    the caller may read a collection but not do this to it (write, admin)
├── ConversationNotFoundError  no conversation by that id of the caller's
├── LoadError            one input file could not be read (carries a one-line reason)
└── GenerationError      the answer model failed
    ├── OllamaUnavailableError  nothing listens at OLLAMA_HOST
    ├── ModelNotFoundError      the model is not pulled
    └── GenerationTimeoutError
"""

from __future__ import annotations


class RagError(Exception):
    """Base of every error the project raises deliberately."""


class SettingsError(RagError):
    """A setting or argument is invalid."""


class IndexError_(RagError):  # noqa: N801 - trailing underscore avoids the builtin IndexError
    """The index cannot be opened or written."""


class IndexBusyError(IndexError_):
    """Another process is writing to the same data directory."""


class EmbedderMismatchError(IndexError_):
    """A collection was built with a different embedding model."""


class DocumentNotFoundError(RagError):
    """No document with that name or hash in the collection."""


class CollectionNotFoundError(RagError):
    """No collection by that name that the caller may read; ``available`` lists the ones they may."""

    def __init__(self, name: str, available: list[str] | None = None) -> None:
        self.name = name
        self.available = available or []
        listed = "" if available is None else f" (collections: {', '.join(available) or 'none yet'})"
        super().__init__(f"there is no collection {name!r}{listed}; see `rag docs collections`")


class AccessDeniedError(RagError):
    """The caller may read the collection but lacks the right to change it (or its grants)."""


class ConversationNotFoundError(RagError):
    """No conversation by that id belongs to the caller."""


class LoadError(RagError):
    """A file could not be turned into text; ``reason`` is one line for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class GenerationError(RagError):
    """The answer model failed."""


class OllamaUnavailableError(GenerationError):
    """Nothing answers at the configured Ollama host."""


class ModelNotFoundError(GenerationError):
    """The requested model is not pulled into Ollama."""

    def __init__(self, message: str, available: list[str] | None = None) -> None:
        super().__init__(message)
        self.available = available or []


class GenerationTimeoutError(GenerationError):
    """Ollama did not answer in time."""
