"""A real git repository for tests: a bare one (file://) and a work tree that pushes to it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from textwrap import dedent

_ENV = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
}


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env=os.environ | _ENV,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


class Repo:
    """``bare`` is what sync follows (``url``); ``work`` is where the test commits and pushes."""

    def __init__(self, root: Path, branch: str = "main") -> None:
        self.bare = root / "origin.git"
        self.work = root / "work"
        self.branch = branch
        root.mkdir(parents=True, exist_ok=True)
        git(root, "init", "--quiet", "--bare", "-b", branch, str(self.bare))
        git(root, "init", "--quiet", "-b", branch, str(self.work))
        git(self.work, "remote", "add", "origin", self.url)

    @property
    def url(self) -> str:
        return f"file://{self.bare}"

    def write(self, name: str, text: str) -> None:
        path = self.work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dedent(text))

    def remove(self, name: str) -> None:
        git(self.work, "rm", "--quiet", "-r", name)

    def commit(self, message: str = "change", *options: str) -> str:
        git(self.work, "add", "--all")
        git(self.work, "commit", "--quiet", "--allow-empty", "-m", message, *options)
        return git(self.work, "rev-parse", "HEAD")

    def push(self, force: bool = False) -> None:
        git(
            self.work,
            "push",
            "--quiet",
            *(["--force"] if force else []),
            "origin",
            f"HEAD:refs/heads/{self.branch}",
        )

    def reset(self, commit: str) -> None:
        git(self.work, "reset", "--quiet", "--hard", commit)
