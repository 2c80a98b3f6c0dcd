"""What ``askloop`` shows on a terminal while it works: a status line on stderr (what is
loading, what the graph is doing) and the answer on stdout as the model writes it.

Nothing of this reaches a pipe or a file: scripts read the same output as before, and
only the one-time embedding-model export is said everywhere (it takes tens of seconds).
"""

from __future__ import annotations

import math
import shutil
import sys
from typing import Any, TextIO

from askloop.agent.answers import Progress
from askloop.integrations.cli import say

__all__ = ["IngestBars", "Terminal", "prepare_embedder", "prepare_models"]

_CLEAR_LINE = "\r\x1b[K"


class Terminal:
    """A status line on ``err`` and the streamed answer on ``out``, each only on a tty."""

    def __init__(self, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self._out = out or sys.stdout
        self._err = err or sys.stderr
        self.streams = _isatty(self._out)
        self.shows_status = _isatty(self._err)
        self._status = False
        self._streamed = ""

    def status(self, text: str) -> None:
        """Replace the status line (stderr on a terminal only)."""
        if not self.shows_status or self._streamed:
            return
        self._err.write(f"{_CLEAR_LINE}askloop: {text}")
        self._err.flush()
        self._status = True

    def clear_status(self) -> None:
        if self._status:
            self._err.write(_CLEAR_LINE)
            self._err.flush()
            self._status = False

    def progress(self, event: Progress) -> None:
        """The Assistant's ``on_progress``: status lines, then the answer as it grows."""
        if event.kind == "status":
            self.status(event.text)
            return
        if not self.streams or not event.text.startswith(self._streamed):
            return  # a draft that does not extend what is shown waits for the final text
        self.clear_status()
        self._out.write(event.text[len(self._streamed) :])
        self._out.flush()
        self._streamed = event.text

    def finish(self, answer: str) -> None:
        """Show the final answer: the rest of it after the streamed draft, or the whole
        answer in place of a draft it differs from (citations checked, facts grounded)."""
        self.clear_status()
        shown = self._streamed
        self._streamed = ""
        if not shown:
            print(answer, file=self._out)
        elif answer.startswith(shown):
            print(answer[len(shown) :], file=self._out)
        elif answer.strip() == shown.strip():
            print(file=self._out)
        else:
            self._replace(shown, answer)
        self._out.flush()

    def _replace(self, shown: str, answer: str) -> None:
        columns, lines = shutil.get_terminal_size()
        rows = sum(max(1, math.ceil(len(line) / max(columns, 1))) for line in shown.split("\n"))
        if rows < lines:
            # Back to the draft's first row, then clear from there to the end of the screen.
            up = f"\x1b[{rows - 1}F" if rows > 1 else "\r"
            self._out.write(f"{up}\x1b[J{answer}\n")
        else:  # the draft scrolled off the screen: it cannot be taken back
            self._out.write(f"\n\n(final answer)\n{answer}\n")


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # replaced or closed streams
        return False


def prepare_embedder(embedder: Any, terminal: Terminal) -> None:
    """Load the embedding model now, saying so; its one-time ONNX export is said even
    off a terminal (it takes tens of seconds, once per machine)."""
    if getattr(embedder, "export_pending", False):
        terminal.clear_status()
        say.note(
            "preparing the embedding model for this machine (a one-time ONNX export; "
            "it takes up to a minute)"
        )
    elif getattr(embedder, "loaded", True):
        return
    else:
        terminal.status("loading the embedding model…")
    embedder.load()
    terminal.clear_status()


def prepare_models(services: Any, terminal: Terminal) -> None:
    """Load what answering needs before the question runs, saying what is loading. Off a
    terminal the chat models load when first used, as always (nothing to tell)."""
    prepare_embedder(services.embedder, terminal)
    if not terminal.shows_status:
        return
    context = services.context
    seen: set[int] = set()
    for model in (context.answer_model, context.finetuned_model):
        if id(model) in seen or getattr(model, "loaded", True):
            continue
        seen.add(id(model))
        terminal.status(f"loading the chat model {model.model_id}…")
        model.load()
    terminal.clear_status()


class IngestBars:
    """Two progress bars on stderr for ``askloop ingest`` (an ``IngestProgress``): files
    read, and chunks embedded and stored out of those made so far. Shown only on a
    terminal and only when the ingest takes more than a moment."""

    def __init__(self, err: TextIO | None = None, *, delay: float = 0.5) -> None:
        self._err = err or sys.stderr
        self._delay = delay
        self._bars: list[Any] = []

    def started(self, *, files: int) -> None:
        from tqdm import tqdm

        common: dict[str, Any] = {"file": self._err, "delay": self._delay, "disable": None}
        self._files = tqdm(total=files, desc="files ", unit="file", position=0, **common)
        self._chunks = tqdm(total=0, desc="chunks", unit="chunk", position=1, **common)
        self._bars = [self._chunks, self._files]

    def file_done(self, *, chunks: int) -> None:
        if chunks:
            self._chunks.total += chunks
            self._chunks.refresh()
        self._files.update(1)

    def chunks_stored(self, count: int) -> None:
        self._chunks.update(count)

    def close(self) -> None:
        for bar in self._bars:
            bar.close()
        self._bars = []
