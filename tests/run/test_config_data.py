"""The data a config names is checked when the config loads (before Ray, before a run directory), and
relative paths are the config file's: resolved against its folder and stored absolute."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from stackray.run import ActiveRun, ConfigError, load_config


def _write(folder: Path, text: str, name: str = "c.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def _jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _row(i: int, answer: int | None = 0) -> dict:
    return {"id": f"q{i}", "question": f"question {i}?", "options": ["yes", "no"], "answer": answer}


@pytest.mark.parametrize("data, match", [
    ("{pool: openbookqa:train, eval: openbookqa:tset}",
     r"c\.yaml: data\.eval: no split 'tset' in openbookqa \(have: train, validation, test\)$"),
    ("{pool: openbookqa}", r"data\.pool: 'openbookqa' names no split \(have: train, validation, test; e\.g\. openbookqa:train\)"),
    ("{pool: openbok:train}", r"data\.pool: no data set 'openbok' \(have: mmlu, medqa, "),
    ("{pool: missing.jsonl}", r"data\.pool: no such data file /.*/missing\.jsonl"),
    ("{pool: 'hf:'}", r"data\.pool: bad hub spec 'hf:'"),
    ("{pool: openbookqa:train, subjects: [astronomy]}", r"data\.subjects: unknown subject\(s\) \['astronomy'\]"),
    ("{pool: openbookqa:train, eval: openbookqa:train, eval_limit: 50}",
     r"data\.eval: shares \d+ items with data\.pool \(e\.g\. 'openbookqa/train/\d+'\)"),
    ("{pool: medqa:test, pool_limit: 100, holdout: 100}",
     r"data\.holdout: holding out 100 items leaves no pool \(the pool has 100\)"),
    ("{pool: medqa:test, holdout: 10, eval: openbookqa:test}", r"data\.holdout: give either data\.eval or data\.holdout"),
    ("{pool: openbookqa:train, eval_limit: 10}", r"data\.eval_limit: limits data\.eval, which is not set"),
    ("{pool: openbookqa:train, pool_limit: 0}", r"data\.pool_limit: must be >= 1, got 0"),
])
def test_bad_data_is_a_config_error_naming_file_and_key(tmp_path, data, match):
    with pytest.raises(ConfigError, match=match):
        load_config(_write(tmp_path, f"data: {data}\n"))


def test_eval_items_need_gold_and_a_gold_oracle_needs_gold_pool_items(tmp_path):
    _jsonl(tmp_path / "pool.jsonl", [_row(i, None if i == 3 else 0) for i in range(8)])
    _jsonl(tmp_path / "eval.jsonl", [_row(100 + i, None if i == 1 else 1) for i in range(4)])
    with pytest.raises(ConfigError, match=r"c\.yaml: data\.eval: item 'q101' has no gold answer"):
        load_config(_write(tmp_path, "data: {pool: pool.jsonl, eval: eval.jsonl}\n"))
    with pytest.raises(ConfigError, match=r"c\.yaml: oracle\.kind: gold needs gold answers, and pool item 'q3' has none"):
        load_config(_write(tmp_path, "data: {pool: pool.jsonl}\n"))
    human = load_config(_write(tmp_path, "data: {pool: pool.jsonl}\noracle: {kind: human}\n"))
    assert len(human.items()[0]) == 8  # annotators answer what has no gold


def test_a_bad_jsonl_row_names_config_key_file_and_line(tmp_path):
    pool = _jsonl(tmp_path / "pool.jsonl", [_row(0), _row(1)])
    pool.write_text(pool.read_text() + '{"id": "q2", "question": "?", "options": ["only one"], "answer": 0}\n')
    with pytest.raises(ConfigError, match=rf"c\.yaml: data\.pool: {pool}:3.*options"):
        load_config(_write(tmp_path, "data: {pool: pool.jsonl}\n"))


def test_hub_specs_are_checked_for_syntax_only(tmp_path):
    config = load_config(_write(tmp_path, "data: {pool: 'hf:some-org/some-set:train', eval: openbookqa:test}\n"))
    assert config.data.pool == "hf:some-org/some-set:train"
    assert config._items is None  # nothing fetched at load time; RunConfig.items() fetches when a run is made


def test_items_are_the_checked_selection(tmp_path):
    config = load_config(_write(tmp_path, "data: {pool: medqa:test, pool_limit: 50, holdout: 20}\n"))
    pool, evals = config.items()
    assert (len(pool), len(evals)) == (30, 20)
    assert not {it.id for it in pool} & {it.id for it in evals}


def test_relative_paths_are_resolved_against_the_config_folder(tmp_path, monkeypatch):
    folder = tmp_path / "project" / "configs"
    _jsonl(folder / "data" / "pool.jsonl", [_row(i) for i in range(6)])
    (folder / "model").mkdir()
    text = ("data: {pool: data/pool.jsonl}\n"
            "scoring: {model: ./model, adapter: ../adapters/a, cache_dir: cache}\n")
    path = _write(folder, text)
    monkeypatch.chdir(tmp_path)  # the working directory plays no part
    config = load_config(Path("project/configs/c.yaml"))
    assert config.data.pool == str(folder / "data" / "pool.jsonl")
    assert config.scoring.model == str(folder / "model")
    assert config.scoring.adapter == str(tmp_path / "project" / "adapters" / "a")
    assert config.scoring.cache_dir == str(folder / "cache")
    assert config.source == "project/configs/c.yaml"
    hub = load_config(_write(folder, "data: {pool: data/pool.jsonl}\nscoring: {model: HuggingFaceTB/SmolLM2-135M}\n", "hub.yaml"))
    assert hub.scoring.model == "HuggingFaceTB/SmolLM2-135M"  # a hub id is not a path
    assert load_config(path).to_dict() == config.to_dict()


def test_the_run_directory_stores_absolute_paths_and_is_absolute(tmp_path, monkeypatch):
    _jsonl(tmp_path / "cfg" / "pool.jsonl", [_row(i) for i in range(6)])
    path = _write(tmp_path / "cfg", "data: {pool: pool.jsonl}\nscoring: {cache_dir: cache}\n")
    monkeypatch.chdir(tmp_path)
    run = ActiveRun(load_config(path), "runs/r1", progress=False)  # no Ray: the constructor only writes config.yaml
    assert run.run_dir == tmp_path / "runs" / "r1"
    stored = yaml.safe_load((run.run_dir / "config.yaml").read_text())
    assert stored["data"]["pool"] == str(tmp_path / "cfg" / "pool.jsonl")
    assert stored["scoring"]["cache_dir"] == str(tmp_path / "cfg" / "cache")
    monkeypatch.chdir(tmp_path / "cfg")  # resume from elsewhere: the stored config still names the same files
    resumed = ActiveRun(None, tmp_path / "runs" / "r1", resume=True, progress=False)
    assert resumed.config == run.config and len(resumed.config.items()[0]) == 6


def test_hub_data_is_fetched_and_checked_before_the_run_directory_exists(tmp_path):
    from stackray.run.config import config_from_dict

    empty = tmp_path / "empty_set"  # `hf:` also reads a local folder: here one with no data (no network needed)
    empty.mkdir()
    config = config_from_dict({"data": {"pool": f"hf:{empty}:train"}}, source="x.yaml")  # syntax fine: loads
    with pytest.raises(ConfigError, match=r"x\.yaml: data\.pool: .*empty_set"):
        ActiveRun(config, tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()
