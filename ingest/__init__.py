"""The ingestion job: files and folders in, documents written to the index."""
