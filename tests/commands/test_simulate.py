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
