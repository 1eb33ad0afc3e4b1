import json
import subprocess
import sys

from stackray.cli import main


def test_simulate_table_covers_every_strategy(tmp_path, capsys):
    out = tmp_path / "table.json"
    assert main(["simulate", "--T", "3000", "--beta", "0.1", "--no-progress", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    rows = {r["strategy"]: r for r in json.loads(out.read_text())["rows"]}
    assert set(rows) == {"llf", "random", "margin", "entropy", "passive", "zero_shot", "full"}
    for name, row in rows.items():
        assert name in printed
        if name != "full":
            assert row["labels_used"] <= 300
    assert rows["full"]["labels_used"] == 3000 and rows["zero_shot"]["labels_used"] == 0
    assert rows["zero_shot"]["regret"] > 5 * rows["full"]["regret"]
    assert rows["full"]["accuracy"] > rows["zero_shot"]["accuracy"] + 0.1


def test_simulate_bad_input_is_a_clear_error_not_a_traceback():
    proc = subprocess.run([sys.executable, "-m", "stackray.cli", "simulate", "--beta", "1.5", "--T", "100"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "GameConfig.beta" in proc.stderr and "Traceback" not in proc.stderr


def test_every_game_knob_is_a_flag_with_its_doc_and_default(tmp_path):
    import dataclasses

    from stackray.cli import build_parser
    from stackray.game import GameConfig

    parser = build_parser(["simulate"])
    sub = next(a for a in parser._actions if a.dest == "command").choices["simulate"]
    flags = {a.dest: a for a in sub._actions}
    for f in dataclasses.fields(GameConfig):
        if f.name == "strategy":
            continue
        assert f.name in flags, f"GameConfig.{f.name} has no simulate flag"
        assert flags[f.name].default == f.default and flags[f.name].help.startswith(f.metadata["doc"])
        assert f"--{f.name.replace('_', '-')}" in flags[f.name].option_strings


def test_negatives_and_prior_index_reach_the_game(tmp_path, capsys):
    out = tmp_path / "table.json"
    assert main(["simulate", "--T", "200", "--eval", "50", "--negatives", "1", "--prior-index", "1", "--max-wait", "0",
                 "--strategies", "llf,full", "--no-progress", "--json", str(out)]) == 0
    game = json.loads(out.read_text())["game"]
    assert (game["negatives"], game["prior_index"], game["max_wait"]) == (1, 1, 0)
    proc = subprocess.run([sys.executable, "-m", "stackray.cli", "simulate", "--negatives", "0", "--T", "100"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "GameConfig.negatives: must be >= 1" in proc.stderr and "Traceback" not in proc.stderr
