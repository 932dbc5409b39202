"""Where a `sync` stands: the commits it attempted, applied and found healthy, the health
gate of the revision the loop converges to, the last rollback and the errors. No I/O.

This is the ``sync`` part of the loop's status file (``GitSource.status``), kept
in one place under one lock, so each change is seen whole (never a new revision
beside the last one's error). Without a health gate (``gated`` False) a commit
counts as applied once it is taken. With one (`sync --wait`), a commit taken is
*progressing* (``lastAttemptedRevision``, ``health.state``) and counts as applied,
and healthy, only once the gate says every unit it changed is Ready.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class SyncStanding:
    def __init__(self, gated: bool, now: Callable[[], str] = _now) -> None:
        self.gated = gated
        self._now = now
        self._lock = threading.Lock()
        self.applied: str | None = None
        self.applied_at: str | None = None
        self.healthy: str | None = None
        self.healthy_at: str | None = None
        self.attempted: str | None = None
        self.attempted_at: str | None = None
        self.fetch_at: str | None = None
        self.fetch_error: str | None = None
        self.revision_error: str | None = None
        self._health: dict[str, Any] | None = None
        self._rollback: dict[str, Any] | None = None

    @property
    def last_error(self) -> str | None:
        """A failing fetch, else the last commit's failure; None when all is well."""
        with self._lock:
            return self.fetch_error or self.revision_error

    # -- what the source did -----------------------------------------------------------

    def fetched(self, error: str | None) -> None:
        with self._lock:
            self.fetch_error = error
            if error is None:
                self.fetch_at = self._now()

    def failed(self, attempted: tuple[str, str], message: str) -> None:
        """A commit could not be taken: the error, with its attempt."""
        with self._lock:
            self.attempted, self.attempted_at = attempted
            self.revision_error = message

    def taken(self, attempted: tuple[str, str]) -> None:
        """A commit was taken and handed to the loop: applied, or (gated) progressing."""
        with self._lock:
            self.attempted, self.attempted_at = attempted
            self.revision_error = None
            if self.gated:
                self._health = self._gate(attempted[0], "Progressing")
            else:
                self.applied, self.applied_at = attempted[0], self._now()

    def resumed(self, commit: str, healthy: str | None) -> None:
        """Started from ``commit``, which an earlier run applied; ``healthy`` the last commit
        that run found healthy (if any)."""
        with self._lock:
            if healthy is not None:
                self.healthy = self.applied = healthy
            if not self.gated:
                self.applied = commit
            else:
                self._health = self._gate(commit, "Healthy" if commit == healthy else "Progressing")

    # -- what the health gate said ----------------------------------------------------

    def progressing(self, commit: str, waiting: Sequence[str]) -> bool:
        """What the gate of ``commit`` waits for now; False when ``commit`` is not gated."""
        with self._lock:
            if self._health is None or self._health["revision"] != commit:
                return False
            self._health = self._health | {"units": list(waiting)}
            return True

    def judged_healthy(self, commit: str) -> None:
        with self._lock:
            now = self._now()
            self.healthy, self.healthy_at = commit, now
            self.applied, self.applied_at = commit, now
            self._health = self._gate(commit, "Healthy")

    def judged_unhealthy(self, commit: str, reasons: Sequence[str], message: str) -> None:
        with self._lock:
            self._health = self._gate(commit, "Unhealthy") | {"units": list(reasons)}
            self.revision_error = message

    def rolled_back(self, failed: str, to: str, reason: str, message: str) -> None:
        """The loop is handed ``to`` again instead of ``failed``; its gate begins."""
        with self._lock:
            self._rollback = {"from": failed, "to": to, "at": self._now(), "reason": reason}
            self._health = self._gate(to, "Progressing")
            self.revision_error = message

    def _gate(self, commit: str, state: str) -> dict[str, Any]:
        return {"revision": commit, "state": state, "since": self._now(), "units": []}

    # -- the status ---------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {
                "lastAppliedRevision": self.applied,
                "lastAppliedAt": self.applied_at,
                "lastHealthyRevision": self.healthy,
                "lastHealthyAt": self.healthy_at,
                "lastAttemptedRevision": self.attempted,
                "lastAttemptedAt": self.attempted_at,
                "lastFetchAt": self.fetch_at,
                "lastError": self.fetch_error or self.revision_error,
                "health": dict(self._health) if self._health is not None else None,
                "lastRollback": dict(self._rollback) if self._rollback is not None else None,
            }


__all__ = ["SyncStanding"]
