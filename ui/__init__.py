"""The Streamlit front end (presentation only; the logic lives in ``rag`` and ``ingest``)."""
