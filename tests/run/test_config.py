"""Run configs: every bundled config validates; bad ones fail naming the file and the key."""

from pathlib import Path

import pytest

from stackray.run import ConfigError, load_config

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_bundled_configs_validate_and_say_how_to_run(path):
    """Run configs load as RunConfig, sweep files (tune_*) as SweepConfig; configs/serve.yaml is a Ray Serve
    config whose app import path is stackray's (its `args` are checked in tests/serve)."""
    if path.name.startswith("tune_"):
        from stackray.tune.config import load_sweep

        load_sweep(path)
    elif path.name == "serve.yaml":
        import yaml

        (app,) = yaml.safe_load(path.read_text())["applications"]
        assert app["import_path"] == "stackray.serve.app:build_app"
    else:
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
    ("data: {pool: openbookqa:train}\nstrategies: [llf, bogus]\n", r"c\.yaml: strategies\[1\]: 'bogus' is not one of"),
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


def test_every_problem_is_reported_at_once(tmp_path):
    text = "data: {pool: openbookqa:train}\ngame: {beta: 0}\nscoring: {chunk: 0}\nray: {prefetch: x}\n"
    with pytest.raises(ConfigError) as info:
        load_config(_write(tmp_path, text))
    lines = str(info.value).splitlines()
    assert [line.split(": ")[1] for line in lines] == ["scoring.chunk", "game.beta", "ray.prefetch"]
    assert all(line.startswith(str(tmp_path / "c.yaml")) for line in lines)


@pytest.mark.parametrize("text, match", [
    ("game: {window: 8.0}\n", r"game\.window: expected int, got 8\.0"),  # strict: no float -> int
    ("game: {beta: true}\n", r"game\.beta: expected float, got True"),
    ("game: {beta: '0.1'}\n", r"game\.beta: expected float, got '0\.1'"),
    ("scoring: {model: 3}\n", r"scoring\.model: expected str, got 3"),
    ("game: {negatives: 0}\n", r"game\.negatives: must be >= 1, got 0"),
    ("game: {prior_index: -1}\n", r"game\.prior_index: must be >= 0"),
    ("game: {strategy: llf}\n", r"unknown key game\.strategy .*strategies: \[llf"),
    ("scoring: 3\n", r"scoring: expected a mapping, got 3"),
    ("oracle: {timeout: .inf}\n", r"oracle\.timeout: must be a finite number"),
    ("serve: {level: 1.0}\n", r"serve\.level: must be < 1"),
    ("strategies: [llf, llf]\n", r"strategies: \['llf', 'llf'\] lists a strategy twice"),
    ("strategies: []\n", r"strategies: must not be empty"),
    ("name: a/b\n", r"name: must be a non-empty string without '/'"),
    ("data: {pool: ''}\n", r"data\.pool: must not be empty"),
    ("ray: {max_restarts: -1}\n", r"ray\.max_restarts: must be >= 0"),
])
def test_strict_types_and_bounds_name_the_key(tmp_path, text, match):
    text = text if text.startswith("data:") else "data: {pool: openbookqa:train}\n" + text
    with pytest.raises(ConfigError, match=match):
        load_config(_write(tmp_path, text))


def test_game_section_is_generated_from_game_config(tmp_path):
    """Keys, defaults and docs of `game:` are GameConfig's own: a field added there needs no edit here."""
    import dataclasses

    from stackray.game import GameConfig
    from stackray.run.config import RunConfig

    section = RunConfig.model_fields["game"].annotation
    knobs = {f.name: f for f in dataclasses.fields(GameConfig) if f.name != "strategy"}
    assert set(section.model_fields) == set(knobs)
    for name, f in knobs.items():
        assert section.model_fields[name].default == f.default and section.model_fields[name].description == f.metadata["doc"]
    config = load_config(_write(tmp_path, "data: {pool: openbookqa:train}\ngame: {negatives: 1, prior_index: 2, beta: 1}\n"))
    game = config.game_config("random")
    assert (game.negatives, game.prior_index, game.beta, game.window) == (1, 2, 1.0, GameConfig().window)
    assert isinstance(game.beta, float)


def test_config_is_frozen_and_round_trips(tmp_path):
    from pydantic import ValidationError

    from stackray.run import config_from_dict

    config = load_config(_write(tmp_path, "data: {pool: openbookqa:train, subjects: [openbookqa]}\ngame: {c: 0.5}\n"))
    with pytest.raises(ValidationError):
        config.game.c = 2.0
    with pytest.raises(ValidationError):
        config.data = None
    again = config_from_dict(config.to_dict(), source="again")
    assert again == config and again.to_dict() == config.to_dict() and again.source == "again"
    assert config.to_dict()["data"]["subjects"] == ["openbookqa"]  # YAML-ready: lists, not tuples


def test_a_new_section_is_a_class_and_a_line(tmp_path):
    """The pattern the coming sections (tune, lora, ...) follow: the same strictness and messages, for free."""
    from typing import Annotated

    from pydantic import Field

    from stackray.run.config import RunConfig, Section

    class TuneSection(Section):
        trials: Annotated[int, Field(ge=1)] = 8

    class Extended(RunConfig):
        tune: TuneSection = TuneSection()

    from stackray.run.config_io import error_lines
    from pydantic import ValidationError

    assert Extended.model_validate({"data": {"pool": "openbookqa:train"}, "tune": {"trials": 3}}).tune.trials == 3
    with pytest.raises(ValidationError) as info:
        Extended.model_validate({"data": {"pool": "openbookqa:train"}, "tune": {"trails": 3, "trials": 0}})
    assert error_lines(info.value, Extended, "x.yaml").splitlines() == [
        "x.yaml: tune.trials: must be >= 1, got 0", "x.yaml: unknown key tune.trails (valid keys of tune: trials)"]
