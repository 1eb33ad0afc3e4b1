"""The bundled copies under data/: every named set loads, with the documented counts and hashes."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import stackray
from stackray.data import ENV_VAR, NAMED_SETS, data_file_hash, data_root, describe, gold_array, load_items, option_mask, resolve_path

SPECS = [f"{name}:{split}" for name, splits in NAMED_SETS.items() for split in splits]
REPO_DATA = Path(stackray.__file__).resolve().parents[1] / "data"
README = REPO_DATA / "README.md"


@pytest.fixture(autouse=True)
def _default_data_root(monkeypatch):
    # These tests are about the bundled copy, whatever $STACKRAY_DATA says in the caller's shell.
    monkeypatch.delenv(ENV_VAR, raising=False)


@pytest.fixture(scope="module")
def loaded() -> dict:
    return {spec: load_items(spec) for spec in SPECS}


def test_documented_counts_match_readme_table():
    # The counts in NAMED_SETS are the ones data/README.md documents (checked, not copied by hand).
    text = README.read_text(encoding="utf-8")
    for name, splits in NAMED_SETS.items():
        for split, count in splits.items():
            row = re.search(rf"^\| `{name}/{split}\.jsonl` \| ([\d,]+)", text, flags=re.M)
            assert row is not None, f"{name}/{split} is missing from the README table"
            assert int(row.group(1).replace(",", "")) == count


@pytest.mark.parametrize("spec", SPECS)
def test_set_loads_with_documented_count(loaded, spec):
    name, split = spec.split(":")
    items = loaded[spec]
    assert len(items) == NAMED_SETS[name][split]
    assert len({it.id for it in items}) == len(items)
    assert all(it.answer is not None and 0 <= it.answer < it.num_options for it in items)


def test_some_counts_spelled_out(loaded):
    assert len(loaded["mmlu:validation"]) == 1531
    assert len(loaded["openbookqa:test"]) == 500
    assert len(loaded["piqa:validation"]) == 1838
    assert len({it.subject for it in loaded["mmlu:test"]}) == 57
    assert {it.subject for it in loaded["medqa:test"]} == {"step1", "step2&3"}


@pytest.mark.parametrize("spec", SPECS)
def test_file_hash_matches_readme(spec):
    name, split = spec.split(":")
    text = README.read_text(encoding="utf-8")
    assert f"{data_file_hash(spec)}  {name}/{split}.jsonl" in text


def test_option_counts_and_mask(loaded):
    counts = {spec: {it.num_options for it in items} for spec, items in loaded.items()}
    assert set().union(*counts.values()) == {2, 3, 4, 5}
    assert counts["piqa:validation"] == {2}
    assert counts["arc_easy:test"] == {3, 4, 5}
    assert counts["mmlu:test"] == {4}
    for spec, items in loaded.items():
        mask = option_mask(items)
        assert mask.dtype == np.bool_ and mask.shape == (len(items), max(counts[spec]))
        np.testing.assert_array_equal(mask.sum(axis=1), [it.num_options for it in items])
        # Real options come first: each row is a run of True then a run of False.
        assert not np.any(~mask[:, :-1] & mask[:, 1:])
        gold = gold_array(items)
        assert np.all(mask[np.arange(len(items)), gold])


def test_arc_irregular_rows_as_documented(loaded):
    # README: ARC-Easy test has 7 rows with 3 choices and 4 with 5; index 4 is gold once.
    items = loaded["arc_easy:test"]
    sizes = [it.num_options for it in items]
    assert sizes.count(3) == 7 and sizes.count(5) == 4
    assert int(np.sum(gold_array(items) == 4)) == 1
    by_id = {it.id: it for it in items}
    assert by_id["arc_easy/test/500"].num_options == 5 and by_id["arc_easy/test/500"].answer == 1


def test_every_set_has_a_licence_note():
    text = README.read_text(encoding="utf-8")
    for heading in ("## MMLU", "## MedQA", "## AI2 ARC", "## OpenBookQA", "## PIQA"):
        section = text.split(heading, 1)[1].split("\n## ", 1)[0]
        assert "**License" in section, heading


def test_resolve_path_and_describe():
    path = resolve_path("piqa:validation")
    assert path == data_root() / "piqa" / "validation.jsonl" and path.is_file()
    info = describe("piqa:validation")
    assert info["items"] == info["documented_items"] == 1838
    assert info["options"] == {2: 1838}
    assert info["sha256"] == data_file_hash(path)


def test_data_root_is_next_to_the_package():
    assert data_root() == REPO_DATA
