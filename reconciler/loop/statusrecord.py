"""The loop's status record: one versioned schema, written by `run` and `sync`, read by `get`.

No I/O (statefile.py reads and writes the file). ``LoopStatus`` is what one
loop last reported: its instance, daemon and source, the files it could not
read, and per unit what it knows beyond the daemon's list (restarts it made,
crash-loop backoff, readiness, the last error, an eviction's message).
``to_json`` gives the file's layout (camelCase keys, containers by name);
``from_json`` reads it back leniently: a file from before ``version`` existed
(version 0, the same layout) is read, an entry of the wrong shape is skipped,
and a file from a newer version raises ``UnsupportedStatus`` so the reader can
ignore it with a warning.

``StatusBook`` is where the loop keeps these records while it runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from reconciler.core.spec import UnitKey

STATUS_VERSION = 1  # bump when the layout changes in a way an older `get` would misread

# Phases the loop decides itself (status.phase derives the others from containers).
FAILING = ("Failed", "CrashLoopBackOff", "Refused", "Evicted")
CONVERGED = ("Running", "Succeeded")
ACTIVE = ("Pending", "Running", "CrashLoopBackOff")  # started and not finished


class UnsupportedStatus(ValueError):
    """A status file written by a newer reconciler, in a layout this one does not know."""


@dataclass(frozen=True, slots=True)
class ContainerRecord:
    id: str  # short (12 characters)
    state: str
    exit_code: int | None = None
    restarts: int = 0  # how often the loop restarted it
    ready: bool | None = None  # its readiness probe's last verdict; None: not probed
    waiting: str | None = None  # why its restart is held back (CrashLoopBackOff)
    started: bool | None = None  # its startup probe has passed; None: it has none (or unknown)
    spec_hash: str | None = None  # its spec-hash label: the spec it runs

    def to_json(self) -> dict[str, Any]:
        # The fields a health gate added are left out when unknown: an older file
        # writes back as it was.
        more = {"started": self.started, "specHash": self.spec_hash}
        return {
            "id": self.id,
            "state": self.state,
            "exitCode": self.exit_code,
            "restarts": self.restarts,
            "ready": self.ready,
            "waiting": self.waiting,
        } | {key: value for key, value in more.items() if value is not None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ContainerRecord:
        return cls(
            id=str(data.get("id") or ""),
            state=str(data.get("state") or ""),
            exit_code=_int_or_none(data.get("exitCode")),
            restarts=_int_or_none(data.get("restarts")) or 0,
            ready=data.get("ready") if isinstance(data.get("ready"), bool) else None,
            waiting=_str_or_none(data.get("waiting")),
            started=data.get("started") if isinstance(data.get("started"), bool) else None,
            spec_hash=_str_or_none(data.get("specHash")),
        )


@dataclass(frozen=True, slots=True)
class UnitRecord:
    kind: str = ""  # "" in a record that lacks it: such a unit is merged, never listed alone
    namespace: str = ""
    name: str = ""
    phase: str = "Pending"
    containers: Mapping[str, ContainerRecord] = field(default_factory=dict)  # by manifest name
    last_error: str | None = None
    source: str = ""  # the manifest file
    owner: str = ""  # the source that owns it
    updated: str = ""  # when the loop last passed over it (ISO 8601, seconds)
    message: str | None = None  # why it is in its phase (Evicted: the eviction's message)

    @property
    def ready(self) -> bool:
        return all(c.ready is not False for c in self.containers.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "namespace": self.namespace,
            "name": self.name,
            "phase": self.phase,
            "ready": self.ready,
            "containers": {name: c.to_json() for name, c in self.containers.items()},
            "lastError": self.last_error,
            "source": self.source,
            "owner": self.owner,
            "updated": self.updated,
            "message": self.message,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UnitRecord:
        containers = data.get("containers")
        return cls(
            kind=str(data.get("kind") or ""),
            namespace=str(data.get("namespace") or ""),
            name=str(data.get("name") or ""),
            phase=str(data.get("phase") or "Pending"),
            containers={
                str(name): ContainerRecord.from_json(c)
                for name, c in (containers.items() if isinstance(containers, Mapping) else ())
                if isinstance(c, Mapping)
            },
            last_error=_str_or_none(data.get("lastError")),
            source=str(data.get("source") or ""),
            owner=str(data.get("owner") or ""),
            updated=str(data.get("updated") or ""),
            message=_str_or_none(data.get("message")),
        )


@dataclass(frozen=True, slots=True)
class LoopStatus:
    instance: str = ""
    daemon: str = ""
    updated: str = ""
    units: Mapping[str, UnitRecord] = field(default_factory=dict)  # by str(UnitKey)
    file_errors: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # by path
    # The source's own part (Source.status()): {"directory": ...} or {"sync": {...}}.
    source: Mapping[str, Any] = field(default_factory=dict)
    version: int = STATUS_VERSION

    @property
    def sync(self) -> dict[str, Any] | None:
        """What a `sync` follows and where it stands; None for other sources."""
        sync = self.source.get("sync")
        return dict(sync) if isinstance(sync, Mapping) else None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "instance": self.instance,
            "daemon": self.daemon,
            **self.source,
            "updated": self.updated,
            "fileErrors": {path: list(problems) for path, problems in self.file_errors.items()},
            "units": {key: unit.to_json() for key, unit in self.units.items()},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LoopStatus:
        """Read a status file's object; raises ``UnsupportedStatus`` for a newer version."""
        version = data.get("version", 0)
        if not isinstance(version, int) or version > STATUS_VERSION:
            raise UnsupportedStatus(
                f"status version {version!r} is newer than this reconciler reads ({STATUS_VERSION})"
            )
        units = data.get("units")
        errors = data.get("fileErrors")
        return cls(
            instance=str(data.get("instance") or ""),
            daemon=str(data.get("daemon") or ""),
            updated=str(data.get("updated") or ""),
            units={
                str(key): UnitRecord.from_json(unit)
                for key, unit in (units.items() if isinstance(units, Mapping) else ())
                if isinstance(unit, Mapping)
            },
            file_errors={
                str(path): tuple(str(p) for p in problems)
                for path, problems in (errors.items() if isinstance(errors, Mapping) else ())
                if isinstance(problems, list)
            },
            source={k: data[k] for k in ("directory", "sync") if k in data},
            version=version,
        )


