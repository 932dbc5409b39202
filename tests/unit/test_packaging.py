"""`reconciler version` without a daemon, and shell completion through click."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version

from click.testing import CliRunner

from reconciler.cli import cli


def test_version_without_a_daemon_says_so_and_succeeds() -> None:
    result = CliRunner().invoke(
        cli, ["--docker-host", "unix:///nonexistent/docker.sock", "version", "-o", "json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["reconciler"] == version("reconciler")
    assert data["engine"] is None
    assert "does not answer" in data["engineError"]
    text = CliRunner().invoke(cli, ["--docker-host", "unix:///nonexistent/x.sock", "version"])
    assert text.exit_code == 0
    assert "docker engine: not reachable at unix:///nonexistent/x.sock" in text.output


def _complete(shell: str, words: str) -> str:
    env = os.environ | {
        "_RECONCILER_COMPLETE": f"{shell}_complete",
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
    }
    done = subprocess.run(
        [sys.executable, "-c", "from reconciler.cli import main; main()"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return "\n".join(line.split(",", 1)[-1] for line in done.stdout.splitlines())  # type,value


def test_completion_scripts_exist_for_bash_zsh_and_fish() -> None:
    for shell in ("bash", "zsh", "fish"):
        env = os.environ | {"_RECONCILER_COMPLETE": f"{shell}_source"}
        done = subprocess.run(
            [sys.executable, "-c", "from reconciler.cli import main; main()"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0
        assert "_RECONCILER_COMPLETE" in done.stdout, shell


def test_bash_completes_commands_and_options() -> None:
    assert "logs" in _complete("bash", "reconciler lo").split()
    assert "--follow" in _complete("bash", "reconciler logs web --fol").split()
