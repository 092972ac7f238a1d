"""The HTTP API (``rag serve``): REST and OpenAI-compatible chat over the same service as the CLI and the page.

Dependencies point one way: ``api`` imports ``rag`` and ``ingest``; neither imports ``api``.
"""
