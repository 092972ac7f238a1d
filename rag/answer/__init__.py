"""Answering: prompts, the chain over Ollama, extractive answers, citations and highlighting."""
