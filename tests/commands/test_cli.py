"""The `stackray` entry point: every command of the table is reachable, and a command module that does not
import is an error, never a command that silently disappears from the CLI."""

import pytest

from stackray import cli


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])  # imports every command module
    assert exit_.value.code == 0
    listed = capsys.readouterr().out
    for name, _, help_text in cli.COMMANDS:
        assert name in listed and help_text in listed


@pytest.mark.parametrize("argv", [["ghost"], ["--help"], []])
def test_a_command_module_that_does_not_import_surfaces(monkeypatch, argv):
    monkeypatch.setattr(cli, "COMMANDS", [*cli.COMMANDS, ("ghost", "ghost_command", "a command not written")])
    with pytest.raises(ModuleNotFoundError, match="stackray.commands.ghost_command"):
        cli.main(argv)


def test_an_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["frobnicate"])
    assert exit_.value.code == 2
    assert "invalid choice: 'frobnicate'" in capsys.readouterr().err
