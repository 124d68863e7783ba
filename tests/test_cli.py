"""The ``xosan`` command's surface: every command parses and prints its help, and a
wrong call answers with a sentence and exit code 1 or 2, never a traceback."""

import subprocess
import sys

import pytest

from xosan.cli import main as cli_main

COMMANDS = ["plan", "deploy", "status", "maintenance", "replace-host", "add-host", "destroy"]


def test_every_command_has_help(capsys):
    with pytest.raises(SystemExit) as done:
        cli_main.main(["--help"])
    assert done.value.code == 0
    top = capsys.readouterr().out
    for name in COMMANDS:
        assert name in top
        with pytest.raises(SystemExit) as done:
            cli_main.main([name, "--help"])
        assert done.value.code == 0, name
        assert "usage: xosan %s" % name in capsys.readouterr().out


def test_flags_and_a_manifest_together_is_a_sentence(tmp_path):
    path = tmp_path / "x.yaml"
    path.write_text("pool:\n  master: local\nnetwork:\n  addresses: 10.0.50.0/24\n")
    run = subprocess.run([sys.executable, "-m", "xosan", "plan", "-f", str(path), "--layout", "auto"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert run.returncode == 1
    assert run.stderr.startswith("xosan: error: give either -f MANIFEST or flags, not both (also given: --layout)")
    assert "Traceback" not in run.stderr
