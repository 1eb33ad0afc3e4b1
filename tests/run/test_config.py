"""Run configs: every bundled config validates; bad ones fail naming the file and the key."""

from pathlib import Path

import pytest

from stackray.run import ConfigError, load_config

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_bundled_configs_validate_and_say_how_to_run(path):
    config = load_config(path)
    assert config.game_config(config.strategies[0]).beta > 0
    assert path.read_text().startswith("#"), "the first lines must show the command that runs the config"
    assert path.name in path.read_text().splitlines()[0] or "make demo" in path.read_text().splitlines()[0]


def _write(tmp_path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, match", [
    ("data: {pool: openbookqa:train}\ngame: {bta: 0.1}\n", r"c\.yaml: unknown key game\.bta"),
    ("data: {pool: openbookqa:train}\nscoring: {chunks: 3}\n", r"unknown key scoring\.chunks"),
    ("data: {pool: openbookqa:train}\nstrategy: llf\n", r"unknown key strategy"),
    ("data: {pool: openbookqa:train}\ngame: {beta: 2.0}\n", r"c\.yaml: game\.beta: must be in \(0, 1\]"),
    ("data: {pool: openbookqa:train}\ngame: {window: 0}\n", r"game\.window"),
    ("data: {pool: openbookqa:train}\nscoring: {d_h: many}\n", r"scoring\.d_h: expected int"),
    ("data: {pool: openbookqa:train}\nscoring: {format: essay}\n", r"scoring\.format"),
    ("data: {pool: openbookqa:train}\nstrategies: [llf, bogus]\n", r"strategies: 'bogus'"),
    ("data: {pool: openbookqa:train}\nray: {num_followers: 0}\n", r"ray\.num_followers: must be >= 1"),
    ("data: {pool: openbookqa:train}\nrun: {progress: 1}\n", r"run\.progress: expected bool"),
    ("data: {pool: openbookqa:train}\noracle: {kind: human}\nstrategies: [llf, random]\n", r"human-oracle run"),
    ("scoring: {d_h: 8}\n", r"data\.pool: required"),
    ("- just\n- a list\n", r"mapping"),
    ("data: {pool: [oops\n", r"not valid YAML"),
])
def test_bad_configs_name_file_and_key(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        load_config(_write(tmp_path, text))


def test_defaults_and_game_config(tmp_path):
    config = load_config(_write(tmp_path, "data: {pool: openbookqa:train}\ngame: {beta: 0.2, c: 0.5}\nstrategies: [llf, full]\n"))
    assert config.strategies == ("llf", "full")
    assert config.game_config("full").strategy == "full" and config.game_config("llf").c == 0.5
    assert config.oracle.kind == "gold" and config.ray.num_followers == 1


def test_missing_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_config(tmp_path / "nope.yaml")
