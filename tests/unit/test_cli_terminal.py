"""What ``askloop`` shows on a terminal: status lines, the streamed answer, load notices
and the ingest's progress bars; and that none of it reaches a pipe."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import pytest

from askloop.agent.answers import Progress
from askloop.config.settings import IngestSettings
from askloop.integrations.cli.terminal import (
    IngestBars,
    Terminal,
    prepare_embedder,
    prepare_models,
)
from askloop.integrations.ingest.pipeline import ingest_paths
from askloop.integrations.stores.lance.store import LanceStore
from tests.fakes import HashingEmbedder


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


class Loadable:
    def __init__(self, model_id: str = "local:test") -> None:
        self.model_id = model_id
        self.loaded = False
        self.export_pending = False

    def load(self) -> None:
        self.loaded = True


def _texts(*pieces: str) -> list[Progress]:
    out, text = [], ""
    for piece in pieces:
        text += piece
        out.append(Progress("text", text))
    return out


def test_on_a_terminal_the_answer_streams_after_the_status_line():
    out, err = Tty(), Tty()
    t = Terminal(out, err)
    t.progress(Progress("status", "Searching the knowledge base…"))
    assert "askloop: Searching the knowledge base…" in err.getvalue() and out.getvalue() == ""
    seen = []
    for event in _texts("Every ", "employee ", "gets 26 days."):
        t.progress(event)
        seen.append(out.getvalue())
    assert seen == ["Every ", "Every employee ", "Every employee gets 26 days."]
    assert err.getvalue().endswith("\r\x1b[K")  # the status line is gone before the text
    t.finish("Every employee gets 26 days. [1]")
    assert out.getvalue() == "Every employee gets 26 days. [1]\n"


def test_a_final_answer_unlike_the_draft_replaces_it_on_screen():
    out = Tty()
    t = Terminal(out, Tty())
    for event in _texts("The fee is ", "£12.50."):
        t.progress(event)
    t.finish("“The yearly fee is GBP 45.” [1]")
    # Back to the start of the draft's line, cleared to the end of the screen, then the answer.
    assert out.getvalue() == "The fee is £12.50.\r\x1b[J“The yearly fee is GBP 45.” [1]\n"


def test_off_a_terminal_nothing_streams_and_no_status_is_written():
    out, err = io.StringIO(), io.StringIO()
    t = Terminal(out, err)
    assert not t.streams and not t.shows_status
    t.progress(Progress("status", "Searching the knowledge base…"))
    for event in _texts("Every ", "employee."):
        t.progress(event)
    assert out.getvalue() == "" and err.getvalue() == ""
    t.finish("Every employee.")
    assert out.getvalue() == "Every employee.\n"


def test_loading_the_chat_models_is_said_once_per_model_on_a_terminal():
    err = Tty()
    model, embedder = Loadable(), Loadable()
    services = SimpleNamespace(
        embedder=embedder, context=SimpleNamespace(answer_model=model, finetuned_model=model)
    )
    prepare_models(services, Terminal(io.StringIO(), err))
    assert model.loaded and embedder.loaded
    assert err.getvalue().count("askloop: loading the chat model local:test…") == 1
    assert "askloop: loading the embedding model…" in err.getvalue()
    assert err.getvalue().endswith("\r\x1b[K")


def test_off_a_terminal_chat_models_load_when_first_used():
    model, embedder = Loadable(), Loadable()
    services = SimpleNamespace(
        embedder=embedder, context=SimpleNamespace(answer_model=model, finetuned_model=model)
    )
    prepare_models(services, Terminal(io.StringIO(), io.StringIO()))
    assert not model.loaded


def test_the_one_time_onnx_export_is_announced_even_off_a_terminal(
    capsys: pytest.CaptureFixture[str],
):
    embedder = Loadable()
    embedder.export_pending = True
    prepare_embedder(embedder, Terminal(io.StringIO(), io.StringIO()))
    assert embedder.loaded
    assert "askloop: preparing the embedding model for this machine (a one-time ONNX export" in (
        capsys.readouterr().err
    )


def test_the_real_embedder_knows_whether_its_export_is_pending(tmp_path: Path):
    from askloop.integrations.models.embedders import MiniLMEmbedder

    assert MiniLMEmbedder(cache_dir=tmp_path).export_pending
    assert not MiniLMEmbedder(runtime="torch", cache_dir=tmp_path).export_pending


def test_ingest_shows_files_and_chunks_on_a_terminal(tmp_path: Path):
    kb = tmp_path / "kb"
    kb.mkdir()
    for n in range(3):
        (kb / f"doc{n}.md").write_text(f"# Doc {n}\n\nParagraph {n} of the handbook.\n")
    embedder = HashingEmbedder()
    store = LanceStore(
        tmp_path / "s", embedder_id=embedder.model_id, dimensions=embedder.dimensions
    )
    err = Tty()
    bars = IngestBars(err, delay=0)
    try:
        report = ingest_paths(
            [kb],
            tenant="t",
            store=store,
            embedder=embedder,
            settings=IngestSettings(),
            progress=bars,
        )
    finally:
        bars.close()
        store.close()
    shown = err.getvalue()
    assert report.chunks_written == 3
    assert "files" in shown and "3/3" in shown
    assert "chunks" in shown and f"{report.chunks_written}/{report.chunks_written}" in shown
