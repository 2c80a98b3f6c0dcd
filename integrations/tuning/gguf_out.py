"""Write a tuned Llama-family model back to GGUF for llama.cpp.

The base GGUF is the template: its metadata (architecture numbers, tokenizer, chat
template) is copied as is, and each of its tensors is replaced by the tuned weight of
the same name (the ``gguf`` package's own Hugging Face -> GGUF name map). Matrices are
written as f16 (or f32), norms stay f32 as llama.cpp wants them.

Transformers' GGUF loader undoes llama.cpp's rotary layout of the query and key
projections when it reads them; it is redone here, so a base model written back
unchanged gives the base model's weights again (tests check that).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["GGUFWriteError", "rotary_layout", "write_gguf"]

log = logging.getLogger(__name__)

# Written by GGUFWriter itself (counts, version, architecture) or re-set below.
_NOT_COPIED = ("GGUF.", "general.architecture", "general.file_type", "general.quantization_version")


class GGUFWriteError(RuntimeError):
    """The tuned weights do not fit the base GGUF (another architecture, missing tensors)."""


def rotary_layout(weight: np.ndarray, heads: int) -> np.ndarray:
    """Rows of a query/key projection from Hugging Face's rotary order (halves) to
    llama.cpp's (interleaved pairs), per head."""
    rows = weight.shape[0]
    return (
        weight.reshape(heads, 2, rows // heads // 2, *weight.shape[1:])
        .swapaxes(1, 2)
        .reshape(weight.shape)
    )


def _field_value(field: Any) -> tuple[Any, Any, Any]:
    import gguf

    types = field.types
    value = field.contents()
    if types[0] == gguf.GGUFValueType.ARRAY:
        return value, types[0], types[-1]
    return value, types[0], None


def write_gguf(
    state: Mapping[str, Any],
    *,
    base: Path,
    out: Path,
    name: str,
    f16: bool = True,
) -> dict[str, int]:
    """Write ``state`` (a Hugging Face state dict of torch tensors) as a GGUF shaped like
    ``base``; atomic (a partial file never has ``out``'s name). Returns tensor counts."""
    import gguf

    reader = gguf.GGUFReader(base)
    arch = str(reader.fields["general.architecture"].contents())
    if arch != "llama":
        raise GGUFWriteError(f"only llama-family GGUFs can be written back (base is {arch})")
    blocks = int(reader.fields[f"{arch}.block_count"].contents())
    q_heads = int(reader.fields[f"{arch}.attention.head_count"].contents())
    kv_heads = int(reader.fields[f"{arch}.attention.head_count_kv"].contents())
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, blocks)
    by_gguf: dict[str, np.ndarray] = {}
    for hf_name, tensor in state.items():
        target = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if target is None:  # buffers llama.cpp recomputes (e.g. rotary frequencies)
            log.debug("not written to GGUF: %s", hf_name)
            continue
        array = tensor.detach().to("cpu").float().numpy()
        if target.endswith("attn_q.weight"):
            array = rotary_layout(array, q_heads)
        elif target.endswith("attn_k.weight"):
            array = rotary_layout(array, kv_heads)
        by_gguf[target] = array
    wanted = [t.name for t in reader.tensors]
    missing = [n for n in wanted if n not in by_gguf]
    if missing:
        raise GGUFWriteError(f"tuned model lacks {len(missing)} tensors, e.g. {missing[0]}")

    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    writer = gguf.GGUFWriter(partial, arch)
    try:
        for key, field in reader.fields.items():
            if key.startswith(_NOT_COPIED):
                continue
            value, vtype, sub_type = _field_value(field)
            if key == "general.name":
                value = name
            writer.add_key_value(key, value, vtype, sub_type=sub_type)
        writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if f16 else gguf.LlamaFileType.ALL_F32)
        counts = {"f16": 0, "f32": 0}
        for tensor_name in wanted:
            array = by_gguf[tensor_name]
            if f16 and array.ndim >= 2:
                array, kind = array.astype(np.float16), "f16"
            else:
                array, kind = array.astype(np.float32), "f32"
            writer.add_tensor(tensor_name, array)
            counts[kind] += 1
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    except BaseException:
        writer.close()
        partial.unlink(missing_ok=True)
        raise
    writer.close()
    os.replace(partial, out)
    log.info("wrote %s (%d f16, %d f32 tensors)", out, counts["f16"], counts["f32"])
    return counts
