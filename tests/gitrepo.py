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

    def commit(self, message: str = "change", sign: list[str] | None = None) -> str:
        """Commit everything; ``sign`` are the options of ``ssh_signer`` to sign with."""
        git(self.work, "add", "--all")
        signing = [*sign, "commit", "-S"] if sign else ["commit"]
        git(self.work, *signing, "--quiet", "--allow-empty", "-m", message)
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


def ssh_signer(directory: Path) -> tuple[Path, list[str]]:
    """A new ssh signing key: its allowed-signers file, and the git options that sign with it."""
    directory.mkdir(parents=True, exist_ok=True)
    key = directory / "signer"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "signer", "-f", str(key)],
        check=True,
    )
    allowed = directory / "allowed_signers"
    allowed.write_text(f"{_ENV['GIT_COMMITTER_EMAIL']} {key.with_suffix('.pub').read_text()}")
    return allowed, ["-c", "gpg.format=ssh", "-c", f"user.signingkey={key}"]
