"""Prompts are files with a content-hash version."""

from __future__ import annotations

import pytest

from askloop.prompts import load_prompt, prompt_names


def test_every_prompt_loads_with_a_stable_version():
    names = prompt_names()
    assert {"answer_with_context", "answer_direct", "context_message", "rewrite_query"} <= set(
        names
    )
    for name in names:
        prompt = load_prompt(name)
        assert prompt.text.strip() and len(prompt.version) == 12
        assert load_prompt(name).version == prompt.version


def test_versions_differ_when_the_text_does():
    versions = {load_prompt(n).version for n in prompt_names()}
    assert len(versions) == len(prompt_names())


def test_render_fills_placeholders_and_refuses_missing_ones():
    prompt = load_prompt("context_message")
    text = prompt.render(documents="[1] Leave: 26 days", question="How many days?")
    assert "[1] Leave: 26 days" in text and text.rstrip().endswith("How many days?")
    with pytest.raises(KeyError):
        prompt.render(question="only one")


def test_unknown_prompt_names_the_known_ones():
    with pytest.raises(KeyError, match="answer_direct"):
        load_prompt("nope")
