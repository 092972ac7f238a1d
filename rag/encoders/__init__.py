"""Encoders: the models that turn passages and questions into vectors (e5 in-process, sentence-transformers, Ollama)."""
