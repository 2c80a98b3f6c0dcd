"""The embedded SmolLM2 chat model. Tests marked slow load the real GGUF (~100 MB, ~0.2 s)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from askloop.agent.chat import ChatModel, Message, StreamingChatModel
from askloop.agent.errors import InvalidInputError, ModelUnavailableError
from askloop.integrations.models.local import LOCAL_MODEL_ID, LocalChatModel, _trim, drop_repeats

EXTRACTION = [
    Message("system", "Answer with the number only."),
    Message(
        "user",
        "Context: The office has 26 meeting rooms.\n"
        "Question: How many meeting rooms does the office have?",
    ),
]


@pytest.fixture(scope="module")
def model() -> Iterator[LocalChatModel]:
    with LocalChatModel() as m:
        yield m


def test_constructing_loads_nothing(tmp_path: Path):
    m = LocalChatModel(model_path=tmp_path / "missing.gguf", threads=2, context_tokens=1024)
    assert isinstance(m, ChatModel)
    assert m.model_id == f"local:{tmp_path / 'missing.gguf'}" and m.context_tokens == 1024
    assert LocalChatModel().model_id == LOCAL_MODEL_ID
    with pytest.raises(ModelUnavailableError, match="missing"):
        m.complete(EXTRACTION)


def test_a_file_that_is_not_a_model_is_unavailable(tmp_path: Path):
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a gguf file")
    with pytest.raises(ModelUnavailableError, match="could not be loaded"):
        LocalChatModel(model_path=bogus).complete(EXTRACTION)


def test_bad_arguments_are_refused_before_loading(tmp_path: Path):
    m = LocalChatModel(model_path=tmp_path / "missing.gguf", context_tokens=512)
    with pytest.raises(InvalidInputError):
        m.complete(EXTRACTION, max_tokens=512)
    with pytest.raises(InvalidInputError):
        m.complete([])
    with pytest.raises(InvalidInputError):
        LocalChatModel(threads=0)


def test_trim_cuts_the_middle_of_the_oldest_non_system_turns():
    turns = [
        {"role": "system", "content": "S" * 50},
        {"role": "user", "content": "old " * 25},
        {"role": "assistant", "content": "reply"},
        {"role": "user", "content": "HEAD" + "x" * 100 + "QUESTION?"},
    ]
    out = _trim(turns, 150)
    assert out[0] == turns[0]
    assert out[1]["content"].strip() == "[...]"
    assert out[3]["content"].startswith("HEAD") and out[3]["content"].endswith("QUESTION?")
    assert "[...]" in out[3]["content"]
    assert sum(len(t["content"]) for t in turns) - sum(len(t["content"]) for t in out) >= 150
    assert turns[1]["content"] == "old " * 25  # the input is not modified


@pytest.mark.slow
def test_greedy_answers_depend_on_the_input_only(model: LocalChatModel):
    first = model.complete(EXTRACTION, max_tokens=40)
    other = model.complete([Message("user", "Name three colours.")], max_tokens=40)
    again = model.complete(EXTRACTION, max_tokens=40)
    assert first.text == again.text and other.text != first.text
    assert first.text.strip()
    assert first.model == LOCAL_MODEL_ID
    assert first.input_tokens is not None and first.input_tokens > 20
    assert first.output_tokens is not None and 0 < first.output_tokens <= 40


@pytest.mark.slow
def test_extracts_a_number_from_the_context(model: LocalChatModel):
    assert "26" in model.complete(EXTRACTION, max_tokens=40).text


@pytest.mark.slow
def test_streaming_hands_out_the_same_answer_piece_by_piece(model: LocalChatModel):
    pieces: list[str] = []
    streamed = model.stream(EXTRACTION, max_tokens=40, on_text=pieces.append)
    assert isinstance(model, StreamingChatModel)
    assert len(pieces) > 1 and streamed.text == drop_repeats("".join(pieces))
    assert streamed.text == model.complete(EXTRACTION, max_tokens=40).text
    assert streamed.output_tokens is not None and 0 < streamed.output_tokens <= 40
    assert streamed.finish_reason in ("stop", "length")


@pytest.mark.slow
def test_max_tokens_cuts_the_answer(model: LocalChatModel):
    story = [Message("user", "Write a long story about a lighthouse keeper.")]
    out = model.complete(story, max_tokens=8)
    assert out.output_tokens is not None and out.output_tokens <= 8
    assert out.finish_reason == "length"


@pytest.mark.slow
def test_stop_sequence_ends_the_answer(model: LocalChatModel):
    counting = [Message("user", "Count from 1 to 20, separated by commas.")]
    out = model.complete(counting, max_tokens=100, stop=["7"])
    assert "6" in out.text and "7" not in out.text
    assert out.finish_reason == "stop"


@pytest.mark.slow
def test_an_over_long_prompt_is_cut_to_fit(caplog: pytest.LogCaptureFixture):
    facts = " ".join(f"Room {i} is on floor {i % 7}." for i in range(3000))
    prompt = [Message("system", "Answer briefly."), Message("user", f"{facts}\nQuestion: hi?")]
    with (
        LocalChatModel(context_tokens=512) as small,
        caplog.at_level(logging.WARNING, logger="askloop.integrations.models.local"),
    ):
        out = small.complete(prompt, max_tokens=64)
    assert out.input_tokens is not None and out.input_tokens <= 512 - 64
    assert "prompt cut" in caplog.text


@pytest.mark.slow
def test_close_frees_and_the_next_call_reloads():
    m = LocalChatModel(threads=2, context_tokens=512)
    assert m.complete(EXTRACTION, max_tokens=4).text
    m.close()
    m.close()  # idempotent
    assert m.complete(EXTRACTION, max_tokens=4).text
    m.close()


def test_drop_repeats_cuts_a_loop_at_the_first_repeated_paragraph():
    from askloop.integrations.models.local import drop_repeats

    looped = "Use the phone bridge.\n\nCall 555.\n\nUse the  phone bridge.\n\nCall 555."
    assert drop_repeats(looped) == "Use the phone bridge.\n\nCall 555."
    assert drop_repeats("One.\n\nTwo.") == "One.\n\nTwo."
    assert drop_repeats("") == ""
    assert drop_repeats("Paris, la France, la France, la France, la") == "Paris, la France"
    assert drop_repeats("Yes. Yes, really.") == "Yes. Yes, really."
