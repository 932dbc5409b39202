"""Where the control loop's desired state comes from; the watched directory. Reads files; no Docker.

``Source`` is the loop's seam: a watched directory (``DirectorySource``, for
`reconciler run`) and a git branch (``reconciler.sources.git.GitSource``, for
`reconciler sync`) both give the loop desired units, the errors that keep
units as they are, and the triggers that make it look again.

The directory's view: each file keeps the manifests it
last loaded without error: a file that fails to read or validate keeps
defining what it defined before (and reports why), so a broken or
half-written edit never removes a container. A unit that disappears from a
file that still exists, or loses one of its containers, is kept as it was
until the file has read the same twice, ``settle`` seconds apart, so a file
read while still being written (cut after a complete entry) cannot make a
unit or a container vanish for a moment. The watcher may therefore react
quickly (``LoopSettings.debounce_ms``).
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import watchfiles

from reconciler.core.compile import BuildConfig, Compiled, compile_units
from reconciler.core.errors import ManifestError, Problem
from reconciler.core.manifests import (
    DEFAULT_LIMITS,
    Decrypt,
    InputLimits,
    LoadedManifest,
    discover,
    first_of_each,
    is_manifest_file,
    is_manifest_name,
    load_bytes,
    opened,
    read_manifest,
    source_of,
)
from reconciler.core.models import SandboxManifest
from reconciler.core.spec import UnitKey
from reconciler.core.values import LoadedValues

log = logging.getLogger("reconciler")


def _key(loaded: LoadedManifest) -> UnitKey:
    return UnitKey(*loaded.identity)


def _members(loaded: LoadedManifest) -> frozenset[str]:
    """The names of the containers a manifest defines (a Container's: its own)."""
    manifest = loaded.manifest
    if isinstance(manifest, SandboxManifest):
        return frozenset(
            c.name for c in [*manifest.spec.init_containers, *manifest.spec.containers]
        )
    return frozenset({manifest.metadata.name})


@dataclass(slots=True)
class _File:
    good: list[LoadedManifest] = field(default_factory=list)  # last known good
    values: list[LoadedValues] = field(default_factory=list)  # its ConfigMaps and Secrets
    errors: list[Problem] = field(default_factory=list)
    digest: str = ""  # of the text that gave `good` (or the candidate below)
    # A load that drops units from a file still there waits to be confirmed.
    candidate: list[LoadedManifest] | None = None
    candidate_digest: str = ""
    confirm_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Change:
    """What a reload changed: the units to reconcile, and when to look again."""

    units: frozenset[UnitKey]
    recheck_in: float | None = None
    warnings: tuple[Problem, ...] = ()  # of the files read anew (said once per change)
    revision: str | None = None  # the commit a git source hands over: a health gate judges it
    healthy: bool = False  # that commit was found healthy before (a restart resumed it)


class Source(Protocol):
    """What the control loop needs from wherever its manifests come from."""

    def describe(self) -> str:
        """What is followed, for the log (never with credentials)."""
        ...

    def scan(self, now: float) -> Change:
        """Read everything again (at start and on every resync)."""
        ...

    def watch(self, stop: threading.Event, changed: Callable[[Change | None], None]) -> None:
        """The trigger thread: until ``stop``, call ``changed`` after each reload.

        ``changed(None)``: nothing to reconcile, but ``status()`` has news.
        """
        ...

    def compiled(self, config: BuildConfig) -> tuple[Compiled, ...]:
        """The units asked for now (last known good where something is broken), compiled:
        the loop admits them (admission.admit)."""
        ...

    def errors(self) -> dict[str, list[Problem]]:
        """Files failing now, by source label; units they defined are never pruned."""
        ...

    def complete(self) -> bool:
        """False while nothing good was read yet: then nothing may be pruned."""
        ...

    def status(self) -> dict[str, Any]:
        """The source's part of the loop's status file."""
        ...


class ManifestDirectory:
    """The manifests under one directory, reloaded file by file."""

    def __init__(
        self,
        root: Path,
        recursive: bool,
        settle: float = 2.0,
        limits: InputLimits = DEFAULT_LIMITS,
        decrypt: Decrypt | None = None,
    ) -> None:
        self.root = root
        self.limits = limits
        self.decrypt = decrypt  # opens *.age files (sources/age.py)
        self.recursive = recursive
        self.settle = settle
        self._files: dict[Path, _File] = {}
        self._duplicates: list[tuple[Path, Problem]] = []
        self._lock = threading.Lock()
        # Bumped whenever what the files define may have changed: a resync re-reads
        # every file, and compiling 500 unchanged units again was most of an idle
        # loop's CPU, so ``compiled`` keeps its last answer until then.
        self._version = 0
        self._compiled: tuple[int, BuildConfig, tuple[Compiled, ...]] | None = None

    def wants(self, path: Path) -> bool:
        """Whether a changed path is one of ours (a manifest file, at the right depth)."""
        try:
            relative = path.relative_to(self.root)
        except ValueError:
            return False
        if not self.recursive and len(relative.parts) != 1:
            return False
        return is_manifest_name(relative)

    def scan(self, now: float) -> Change:
        """Reload every file (at start and on resync); files gone are forgotten."""
        present = (
            {p for p, _ in discover(self.root, self.recursive)} if self.root.is_dir() else set()
        )
        return self.reload(present | set(self._files), now)

    def reload(self, paths: Iterable[Path], now: float) -> Change:
        units: set[UnitKey] = set()
        recheck: float | None = None
        warnings: list[Problem] = []
        with self._lock:
            for path in paths:
                before = self._files.get(path)
                good = before.good if before is not None else None
                values = before.values if before is not None else []
                changed, wait = self._reload_one(path, now, warnings)
                after = self._files.get(path)
                if (after.good if after is not None else None) is not good:
                    self._version += 1
                if (after.values if after is not None else []) != values:
                    # A ConfigMap or Secret changed: its readers may be in any file.
                    self._version += 1
                    changed |= {_key(m) for f in self._files.values() for m in f.good}
                units |= changed
                if wait is not None:
                    recheck = wait if recheck is None else min(recheck, wait)
        return Change(frozenset(units), recheck, tuple(warnings))

    def _reload_one(
        self, path: Path, now: float, warnings: list[Problem]
    ) -> tuple[set[UnitKey], float | None]:
        state = self._files.get(path)
        before = {_key(m) for m in state.good} if state else set()
        if not is_manifest_file(path):  # deleted (or never ours): its units go
            self._files.pop(path, None)
            return before, None
        state = state or _File()
        try:
            # Never blocks: a FIFO or device is refused from stat alone (manifests.py).
            text = read_manifest(path, self.root, self.limits)
            plain = opened(text, path, self.decrypt)  # an *.age file, decrypted in memory
        except ManifestError as exc:
            self._files[path] = state
            state.errors = exc.problems  # last known good stays
            return before, None
        except OSError:
            return set(), None  # vanished between the event and the read: the next event says
        digest = hashlib.sha256(text).hexdigest()
        self._files[path] = state
        if digest == state.digest and state.candidate is None:
            # Unchanged since it last loaded well (maybe restored after a bad
            # edit): what it defines stands, and any error since is gone.
            state.errors = []
            return set(), None
        loaded = load_bytes(plain, str(path), source_of(path, self.root), self.limits)
        if digest != state.candidate_digest:  # not a second read to confirm a settling file
            warnings.extend(loaded.warnings)
        if loaded.errors:
            state.errors = loaded.errors  # last known good stays
            return before, None
        state.errors = []
        state.values = loaded.values
        after = {_key(m) for m in loaded.manifests}
        had = {_key(m): _members(m) for m in state.good}
        shrunk = {k for m in loaded.manifests if (k := _key(m)) in had and had[k] - _members(m)}
        held = (before - after) | shrunk  # units that would lose something
        if held and state.good:
            confirmed = state.candidate is not None and state.candidate_digest == digest
            if not confirmed or now < state.confirm_at:
                if not confirmed:
                    state.candidate, state.candidate_digest = loaded.manifests, digest
                    state.confirm_at = now + self.settle
                # Keep those units as they were; take the rest of the file as it is now.
                kept = [m for m in state.good if _key(m) in held]
                state.good = [m for m in loaded.manifests if _key(m) not in shrunk] + kept
                return after | before, max(0.0, state.confirm_at - now)
        state.good, state.digest = loaded.manifests, digest
        state.candidate, state.candidate_digest = None, ""
        return before | after, None

    def compiled(self, config: BuildConfig) -> tuple[Compiled, ...]:
        """What the files ask for; a unit defined twice counts where it was defined first."""
        with self._lock:
            version, cached = self._version, self._compiled
            if cached is not None and cached[:2] == (version, config):
                return cached[2]  # the same tuple: the loop need not admit it again
            defined = [(path, m) for path in sorted(self._files) for m in self._files[path].good]
            values = [v for path in sorted(self._files) for v in self._files[path].values]
        where = {id(m): path for path, m in defined}
        first, duplicates = first_of_each(m for _, m in defined)
        self._duplicates = [(where[id(m)], problem) for m, problem in duplicates]
        compiled = compile_units(first, config, values)
        with self._lock:
            self._compiled = (version, config, compiled)
        return compiled

    def errors(self) -> dict[str, list[Problem]]:
        """Files that failed to load, by their source label (relative path)."""
        with self._lock:
            result = {self._label(path): f.errors for path, f in self._files.items() if f.errors}
        for path, problem in self._duplicates:
            result.setdefault(self._label(path), []).append(problem)
        return result

    def _label(self, path: Path) -> str:
        """A file's source label: its path relative to the root (as on the containers)."""
        return path.relative_to(self.root).as_posix()


class DirectorySource:
    """`reconciler run DIR`: a ``ManifestDirectory`` watched with watchfiles."""

    def __init__(
        self,
        root: Path,
        recursive: bool,
        settle: float = 2.0,
        step_ms: int = 50,  # LoopSettings.debounce_ms
        limits: InputLimits = DEFAULT_LIMITS,
        decrypt: Decrypt | None = None,
    ):
        self.files = ManifestDirectory(root, recursive, settle, limits, decrypt)
        self.step_ms = step_ms

    def describe(self) -> str:
        return str(self.files.root)

    def scan(self, now: float) -> Change:
        return self.files.scan(now)

    def compiled(self, config: BuildConfig) -> tuple[Compiled, ...]:
        return self.files.compiled(config)

    def errors(self) -> dict[str, list[Problem]]:
        return self.files.errors()

    def complete(self) -> bool:
        return True  # a broken file holds its own units (errors()), never the others

    def status(self) -> dict[str, Any]:
        return {"directory": str(self.files.root)}

    def watch(self, stop: threading.Event, changed: Callable[[Change | None], None]) -> None:
        directory = self.files.root
        while not stop.is_set():
            try:
                for changes in watchfiles.watch(
                    directory,
                    stop_event=stop,
                    recursive=self.files.recursive,
                    debounce=1600,
                    step=self.step_ms,
                    watch_filter=lambda _change, path: self.files.wants(Path(path)),
                    raise_interrupt=False,
                ):
                    paths = {Path(p) for _, p in changes}
                    change = self.files.reload(paths, time.monotonic())
                    log.info("files changed: %s", ", ".join(sorted(p.name for p in paths)))
                    self._changed(stop, changed, change, paths)
            except (OSError, RuntimeError) as exc:  # the directory vanished, or came back
                log.warning("watching %s: %s; retrying", directory, exc)
                stop.wait(1.0)

    def _changed(
        self,
        stop: threading.Event,
        changed: Callable[[Change | None], None],
        change: Change,
        paths: set[Path],
    ) -> None:
        changed(change)
        if change.recheck_in is not None:  # a unit vanishing from a file waits to be confirmed

            def recheck() -> None:
                if not stop.is_set():
                    again = self.files.reload(paths, time.monotonic())
                    self._changed(stop, changed, again, paths)

            timer = threading.Timer(change.recheck_in, recheck)
            timer.daemon = True
            timer.start()
