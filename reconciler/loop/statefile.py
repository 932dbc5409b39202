"""The control loop's state directory: one lock and one status file per instance.

Does file I/O. ``<dir>/<instance>.lock`` is held with ``flock`` for as long as
``reconciler run`` serves an instance, so two loops never converge the same
containers against each other; it names its holder (pid, daemon). The lock
file is never removed: removing it would let a second loop lock a new file
while the first still holds the old one. ``<dir>/<instance>.status.json`` is
what the loop last reported, replaced atomically so a reader never sees half
of it. Runtime data only: it is not fsynced, and it lives under /run.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import tempfile
from glob import escape as glob_escape
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from reconciler.core.errors import ReconcilerError
from reconciler.loop.statusrecord import LoopStatus


class InstanceLocked(ReconcilerError):
    """Another process already runs the control loop for this instance."""

    def __init__(self, instance: str, path: Path, pid: int | None, daemon: str | None) -> None:
        self.instance, self.path, self.pid, self.daemon = instance, path, pid, daemon
        holder = "another process" if pid is None else f"process {pid}"
        against = f" against {daemon}" if daemon else ""
        super().__init__(
            f"instance {instance!r} is already running in {holder}{against} "
            f"(it holds the lock {path})"
        )


def state_name(instance: str, daemon: str, source: str = "") -> str:
    """The name of a loop's lock and status files: one loop per instance, daemon *and*
    source (ownership.py): `run` on two directories and a `sync` may serve one
    instance together, each pruning only its own units; the same source twice may not."""
    name = f"{instance}.{_digest(daemon)}"
    return f"{name}.{_digest(source)}" if source else name


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def default_state_dir() -> Path:
    """``$XDG_RUNTIME_DIR/reconciler`` when that is set, else ``/run/reconciler``."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    return Path(runtime, "reconciler") if runtime else Path("/run/reconciler")


def _file(state_dir: Path, instance: str, suffix: str) -> Path:
    if not instance or "/" in instance or "\0" in instance or instance.startswith("."):
        raise ValueError(f"{instance!r} cannot name an instance's state file")
    return state_dir / f"{instance}{suffix}"


class InstanceLock:
    """An exclusive, non-blocking ``flock`` on ``<state_dir>/<instance>.lock``.

    ``with InstanceLock(dir, instance, daemon):`` raises ``InstanceLocked`` when
    another open of that file (this process or another) holds it.
    """

    def __init__(
        self, state_dir: Path, name: str, daemon: str, instance: str | None = None
    ) -> None:
        self.path = _file(state_dir, name, ".lock")
        self.instance = instance or name  # for people; ``name`` may carry the daemon's digest
        self.daemon = daemon
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock and write the holder into the file; raises ``InstanceLocked``."""
        if self._fd is not None:
            raise RuntimeError(f"{self.path} is already locked by this object")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid, daemon = _holder(fd)
            os.close(fd)
            raise InstanceLocked(self.instance, self.path, pid, daemon) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "daemon": self.daemon}).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Clear the holder and drop the lock (closing the file drops it)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


def _holder(fd: int) -> tuple[int | None, str | None]:
    """The pid and daemon the holder wrote into the lock file, where written and readable."""
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
    except (OSError, ValueError):
        return None, None
    if not isinstance(data, dict):
        return None, None
    pid, daemon = data.get("pid"), data.get("daemon")
    return (pid if isinstance(pid, int) else None, daemon if isinstance(daemon, str) else None)


def write_status(state_dir: Path, instance: str, data: dict[str, Any]) -> Path:
    """Replace ``<state_dir>/<instance>.status.json`` with ``data`` atomically."""
    path = _file(state_dir, instance, ".status.json")
    text = json.dumps(data, indent=2, sort_keys=True) + "\n"  # fails before touching files
    state_dir.mkdir(parents=True, exist_ok=True)
    # The temporary file is in the same directory: os.replace is atomic only
    # within one file system.
    fd, tmp = tempfile.mkstemp(dir=state_dir, prefix=f".{instance}.status.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            os.fchmod(f.fileno(), 0o644)  # mkstemp makes 0600; `reconciler status` may be anyone
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def write_record(state_dir: Path, name: str, record: LoopStatus) -> Path:
    """Replace the loop's status file with ``record`` (statusrecord.py's layout)."""
    return write_status(state_dir, name, record.to_json())


def read_records(state_dir: Path, instance: str, daemon: str) -> tuple[list[LoopStatus], list[str]]:
    """What every loop of ``instance`` on ``daemon`` last wrote (one per source), and
    a warning for each file that could not be read (not JSON, or from a newer version)."""
    prefix = state_name(instance, daemon)
    records, warnings = [], []
    for path in sorted(state_dir.glob(f"{glob_escape(prefix)}*.status.json")):
        try:
            data = read_status(state_dir, path.name.removesuffix(".status.json"))
            if data is not None:
                records.append(LoopStatus.from_json(data))
        except (OSError, ValueError) as exc:  # UnsupportedStatus is a ValueError
            warnings.append(f"{path}: {exc}")
    return records, warnings


def read_statuses(state_dir: Path, instance: str, daemon: str) -> list[dict[str, Any]]:
    """What every loop of ``instance`` on ``daemon`` last wrote (one per source).

    Raises ``ValueError`` when a file is not a JSON object.
    """
    prefix = state_name(instance, daemon)
    found = []
    for path in sorted(state_dir.glob(f"{glob_escape(prefix)}*.status.json")):
        data = read_status(state_dir, path.name.removesuffix(".status.json"))
        if data is not None:
            found.append(data)
    return found


def read_status(state_dir: Path, instance: str) -> dict[str, Any] | None:
    """The status last written for ``instance``, or None if there is none.

    Raises ``ValueError`` when the file is not a JSON object.
    """
    try:
        text = _file(state_dir, instance, ".status.json").read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{state_dir / instance}.status.json does not hold a JSON object")
    return data


__all__ = [
    "InstanceLock",
    "InstanceLocked",
    "default_state_dir",
    "read_records",
    "read_status",
    "read_statuses",
    "write_record",
    "write_status",
]
