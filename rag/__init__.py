"""Private question answering over an institution's own documents."""

__version__ = "0.1.0"
