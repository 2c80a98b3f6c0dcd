"""``local:`` model specs: which GGUF file they name, refused cheaply when it is not one."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from askloop.agent.errors import InvalidInputError
from askloop.config.settings import load_settings
from askloop.integrations.models.factory import make_chat_model
from askloop.integrations.models.gguf import local_model_file
from askloop.integrations.models.local import LOCAL_MODEL_ID, LocalChatModel

#: The start of a GGUF file: magic, version 3, zero tensors, zero metadata entries.
GGUF_HEAD = b"GGUF" + (3).to_bytes(4, "little") + bytes(16)


def _local(spec: str) -> LocalChatModel:
    model = make_chat_model(spec, load_settings())
    assert isinstance(model, LocalChatModel)
    return model


@pytest.mark.parametrize("spec", ["local:default", LOCAL_MODEL_ID])
def test_the_shipped_model_is_named_by_default_or_by_the_id_answers_record(spec: str):
    assert _local(spec).model_id == LOCAL_MODEL_ID


def test_a_gguf_path_is_the_model_and_its_id_names_the_file(tmp_path: Path):
    path = tmp_path / "tuned-v2.gguf"
    path.write_bytes(GGUF_HEAD)
    model = _local(f"local:{path}")
    assert model.model_id == f"local:{path}"
    assert local_model_file(str(path)) == path


def test_a_folder_means_its_model_gguf(tmp_path: Path):
    (tmp_path / "model.gguf").write_bytes(GGUF_HEAD)
    assert _local(f"local:{tmp_path}").model_id == f"local:{tmp_path / 'model.gguf'}"


def test_a_relative_path_is_taken_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    (tmp_path / "m.gguf").write_bytes(GGUF_HEAD)
    monkeypatch.chdir(tmp_path)
    assert local_model_file("m.gguf") == tmp_path / "m.gguf"


def test_a_missing_file_is_refused_by_name(tmp_path: Path):
    with pytest.raises(InvalidInputError, match="no model file at .*missing.gguf"):
        make_chat_model(f"local:{tmp_path / 'missing.gguf'}", load_settings())


def test_a_folder_without_model_gguf_is_refused(tmp_path: Path):
    (tmp_path / "other.gguf").write_bytes(GGUF_HEAD)
    with pytest.raises(InvalidInputError, match="holds no model.gguf"):
        local_model_file(str(tmp_path))


@pytest.mark.parametrize("content", [b"", b"GGU", b"not a model at all", b"\x00GGUF...."])
def test_a_file_that_is_not_gguf_is_refused_before_loading(tmp_path: Path, content: bytes):
    path = tmp_path / "fake.gguf"
    path.write_bytes(content)
    with pytest.raises(InvalidInputError, match="not a GGUF model file"):
        local_model_file(str(path))


def test_an_unreadable_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "locked.gguf"
    path.write_bytes(GGUF_HEAD)

    def denied(*_: object, **__: object) -> None:  # chmod 0 does not stop root (CI)
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(Path, "open", denied)
    with pytest.raises(InvalidInputError, match="cannot read .*locked.gguf: Permission denied"):
        local_model_file(str(path))


def test_a_directory_named_like_a_file_is_refused(tmp_path: Path):
    odd = tmp_path / "model.gguf"
    odd.mkdir()
    with pytest.raises(InvalidInputError, match="not a file"):
        local_model_file(str(tmp_path))
