"""The converted copy of the bundled GGUF (stackray.scoring.models.hf_folder) is the GGUF's model, bit for bit.

Every stackray load of the default model reads that copy (a fraction of a second) instead of the GGUF
(about 35 s), so a conversion that drifted (a tensor dequantised differently, a tokenizer rebuilt with
other special tokens or another chat template) would silently change every feature while the feature
cache, keyed by the GGUF's hash, kept serving the old ones. The reference is the GGUF loaded by
transformers itself (the session's `gguf_base`).
"""

import json
from pathlib import Path

import pytest
import torch

from stackray.scoring.models import hf_folder, load_plain_model, resolve_model

pytestmark = pytest.mark.slow

TEXTS = ["Which is a mammal? A whale.", "  two  spaces\nand a newline", "<|im_start|>user\nhi<|im_end|>\n", "émigré naïve 42"]


def test_the_converted_folder_holds_the_ggufs_weights_and_tokenizer(gguf_base):
    reference, ref_tok = gguf_base
    source = resolve_model(None)
    folder = Path(hf_folder(source))
    assert {"config.json", "tokenizer.json"} <= {p.name for p in folder.iterdir()}
    assert any(p.suffix == ".safetensors" for p in folder.iterdir()) and not any(p.suffix == ".bin" for p in folder.iterdir())
    assert json.loads((folder / "stackray_source.json").read_text())["key"].startswith(source.fingerprint())

    model, tokenizer = load_plain_model(source)
    assert not getattr(model, "is_quantized", False)  # trainable: the reason for the copy in the first place
    assert model.get_output_embeddings().weight is model.get_input_embeddings().weight  # still tied
    converted, original = model.state_dict(), reference.state_dict()
    assert converted.keys() == original.keys()
    for name, tensor in original.items():
        assert torch.equal(converted[name], tensor), name
    for text in TEXTS:
        assert tokenizer(text)["input_ids"] == ref_tok(text)["input_ids"], text
    assert (tokenizer.bos_token, tokenizer.eos_token) == (ref_tok.bos_token, ref_tok.eos_token)
    assert tokenizer.chat_template == ref_tok.chat_template


def test_a_second_call_reuses_the_folder():
    source = resolve_model(None)
    first = Path(hf_folder(source))
    stamp = (first / "config.json").stat().st_mtime_ns
    assert Path(hf_folder(source)) == first and (first / "config.json").stat().st_mtime_ns == stamp
