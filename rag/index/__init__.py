"""Indexing: documents cut into passages and written to Chroma and the SQLite catalog, kept consistent."""
