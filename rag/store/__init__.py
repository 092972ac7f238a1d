"""Storage adapters: vectors in Chroma, the catalog and lexical index in SQLite."""
