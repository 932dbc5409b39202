"""A local mirror of one branch of a git repository, and exported trees of its commits.

Does I/O: runs the real ``git`` (so ssh, https and file URLs, credential
helpers and known_hosts work as they do for git) and writes under ``cache``:

    repo.git/                  a bare repository; each fetch names the URL on the
                               command line, so credentials are never stored in it
    checkouts/<commit>/        the tree of one commit (``git archive | tar -x``),
                               written under a temporary name, then renamed
    current -> checkouts/<c>   the last good commit, swapped by renaming a new
                               symlink over the old one (readers never see a gap)

and, in the bare repository, ``refs/health/healthy`` (the last commit the health
gate found healthy: a rollback's target, kept from garbage collection and
force-pushes) and ``refs/health/rejected`` (the last commit rolled back from).

A fetch takes the branch with ``+`` (force-pushes and rewritten history are
followed). Every failure raises ``GitError`` with git's own words, scrubbed of
credentials; nothing here ever answers "no files" for "could not read".
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from reconciler.core.errors import ReconcilerError
from reconciler.core.redact import redact_url, scrub

_COMMIT = re.compile(r"^[0-9a-f]{40}(?:[0-9a-f]{24})?$")


class GitError(ReconcilerError):
    """git failed (fetch, resolve, export, verify); the message holds no credentials."""


def clean_path(path: str) -> str:
    """``path`` inside a repository, normalised (``.`` is the root); refuses escapes."""
    pure = PurePosixPath(path.strip() or ".")
    if pure.is_absolute() or ".." in pure.parts:
        raise ValueError(f"{path!r}: the path must be relative to the repository root, no '..'")
    return pure.as_posix()


def check_branch(branch: str) -> str:
    """``branch`` if git accepts it as a branch name; raises ``ValueError``."""
    done = subprocess.run(
        ["git", "check-ref-format", "--branch", branch],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 or branch.startswith("-"):
        raise ValueError(f"{branch!r} is not a valid branch name")
    return branch


@dataclass(frozen=True, slots=True)
class Mirror:
    """One branch of ``url``, mirrored under ``cache``."""

    url: str
    branch: str
    cache: Path
    timeout: float = 300.0  # seconds for one git command (a first clone may be large)

    @property
    def repo(self) -> Path:
        return self.cache / "repo.git"

    @property
    def checkouts(self) -> Path:
        return self.cache / "checkouts"

    @property
    def current(self) -> Path:
        return self.cache / "current"

    @property
    def _ref(self) -> str:
        return f"refs/reconciler/{self.branch}"

    # -- git ---------------------------------------------------------------------

    def _git(self, *args: str, env: dict[str, str] | None = None) -> str:
        """Run git in the bare repository; its stdout, or ``GitError`` with its stderr."""
        environment = os.environ | {"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"} | (env or {})
        try:
            done = subprocess.run(
                ["git", "--git-dir", str(self.repo), *args],
                capture_output=True,
                text=True,
                env=environment,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise GitError(f"git {args[0]} timed out after {exc.timeout:.0f} s") from None
        except OSError as exc:
            raise GitError(f"cannot run git: {exc}") from exc
        if done.returncode != 0:
            raise GitError(_last_words(done.stderr) or f"git {args[0]} exited {done.returncode}")
        return done.stdout

    def fetch(self) -> str:
        """Fetch the branch; the full id of the commit it points at now."""
        if not (self.repo / "HEAD").exists():
            self.cache.mkdir(parents=True, exist_ok=True)
            self._git("init", "--quiet", "--bare")
        try:
            self._git(
                "fetch",
                "--quiet",
                "--no-tags",
                "--no-write-fetch-head",
                "--end-of-options",
                self.url,
                f"+refs/heads/{self.branch}:{self._ref}",
            )
        except GitError as exc:
            raise GitError(f"fetching {self.branch} from {redact_url(self.url)}: {exc}") from None
        return self.resolve()

    def resolve(self) -> str:
        """The full id of the commit the fetched branch points at."""
        commit = self._git("rev-parse", "--verify", "--quiet", f"{self._ref}^{{commit}}").strip()
        if not _COMMIT.match(commit):
            raise GitError(f"branch {self.branch} resolves to {commit!r}, not a commit id")
        return commit

    def kind_of(self, commit: str, path: str) -> str | None:
        """What ``path`` is at ``commit``: ``tree``, ``blob``, ... or None when absent."""
        if path == ".":
            return "tree"
        try:
            return self._git("cat-file", "-t", f"{commit}:{path}").strip()
        except GitError:
            return None

    def verify(self, commit: str, allowed_signers: Path | None, gnupg_home: Path | None) -> None:
        """Raise ``GitError`` unless ``commit`` carries a good signature by an allowed key.

        ``allowed_signers`` is an ssh allowed-signers file (``gpg.ssh.allowedSignersFile``);
        ``gnupg_home`` a GnuPG home whose keyring holds the trusted keys.
        """
        env: dict[str, str] = {}
        if allowed_signers is not None:
            env |= {
                "GIT_CONFIG_COUNT": "1",
                "GIT_CONFIG_KEY_0": "gpg.ssh.allowedSignersFile",
                "GIT_CONFIG_VALUE_0": str(allowed_signers),
            }
        if gnupg_home is not None:
            env["GNUPGHOME"] = str(gnupg_home)
        try:
            self._git("verify-commit", commit, env=env)
        except GitError as exc:
            why = str(exc)
            if why.startswith("git verify-commit exited"):
                why = "no signature"
            raise GitError(f"commit {commit} is not signed by an allowed key: {why}") from None

    def mark(self, name: str, commit: str) -> None:
        """Point ``refs/health/<name>`` at ``commit`` (which keeps its objects)."""
        if not _COMMIT.match(commit) or not name.isalpha():
            raise GitError(f"cannot mark {commit!r} as {name!r}")
        self._git("update-ref", f"refs/health/{name}", commit)

    def marked(self, name: str) -> str | None:
        """The commit ``refs/health/<name>`` names, if any."""
        try:
            commit = self._git("rev-parse", "--verify", "--quiet", f"refs/health/{name}^{{commit}}")
        except GitError:
            return None
        commit = commit.strip()
        return commit if _COMMIT.match(commit) else None

    # -- trees -------------------------------------------------------------------

    def export(self, commit: str) -> Path:
        """The tree of ``commit`` in a directory of its own (exported once, then reused)."""
        if not _COMMIT.match(commit):
            raise GitError(f"{commit!r} is not a full commit id")
        target = self.checkouts / commit
        if target.is_dir():
            return target
        self.checkouts.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(dir=self.checkouts, prefix=f".{commit[:12]}."))
        try:
            self._archive(commit, partial)
            partial.rename(target)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        return target

    def _archive(self, commit: str, into: Path) -> None:
        environment = os.environ | {"LC_ALL": "C"}
        with tempfile.TemporaryFile() as errors:
            git = subprocess.Popen(
                ["git", "--git-dir", str(self.repo), "archive", "--format=tar", commit],
                stdout=subprocess.PIPE,
                stderr=errors,
                env=environment,
            )
            assert git.stdout is not None
            try:
                tar = subprocess.run(
                    ["tar", "-x", "--no-same-owner", "-C", str(into)],
                    stdin=git.stdout,
                    capture_output=True,
                    text=True,
                    timeout=self.timeout,
                    check=False,
                )
            finally:
                git.stdout.close()
                git_code = git.wait(timeout=self.timeout)
            if git_code != 0:
                errors.seek(0)
                words = _last_words(errors.read().decode(errors="replace"))
                raise GitError(f"exporting {commit}: {words or f'git archive exited {git_code}'}")
            if tar.returncode != 0:
                raise GitError(f"exporting {commit}: tar: {_last_words(tar.stderr)}")

    def swap(self, commit: str) -> Path:
        """Point ``current`` at the exported ``commit`` (atomically) and drop older trees."""
        target = self.export(commit)
        link = self.cache / f".current.{os.getpid()}"
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        link.symlink_to(Path("checkouts") / commit)
        os.replace(link, self.current)
        self.clean(keep={commit})
        return target

    def clean(self, keep: set[str]) -> None:
        """Remove exported trees other than ``keep`` and the one ``current`` names."""
        if not self.checkouts.is_dir():
            return
        with contextlib.suppress(OSError):
            keep = keep | {Path(os.readlink(self.current)).name}
        for entry in self.checkouts.iterdir():
            if entry.name not in keep:
                shutil.rmtree(entry, ignore_errors=True)

    def current_commit(self) -> str | None:
        """The commit ``current`` points at, if any."""
        try:
            name = Path(os.readlink(self.current)).name
        except OSError:
            return None
        return name if _COMMIT.match(name) else None


def _last_words(stderr: str) -> str:
    """git's message, one line, credentials removed."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    return scrub("; ".join(lines[-3:]))


__all__ = ["GitError", "Mirror", "check_branch", "clean_path"]