def _int_or_none(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _str_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class StatusBook:
    """The records of one loop's units, kept between passes; thread-safe.

    ``now`` stamps ``updated`` (wall-clock time, for people and for `get`).
    """

    def __init__(self, owner: str, now: Callable[[], str] = _now) -> None:
        self.owner = owner
        self._now = now
        self._lock = threading.Lock()
        self._units: dict[UnitKey, UnitRecord] = {}

    def _get(self, key: UnitKey) -> UnitRecord:
        return self._units.get(key) or UnitRecord(
            key.kind.value, key.namespace, key.name, owner=self.owner
        )

    def observed(
        self,
        key: UnitKey,
        phase: str,
        containers: Mapping[str, ContainerRecord],
        message: str | None = None,
    ) -> None:
        """What a pass saw of the unit afterwards (``message``: why it is in ``phase``)."""
        with self._lock:
            self._units[key] = replace(
                self._get(key), phase=phase, containers=dict(containers), message=message
            )

    def failed(self, key: UnitKey, error: str) -> None:
        """Failed, with its error in the same step: a status written in between
        would show the phase without the reason."""
        with self._lock:
            self._units[key] = replace(self._get(key), phase="Failed", last_error=error)

    def refused(self, key: UnitKey, reason: str) -> bool:
        """The unit is refused for ``reason``: shown Refused while nothing of it runs.
        Whether the reason is new (the last error was another)."""
        with self._lock:
            record = self._units.get(key)
            new = record is None or record.last_error != reason
            record = replace(self._get(key), last_error=reason)  # with its phase, at once
            if record.phase in ("Absent", "Pending", "Failed"):
                self._units[key] = replace(record, phase="Refused")
            else:
                self._units[key] = record
            return new

    def record(self, key: UnitKey, error: str | None, source: str | None, desired: bool) -> None:
        """A pass ended with ``error`` (None: fine); a unit gone for good is forgotten."""
        with self._lock:
            record = replace(self._get(key), last_error=error, updated=self._now())
            if source is not None:
                record = replace(record, source=source)
            if record.phase == "Absent" and not desired:
                self._units.pop(key, None)
            else:
                self._units[key] = record

    def seen(self, keys: Iterable[UnitKey]) -> None:
        """A resync found these units as their last pass left them: stamp them, nothing more."""
        with self._lock:
            now = self._now()
            for key in keys:
                if key in self._units:
                    self._units[key] = replace(self._units[key], updated=now)

    def drop(self, key: UnitKey) -> None:
        """Not this loop's unit (another source's): not reported."""
        with self._lock:
            self._units.pop(key, None)

    def active(self) -> set[UnitKey]:
        """The units neither finished, failed nor evicted at their last pass (kubelet's
        active pods: those whose emptyDirs it measures)."""
        with self._lock:
            return {key for key, record in self._units.items() if record.phase in ACTIVE}

    def phases(self) -> dict[UnitKey, str]:
        with self._lock:
            return {key: record.phase for key, record in self._units.items()}

    def units(self) -> dict[str, UnitRecord]:
        """The records by ``str(key)``, in key order (the file's ``units``)."""
        with self._lock:
            return {str(key): record for key, record in sorted(self._units.items())}


__all__ = [
    "CONVERGED",
    "FAILING",
    "STATUS_VERSION",
    "ContainerRecord",
    "LoopStatus",
    "StatusBook",
    "UnitRecord",
    "UnsupportedStatus",
]
