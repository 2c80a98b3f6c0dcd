"""Prompt templates as files; a loader returns their text and content-hash version."""
