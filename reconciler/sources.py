"""A watched directory of manifests, with last known good per file. Reads files; no Docker.

The control loop's view of what is desired. Each file keeps the manifests it
last loaded without error: a file that fails to read or validate keeps
defining what it defined before (and reports why), so a broken or
half-written edit never removes a container. A unit that disappears from a
file that still exists is kept until the file has read the same twice,
``settle`` seconds apart, so an editor saving in several writes cannot make
a unit vanish for a moment.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from reconciler.desired import BuildConfig, Desired, UnitKey, build_units
from reconciler.errors import Problem
from reconciler.manifests import LoadedManifest, discover, is_manifest_file, load_file


def _key(loaded: LoadedManifest) -> UnitKey:
    return UnitKey(*loaded.identity)


@dataclass(slots=True)
class _File:
    good: list[LoadedManifest] = field(default_factory=list)  # last known good
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


class ManifestDirectory:
    """The manifests under one directory, reloaded file by file."""

    def __init__(self, root: Path, recursive: bool, settle: float = 2.0) -> None:
        self.root = root
        self.recursive = recursive
        self.settle = settle
        self._files: dict[Path, _File] = {}
        self._duplicates: list[Problem] = []
        self._lock = threading.Lock()

    def wants(self, path: Path) -> bool:
        """Whether a changed path is one of ours (a manifest file, at the right depth)."""
        try:
            relative = path.relative_to(self.root)
        except ValueError:
            return False
        if any(part.startswith(".") for part in relative.parts):
            return False
        if not self.recursive and len(relative.parts) != 1:
            return False
        return path.suffix in (".yaml", ".yml", ".json") and not path.name.startswith(("#", "~"))

    def scan(self, now: float) -> Change:
        """Reload every file (at start and on resync); files gone are forgotten."""
        present = (
            {p for p, _ in discover(self.root, self.recursive)} if self.root.is_dir() else set()
        )
        return self.reload(present | set(self._files), now)

    def reload(self, paths: Iterable[Path], now: float) -> Change:
        units: set[UnitKey] = set()
        recheck: float | None = None
        with self._lock:
            for path in paths:
                changed, wait = self._reload_one(path, now)
                units |= changed
                if wait is not None:
                    recheck = wait if recheck is None else min(recheck, wait)
        return Change(frozenset(units), recheck)

    def _reload_one(self, path: Path, now: float) -> tuple[set[UnitKey], float | None]:
        state = self._files.get(path)
        before = {_key(m) for m in state.good} if state else set()
        if not is_manifest_file(path):  # deleted (or never ours): its units go
            self._files.pop(path, None)
            return before, None
        try:
            text = path.read_bytes()
        except OSError:
            return set(), None  # vanished between the event and the read: the next event says
        digest = hashlib.sha256(text).hexdigest()
        state = state or _File()
        self._files[path] = state
        if digest == state.digest and state.candidate is None:
            # Unchanged since it last loaded well (maybe restored after a bad
            # edit): what it defines stands, and any error since is gone.
            state.errors = []
            return set(), None
        loaded = load_file(path, self.root)
        if loaded.errors:
            state.errors = loaded.errors  # last known good stays
            return before, None
        state.errors = []
        after = {_key(m) for m in loaded.manifests}
        if before - after and state.good:
            confirmed = state.candidate is not None and state.candidate_digest == digest
            if not confirmed or now < state.confirm_at:
                if not confirmed:
                    state.candidate, state.candidate_digest = loaded.manifests, digest
                    state.confirm_at = now + self.settle
                # Keep the vanishing units; take the rest of the file as it is now.
                kept = [m for m in state.good if _key(m) in before - after]
                state.good = loaded.manifests + kept
                return after | before, max(0.0, state.confirm_at - now)
        state.good, state.digest = loaded.manifests, digest
        state.candidate, state.candidate_digest = None, ""
        return before | after, None

    def desired(self, config: BuildConfig) -> Desired:
        """What the files ask for; a unit defined twice counts where it was defined first."""
        first: dict[UnitKey, LoadedManifest] = {}
        self._duplicates = []
        with self._lock:
            for path in sorted(self._files):
                for m in self._files[path].good:
                    if _key(m) in first:
                        self._duplicates.append(
                            Problem(
                                m.location,
                                "metadata.name",
                                f"duplicate {_key(m)} (first defined at {first[_key(m)].location})",
                            )
                        )
                        continue
                    first[_key(m)] = m
        return build_units([(m.manifest, m.source) for m in first.values()], config)

    def errors(self) -> dict[str, list[Problem]]:
        """Files that failed to load, by their source label (relative path)."""
        with self._lock:
            result = {
                path.relative_to(self.root).as_posix(): f.errors
                for path, f in self._files.items()
                if f.errors
            }
        for problem in self._duplicates:
            result.setdefault(problem.location.path, []).append(problem)
        return result
