"""`reconciler sync`: a git branch as the control loop's source. Does I/O: git, files, clock.

A revision is atomic: every manifest under the path at a commit is read and
validated (with the same loader as every other command) before the loop sees
any of it. A commit that fails (a broken file, a missing path, a bad or
missing signature, nothing defined without ``allow_empty``) changes nothing:
the host stays at the last applied revision, the failure is reported with the
commit id, file, line and field, and that commit is not read again; the next
commit is. A fetch that fails is an error too, retried at a growing interval,
never an empty desired state. Until a revision was read, ``complete()`` is
False and the loop prunes nothing.

The last applied commit stays exported under the mirror's ``current`` link,
so a restarted sync starts from it while the branch's head is broken.

With a health gate (`sync --wait`, loop/gate.py), the source keeps deciding
which revision is offered: the loop's gate tells it each revision's verdict
(``healthy``, ``unhealthy``), and with `--rollback` an unhealthy revision
gives way to the last healthy one, read again from the mirror (which keeps it
under ``refs/health/healthy``); the commit rolled back from is not taken
again (``refs/health/rejected``, also across restarts), a newer one is.
standing.py keeps what the status says; notify.py is told each event.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reconciler.core.compile import BuildConfig, Compiled, compile_units
from reconciler.core.errors import Location, Problem, ReconcilerError
from reconciler.core.manifests import (
    DEFAULT_LIMITS,
    Decrypt,
    InputLimits,
    LoadedManifest,
    load_paths,
)
from reconciler.core.ownership import Owner
from reconciler.core.redact import redact_url
from reconciler.core.spec import UnitKey
from reconciler.core.values import LoadedValues
from reconciler.sources.directory import Change
from reconciler.sources.gitmirror import GitError, Mirror
from reconciler.sources.notify import Emit, event
from reconciler.sources.standing import SyncStanding

log = logging.getLogger("reconciler")

MAX_FETCH_BACKOFF = 300.0  # seconds between fetches while they keep failing


def owner_for_git(url: str, branch: str, path: str) -> Owner:
    """The owner of units synced from ``path`` on ``branch`` of ``url`` (no credentials)."""
    return Owner(f"git:{redact_url(url)}#{branch}:{path}")


class RevisionError(ReconcilerError):
    """A commit that cannot be applied; ``problems`` name file, line and field where known."""

    def __init__(self, commit: str, message: str, problems: list[Problem] | None = None) -> None:
        self.commit = commit
        self.problems = problems or []
        details = "".join(f"\n  {p}" for p in self.problems)
        super().__init__(f"commit {commit}: {message}{details}")


@dataclass(frozen=True, slots=True)
class Revision:
    """One commit's manifests, all read and valid."""

    commit: str
    manifests: tuple[LoadedManifest, ...]
    warnings: tuple[Problem, ...] = ()
    values: tuple[LoadedValues, ...] = ()  # its ConfigMaps and Secrets

    @property
    def keys(self) -> frozenset[UnitKey]:
        return frozenset(UnitKey(*m.identity) for m in self.manifests)


def read_revision(
    tree: Path,
    path: str,
    commit: str,
    allow_empty: bool = False,
    limits: InputLimits = DEFAULT_LIMITS,
    decrypt: Decrypt | None = None,
) -> Revision:
    """Every manifest under ``path`` (recursively) of the exported ``tree`` of ``commit``.

    Raises ``RevisionError`` when any file fails, when ``path`` is not a
    directory of the commit, or when nothing is defined and not ``allow_empty``.
    Locations in problems are relative to the repository root.
    """
    root = tree / path if path != "." else tree
    if not root.is_dir():
        what = "is not a directory" if root.exists() else "does not exist"
        raise RevisionError(commit, f"path {path} {what}")
    # A pushed file is as hostile as a dropped one: the same limits, and no
    # symlink out of the path (to the host, or to another path of the repository).
    loaded = load_paths([str(root)], recursive=True, limits=limits, decrypt=decrypt)
    errors = [_relative(p, tree) for p in loaded.errors]
    if errors:
        raise RevisionError(commit, f"{len(errors)} error(s); nothing of it is applied", errors)
    if not loaded.manifests and not allow_empty:
        raise RevisionError(
            commit,
            f"{path} defines no units; refusing to remove every unit of this source "
            "(use --allow-empty to mean it)",
        )
    warnings = tuple(_relative(p, tree) for p in loaded.warnings)
    # What the compile step may name (a reference, a ConfigMap defined twice) is named
    # relative to the repository, as the files' own problems are.
    manifests = tuple(
        replace(
            m,
            location=_moved(m.location, tree),
            positions={k: _moved(v, tree) for k, v in m.positions.items()},
        )
        if m.positions is not None
        else m
        for m in loaded.manifests
    )
    values = tuple(replace(v, location=_moved(v.location, tree)) for v in loaded.values)
    return Revision(commit, manifests, warnings, values)


