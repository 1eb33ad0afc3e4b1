"""Specs, data folders, subject filters and seeded subsamples."""

from __future__ import annotations

import json
import shutil

import pytest

from stackray.data import ENV_VAR, data_file_hash, data_root, items_hash, load_items, parse_spec, resolve_path, select_items


@pytest.fixture(autouse=True)
def _default_data_root(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


@pytest.fixture(scope="module")
def mmlu_val():
    return load_items("mmlu:validation")


@pytest.mark.parametrize(
    "spec, words",
    [
        ("mmlux:test", ["unknown data set 'mmlux'", "mmlu:validation|test|dev", "piqa:validation"]),
        ("piqa:test", ["split 'test'", "valid splits: validation"]),
        ("arc_easy", ["no split", "train, validation, test"]),
        ("medqa:validation", ["valid splits: test"]),
        ("", ["non-empty"]),
        ("hf:", ["bad hub spec"]),
        ("hf:a:b:c:d", ["bad hub spec"]),
    ],
)
def test_unknown_set_or_split_lists_the_valid_ones(spec, words):
    with pytest.raises(ValueError) as info:
        load_items(spec)
    for w in words:
        assert w in str(info.value)


def test_hub_spec_parsing():
    s = parse_spec("hf:allenai/ai2_arc:ARC-Easy:test")
    assert (s.kind, s.name, s.config, s.split) == ("hf", "allenai/ai2_arc", "ARC-Easy", "test")
    s = parse_spec("hf:piqa:validation")
    assert (s.name, s.config, s.split) == ("piqa", None, "validation")
    assert parse_spec("hf:piqa").split is None
    with pytest.raises(ValueError, match="no local data file"):
        resolve_path("hf:piqa:validation")


def test_subject_filter(mmlu_val):
    items = load_items("mmlu:validation", subjects=["anatomy", "virology"])
    assert {it.subject for it in items} == {"anatomy", "virology"}
    assert items == [it for it in mmlu_val if it.subject in ("anatomy", "virology")]
    assert load_items("mmlu:validation", subjects="anatomy") == [it for it in mmlu_val if it.subject == "anatomy"]


def test_unknown_subject_lists_valid_ones():
    with pytest.raises(ValueError) as info:
        load_items("mmlu:validation", subjects=["anatomy", "astrology"])
    msg = str(info.value)
    assert "astrology" in msg and "abstract_algebra" in msg and "57 in all" in msg
    with pytest.raises(ValueError, match="subjects is empty"):
        load_items("mmlu:validation", subjects=[])


def test_seeded_subsample(mmlu_val):
    a = load_items("mmlu:validation", limit=100, seed=3)
    assert len(a) == 100 and len({it.id for it in a}) == 100
    assert a == load_items("mmlu:validation", limit=100, seed=3)
    b = load_items("mmlu:validation", limit=100, seed=4)
    assert {it.id for it in a} != {it.id for it in b}
    # File order is kept; a smaller limit is a subset of a larger one for the same seed.
    position = {it.id: i for i, it in enumerate(mmlu_val)}
    assert [position[it.id] for it in a] == sorted(position[it.id] for it in a)
    assert {it.id for it in load_items("mmlu:validation", limit=40, seed=3)} <= {it.id for it in a}
    # The subsample spreads over subjects rather than taking the first rows.
    assert len({it.subject for it in a}) > 20


def test_subsample_does_not_depend_on_row_order(mmlu_val):
    picked = select_items(mmlu_val, limit=50, seed=7)
    assert {it.id for it in select_items(mmlu_val[::-1], limit=50, seed=7)} == {it.id for it in picked}


def test_shuffle_is_a_seeded_permutation(mmlu_val):
    s1 = load_items("mmlu:validation", shuffle=True, seed=1)
    assert sorted(it.id for it in s1) == sorted(it.id for it in mmlu_val) and s1 != mmlu_val
    assert s1 == load_items("mmlu:validation", shuffle=True, seed=1)
    assert s1 != load_items("mmlu:validation", shuffle=True, seed=2)
    sub = load_items("mmlu:validation", limit=30, shuffle=True, seed=1)
    assert sub == [it for it in s1 if it.id in {x.id for x in sub}]


def test_limit_bounds(mmlu_val):
    assert load_items("openbookqa:test", limit=10_000) == load_items("openbookqa:test")
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="limit"):
            select_items(mmlu_val, limit=bad)


def test_subject_filter_then_limit():
    items = load_items("mmlu:validation", subjects=["anatomy"], limit=5, seed=0)
    assert len(items) == 5 and {it.subject for it in items} == {"anatomy"}


def test_root_argument_and_env_var(tmp_path, monkeypatch):
    (tmp_path / "piqa").mkdir()
    src = data_root() / "piqa" / "validation.jsonl"
    lines = src.read_text(encoding="utf-8").splitlines()[:3]
    (tmp_path / "piqa" / "validation.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert len(load_items("piqa:validation", root=tmp_path)) == 3
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert len(load_items("piqa:validation")) == 3
    assert resolve_path("piqa:validation") == tmp_path / "piqa" / "validation.jsonl"
    with pytest.raises(FileNotFoundError, match="missing from the data folder"):
        load_items("mmlu:dev")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=ENV_VAR):
        load_items("piqa:validation")


def test_hashes(tmp_path):
    copy = tmp_path / "copy.jsonl"
    shutil.copyfile(resolve_path("piqa:validation"), copy)
    assert data_file_hash(copy) == data_file_hash("piqa:validation")
    rows = [json.loads(line) for line in copy.read_text(encoding="utf-8").splitlines()]
    rows[0]["answer"] = 1 - rows[0]["answer"]
    copy.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    assert data_file_hash(copy) != data_file_hash("piqa:validation")
    a, b = load_items("piqa:validation"), load_items(str(copy))
    assert items_hash(a) == items_hash(list(a)) and items_hash(a) != items_hash(b)
    assert items_hash(a[1:]) == items_hash(b[1:])
    assert len(data_file_hash(copy)) == 64
