"""Shared pytest configuration; the lead extends it."""

pytest_plugins = ["tests.fixtures_ollama"]