def _relative(problem: Problem, tree: Path) -> Problem:
    return Problem(_moved(problem.location, tree), problem.field, problem.message)


def _moved(where: Location, tree: Path) -> Location:
    """``where`` relative to the repository root."""
    prefix = str(tree) + "/"
    if where.path.startswith(prefix):
        return Location(where.path[len(prefix) :], where.line, where.column)
    return where


@dataclass(frozen=True, slots=True)
class PruneLimit:
    """--max-prune: how many units one revision may remove, as a count or a percentage
    of the units the applied revision defines (argo-cd's prune safety, per revision)."""

    count: int | None = None
    percent: float | None = None

    @classmethod
    def parse(cls, text: str) -> PruneLimit:
        """``N`` or ``P%``; raises ValueError on anything else."""
        try:
            if text.endswith("%"):
                percent = float(text[:-1])
                if not 0 <= percent <= 100:
                    raise ValueError
                return cls(percent=percent)
            count = int(text)
            if count < 0:
                raise ValueError
            return cls(count=count)
        except ValueError:
            raise ValueError(
                f"--max-prune {text!r}: give a count (3) or a percentage (25%)"
            ) from None

    def allows(self, removed: int, before: int) -> bool:
        if self.count is not None:
            return removed <= self.count
        assert self.percent is not None
        return removed <= before * self.percent / 100

    def __str__(self) -> str:
        return f"{self.count}" if self.count is not None else f"{self.percent:g}%"


