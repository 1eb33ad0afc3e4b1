"""The `lora:` settings and the adapter folder, without a model: what is refused, what is written, and
that a damaged or foreign adapter is caught by name before any weights are used."""

import json

import pytest
from pydantic import ValidationError

from stackray.io import DataError, atomic_write_dir, restore_dir
from stackray.train import LoraSettings, check_base, read_adapter_meta, write_adapter


def test_settings_default_off_and_refuse_the_tied_head():
    assert LoraSettings().enabled is False
    assert LoraSettings(targets="q_proj").targets == ("q_proj",)
    with pytest.raises(ValidationError, match="lm_head is tied"):
        LoraSettings(targets=["q_proj", "lm_head"])
    with pytest.raises(ValidationError, match="Extra inputs"):
        LoraSettings(rnak=8)


def test_steps_are_epochs_of_batches_capped_by_max_steps():
    assert LoraSettings(epochs=2, batch_size=8).steps_for(70) == 18
    assert LoraSettings(epochs=2, batch_size=8, max_steps=5).steps_for(70) == 5


def _fake_peft_save(weights: bytes):
    def save(tmp):
        (tmp / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA"}))
        (tmp / "adapter_model.safetensors").write_bytes(weights)
    return save


def test_write_adapter_records_both_fingerprints_and_replaces_the_folder_whole(tmp_path):
    folder = tmp_path / "adapter"
    first = write_adapter(folder, _fake_peft_save(b"one"), {"base_fingerprint": "gguf:abc", "version": 1})
    second = write_adapter(folder, _fake_peft_save(b"two"), {"base_fingerprint": "gguf:abc", "version": 2})
    assert first["adapter_fingerprint"] != second["adapter_fingerprint"]
    assert read_adapter_meta(folder)["version"] == 2
    assert (folder / "adapter_model.safetensors").stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["adapter"]  # no temp or old folder left behind
    assert check_base(folder, "gguf:abc")["version"] == 2
    with pytest.raises(ValueError, match="trained on base gguf:abc"):
        check_base(folder, "gguf:other")


def test_a_damaged_adapter_is_named(tmp_path):
    folder = tmp_path / "adapter"
    write_adapter(folder, _fake_peft_save(b"one"), {"base_fingerprint": "gguf:abc"})
    (folder / "adapter_model.safetensors").write_bytes(b"edited")
    with pytest.raises(DataError, match="adapter_model.safetensors: its sha256 differs"):
        read_adapter_meta(folder)
    (folder / "stackray_adapter.json").unlink()
    with pytest.raises(DataError, match="stackray_adapter.json: missing"):
        read_adapter_meta(folder)


def test_a_failed_save_leaves_the_previous_adapter(tmp_path):
    folder = tmp_path / "adapter"
    write_adapter(folder, _fake_peft_save(b"one"), {"base_fingerprint": "gguf:abc", "version": 1})
    with pytest.raises(ValueError, match="wrote no adapter_model.safetensors"):
        write_adapter(folder, lambda tmp: (tmp / "adapter_config.json").write_text("{}"), {"base_fingerprint": "x"})
    assert read_adapter_meta(folder)["version"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["adapter"]


def test_restore_dir_undoes_a_replacement_cut_between_its_renames(tmp_path):
    atomic_write_dir(tmp_path / "a", lambda tmp: (tmp / "f").write_text("old"))
    (tmp_path / "a").rename(tmp_path / ".a.old-x1")  # the crash signature of the fallback path
    assert restore_dir(tmp_path / "a") is True
    assert (tmp_path / "a" / "f").read_text() == "old"
    assert restore_dir(tmp_path / "a") is False


def test_the_run_config_has_a_lora_section_that_names_its_problems():
    from stackray.run.config import ConfigError, config_from_dict

    data = {"pool": "openbookqa:train", "pool_limit": 10}
    assert config_from_dict({"data": data}).lora.enabled is False
    with pytest.raises(ConfigError, match="x.yaml: strategies: a run with lora.enabled plays exactly one strategy"):
        config_from_dict({"data": data, "lora": {"enabled": True}, "strategies": ["llf", "random"]}, source="x.yaml")
    with pytest.raises(ConfigError, match="x.yaml: lora.targets: lm_head is tied"):
        config_from_dict({"data": data, "lora": {"targets": ["lm_head"]}}, source="x.yaml")
    with pytest.raises(ConfigError, match="unknown key lora.rnak"):
        config_from_dict({"data": data, "lora": {"rnak": 8}}, source="x.yaml")