@dataclass(frozen=True, slots=True)
class GitSettings:
    url: str
    branch: str = "main"
    path: str = "."
    interval: float = 30.0  # seconds between fetches
    allow_empty: bool = False
    verify_commits: bool = False
    allowed_signers: Path | None = None  # ssh allowed-signers file
    gnupg_home: Path | None = None  # GnuPG home with the trusted keys
    limits: InputLimits = DEFAULT_LIMITS  # what reading one manifest file may cost
    max_prune: PruneLimit | None = None  # a revision removing more is refused
    decrypt: Decrypt | None = field(default=None, compare=False)  # opens *.age files
    wait: float | None = None  # --wait: a health gate judges each revision (loop/gate.py)
    rollback: bool = False  # --rollback: a revision failing it gives way to the last healthy


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class GitSource:
    """A branch and path of a repository, one whole commit at a time (a ``sources.Source``).

    With a health gate (``settings.wait``), the loop's gate reports each revision
    ``healthy`` or ``unhealthy``; with ``settings.rollback`` an unhealthy one gives
    way to the last healthy revision, read again from the mirror, until a newer
    commit comes. ``emit`` is told each event (notify.py).
    """

    def __init__(self, settings: GitSettings, mirror: Mirror, emit: Emit | None = None) -> None:
        self.settings = settings
        self.mirror = mirror
        self.standing = SyncStanding(gated=settings.wait is not None)
        self._emit = emit
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._revision: Revision | None = None
        self._failed: str | None = None  # a commit that failed: not read again
        self._rejected: str | None = None  # a commit rolled back from: not taken again
        # What to roll back from: (commit, why, its failing units); the watch thread does it.
        self._rollback: tuple[str, str, tuple[str, ...]] | None = None
        self._fetch_failures = 0
        self._started = False

    # -- the Source interface ----------------------------------------------------

    def describe(self) -> str:
        s = self.settings
        return f"{redact_url(s.url)} branch {s.branch} path {s.path}"

    @property
    def owner(self) -> str:
        s = self.settings
        return owner_for_git(s.url, s.branch, s.path).source

    def scan(self, now: float) -> Change:
        del now  # a resync looks at every unit; new commits come through watch()
        return Change(frozenset())

    def compiled(self, config: BuildConfig) -> tuple[Compiled, ...]:
        with self._lock:
            revision = self._revision
        if revision is None:
            return ()
        return compile_units(revision.manifests, config, revision.values)

    def errors(self) -> dict[str, list[Problem]]:
        # A failed commit is never partly taken, so no file of it holds units back.
        return {}

    def complete(self) -> bool:
        with self._lock:
            return self._revision is not None

    def status(self) -> dict[str, Any]:
        s = self.settings
        head = {"owner": self.owner, "repository": redact_url(s.url), "branch": s.branch}
        return {"sync": head | {"path": s.path} | self.standing.to_json()}

    def watch(self, stop: threading.Event, changed: Callable[[Change | None], None]) -> None:
        """Poll every ``interval`` (sooner on ``trigger()``), longer while fetches fail.

        Every poll reports, if only its status (``changed(None)``), so `get` in
        another process sees a failed commit or fetch at once.
        """
        while not stop.is_set():
            self._wake.clear()  # before the fetch: a trigger during it means fetch again
            changed(self.poll())
            self._wake.wait(self._delay())

    # -- polling -----------------------------------------------------------------

    def trigger(self) -> None:
        """Fetch now (a webhook said the branch moved)."""
        self._wake.set()

    def _delay(self) -> float:
        interval = self.settings.interval
        if not self._fetch_failures:
            return interval
        grown: float = interval * 2.0**self._fetch_failures
        return min(grown, max(interval, MAX_FETCH_BACKOFF))

    @property
    def revision(self) -> Revision | None:
        with self._lock:
            return self._revision

    @property
    def last_error(self) -> str | None:
        """A failing fetch, else the last commit's failure; None when all is well."""
        return self.standing.last_error

    @property
    def last_attempted(self) -> str | None:
        return self.standing.attempted

    def poll(self) -> Change | None:
        """Fetch; read and take a new commit. What changed, or None (nothing new, or failed).

        The first poll also starts from the commit an earlier run applied, so
        its units are named even when the branch has not moved or is broken. A
        rollback the health gate asked for is made first, and is all that poll does.
        """
        with self._lock:
            rollback, self._rollback = self._rollback, None
        if rollback is not None:
            back = self._roll_back(*rollback)
            if back is not None:
                self._wake.set()  # and fetch right after: a newer commit may be there
                return back
        resumed: Change | None = None
        if not self._started:
            self._started = True
            resumed = self._resume()
        change = self._fetch_and_take()
        if resumed is None or change is None:
            return change or resumed
        return Change(change.units | resumed.units, revision=change.revision)  # judged anew

    def _fetch_and_take(self) -> Change | None:
        try:
            commit = self.mirror.fetch()
        except GitError as exc:
            self._fetch_failures += 1
            error = f"{exc} (keeping the last applied revision; next try in {self._delay():.0f} s)"
            self.standing.fetched(error)
            log.error("%s", error)
            return None
        self._fetch_failures = 0
        self.standing.fetched(None)
        with self._lock:
            applied = self._revision.commit if self._revision else None
        if commit in (applied, self._failed, self._rejected):
            return None
        return self._take(commit)

    def _resume(self) -> Change | None:
        """Start from the commit the last run applied, if it is still good: its units, and
        the revision to gate unless that run found it healthy."""
        commit = self.mirror.current_commit()
        if commit is None:
            return None
        try:
            revision = self._read(commit)
        except (GitError, RevisionError) as exc:
            log.warning("not resuming from %s: %s", commit, exc)
            return None
        healthy, self._rejected = self.mirror.marked("healthy"), self.mirror.marked("rejected")
        with self._lock:
            self._revision = revision
        self.standing.resumed(commit, healthy)
        log.info("resuming from revision %s, applied by an earlier run", commit)
        return Change(revision.keys, revision=commit, healthy=commit == healthy)

    def _read(self, commit: str) -> Revision:
        s = self.settings
        if s.verify_commits:
            try:
                self.mirror.verify(commit, s.allowed_signers, s.gnupg_home)
            except GitError as exc:
                raise RevisionError(commit, str(exc).removeprefix(f"commit {commit} is ")) from None
        kind = self.mirror.kind_of(commit, s.path)
        if kind is None:
            raise RevisionError(commit, f"path {s.path} does not exist")
        if kind != "tree":
            raise RevisionError(commit, f"path {s.path} is not a directory")
        tree = self.mirror.export(commit)
        return read_revision(tree, s.path, commit, s.allow_empty, s.limits, s.decrypt)

    def _take(self, commit: str) -> Change | None:
        # The attempt is reported with its outcome, in one step (standing.py): never a
        # new revision beside the last one's error.
        attempted = (commit, _now())
        try:
            revision = self._read(commit)
        except RevisionError as exc:
            self._failed = commit  # a broken commit stays broken: wait for the next one
            self._error(str(exc) + " (keeping the last applied revision)", attempted)
            self._tell("revision-failed", commit, (), str(exc))
            return None
        except GitError as exc:  # could not export: worth another try at the next poll
            self._error(f"commit {commit}: {exc} (keeping the last applied revision)", attempted)
            return None
        with self._lock:
            before = self._revision
        refusal = prune_refusal(self.settings.max_prune, before, revision)
        if refusal is not None:
            self._failed = commit  # not retried: a newer commit is needed
            message = f"commit {commit}: {refusal[0]}"
            self._error(message + " (keeping the last applied revision)", attempted)
            self._tell("prune-refused", commit, refusal[1], message)
            return None
        for warning in revision.warnings:
            log.warning("commit %s: %s", commit, warning)
        self._swap(commit)
        with self._lock:
            self._revision = revision
        self.standing.taken(attempted)
        self._failed = None
        units = len(revision.manifests)
        log.info("revision %s of %s: %d unit(s)", commit, self.describe(), units)
        gated = f"; gated for up to {self.settings.wait:g} s" if self.settings.wait else ""
        self._tell("revision-applied", commit, _names(revision.keys), f"{units} unit(s){gated}")
        return Change(revision.keys | (before.keys if before else frozenset()), revision=commit)

    def _swap(self, commit: str) -> None:
        try:
            self.mirror.swap(commit)
        except (GitError, OSError) as exc:
            log.warning("could not mark %s as current in %s: %s", commit, self.mirror.cache, exc)

    def _error(self, message: str, attempted: tuple[str, str]) -> None:
        log.error("%s", message)
        self.standing.failed(attempted, message)

    def _tell(self, kind: str, commit: str | None, units: Iterable[str], message: str) -> None:
        if self._emit is not None:
            self._emit(event(kind, commit, self.owner, tuple(units), message))

    # -- the health gate's verdicts (loop/gate.py) -------------------------------------

    def healthy(self, commit: str, units: Sequence[str]) -> None:
        """Every unit ``commit`` changed was Ready in time: it counts as applied."""
        self.standing.judged_healthy(commit)
        self._mark("healthy", commit)
        log.info("revision %s is healthy: %d changed unit(s) ready", commit, len(units))
        self._tell("revision-healthy", commit, units, f"{len(units)} changed unit(s) ready")

    def progressing(self, commit: str, waiting: Sequence[str]) -> None:
        """What the gate of ``commit`` waits for now (for status)."""
        self.standing.progressing(commit, waiting)

    def unhealthy(
        self, commit: str, units: Sequence[str], reasons: Sequence[str], timed_out: bool
    ) -> None:
        """``commit`` failed its health gate: said, and rolled back from if asked."""
        why = "; ".join(reasons)
        late = f" within {self.settings.wait:g} s" if timed_out else ""
        with self._lock:
            current = self._revision.commit if self._revision else None
        target = self.standing.healthy
        back = False
        if not self.settings.rollback:
            then = "the loop keeps converging to it: no --rollback"
        elif target is None:
            then = "no healthy revision before it to roll back to"
        elif target == commit:
            then = "it is the last healthy revision itself: nothing to roll back to"
        elif current != commit:
            then = "a newer commit was taken meanwhile"
        else:
            then, back = f"rolling back to {target}", True
        message = f"commit {commit} failed its health gate{late}: {why}"
        self.standing.judged_unhealthy(commit, reasons, f"{message} ({then})")
        log.error("%s (%s)", message, then)
        self._tell("revision-unhealthy", commit, units, message)
        if back:  # made by the watch thread's next poll, which this wakes
            with self._lock:
                self._rollback = (commit, why, tuple(units))
            self._wake.set()

    def _roll_back(self, failed: str, why: str, units: tuple[str, ...]) -> Change | None:
        """Hand the loop the last healthy revision again instead of ``failed``."""
        target = self.standing.healthy
        if target is None:
            return None
        try:
            revision = self._read(target)
        except (GitError, RevisionError) as exc:
            log.error("cannot roll back from %s to %s: %s", failed, target, exc)
            return None
        self._swap(target)
        with self._lock:
            before, self._revision = self._revision, revision
        self._rejected = failed
        self._mark("rejected", failed)
        message = f"rolled back from {failed} to {target}: {why}"
        self.standing.rolled_back(
            failed,
            target,
            why,
            f"commit {failed} failed its health gate: {why} (rolled back to {target})",
        )
        log.warning("%s", message)
        self._tell("rolled-back", failed, units, message)
        dropped = before.keys if before else frozenset()
        return Change(revision.keys | dropped, revision=target)

    def _mark(self, name: str, commit: str) -> None:
        try:
            self.mirror.mark(name, commit)
        except GitError as exc:
            log.warning("could not record %s as %s in %s: %s", commit, name, self.mirror.cache, exc)


def prune_refusal(
    limit: PruneLimit | None, before: Revision | None, revision: Revision
) -> tuple[str, tuple[str, ...]] | None:
    """Why ``revision`` may not follow ``before``: it removes more units than --max-prune
    lets; with the units it would remove."""
    if limit is None or before is None:
        return None
    removed = tuple(sorted(str(k) for k in before.keys - revision.keys))
    if limit.allows(len(removed), len(before.keys)):
        return None
    return (
        f"prune refused: it would remove {len(removed)} of {len(before.keys)} unit(s), "
        f"over --max-prune {limit}: {', '.join(removed)}",
        removed,
    )


def _names(keys: Iterable[UnitKey]) -> tuple[str, ...]:
    return tuple(str(k) for k in sorted(keys))


__all__ = [
    "GitSettings",
    "GitSource",
    "Revision",
    "RevisionError",
    "owner_for_git",
    "prune_refusal",
    "read_revision",
]
