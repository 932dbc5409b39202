"""What the CRI driver streams and runs: events by relisting, log files, exec. Does I/O.

CRI runtimes before 1.26 have no event stream (containerd 1.6 lacks
``GetContainerEvents``), so ``CriEvents`` relists every second, as kubelet's
PLEG does, and yields what changed. A container's output is its CRI log
file (kubelet's layout under the pod's log directory). Commands run with
``ExecSync``: no stdin, no terminal (CRI's streaming Exec is not
implemented here, and ``exec -i``/``-t`` is refused by name).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

from reconciler.core import labels as L
from reconciler.core.errors import (
    DriverError,
    ExecFailed,
    NotFound,
    PermanentDriverError,
    TransientDriverError,
)
from reconciler.core.observed import ContainerEvent, EventKind, State
from reconciler.drivers.cri.client import CriClient, pb
from reconciler.drivers.cri.selectors import unit_of

POLL_SECONDS = 1.0  # the events relist period (kubelet's PLEG relists every second)

Snapshot = Callable[[], Mapping[str, tuple[State, Mapping[str, str]]]]
_KINDS = {State.RUNNING: EventKind.STARTED, State.CREATED: EventKind.CREATED}


class CriEvents:
    """Events made by relisting every ``period`` seconds (kubelet's PLEG): a container or
    pod that appeared, started, exited or went is an event. ``close()`` ends it."""

    def __init__(self, snapshot: Snapshot, period: float = POLL_SECONDS) -> None:
        self._snapshot = snapshot
        self._period = period
        self._closed = threading.Event()

    def close(self) -> None:
        self._closed.set()

    def __iter__(self) -> Iterator[ContainerEvent]:
        before = self._snapshot()
        while not self._closed.wait(self._period):
            now = self._snapshot()
            for cid, (state, labels) in now.items():
                old = before.get(cid)
                if old is not None and old[0] == state:
                    continue
                kind = _KINDS.get(state, EventKind.EXITED)
                yield ContainerEvent(unit_of(labels), kind, L.role_of(labels), cid)
            for cid, (_, labels) in before.items():
                if cid not in now:
                    yield ContainerEvent(unit_of(labels), EventKind.REMOVED, L.role_of(labels), cid)
            before = now


class CriLogStream:
    """A container's CRI log file (``TIMESTAMP STREAM P|F TEXT`` lines) as its output;
    with ``follow`` it waits for more until the container exits or ``close()``."""

    def __init__(
        self,
        path: Path,
        running: Callable[[], bool],
        *,
        follow: bool,
        tail: int | None,
        since: float | None,
        until: float | None,
        timestamps: bool,
    ) -> None:
        self._path = path
        self._running = running
        self._follow = follow
        self._tail = tail
        self._since = since
        self._until = until
        self._timestamps = timestamps
        self._closed = threading.Event()

    def close(self) -> None:
        self._closed.set()

    def _line(self, raw: bytes) -> bytes | None:
        stamp, _, rest = raw.partition(b" ")
        _stream, _, rest = rest.partition(b" ")
        tag, _, text = rest.partition(b" ")
        if self._since is not None or self._until is not None:
            try:
                when = datetime.fromisoformat(stamp.decode()[:26].rstrip("Z") + "+00:00")
            except ValueError:
                when = None
            if when is not None:
                seconds = when.timestamp()
                if self._since is not None and seconds < self._since:
                    return None
                if self._until is not None and seconds > self._until:
                    return None
        text = text.rstrip(b"\n") + (b"" if tag == b"P" else b"\n")
        return (stamp + b" " + text) if self._timestamps else text

    def __iter__(self) -> Iterator[bytes]:
        try:
            handle = self._path.open("rb")
        except FileNotFoundError:
            return
        with handle:
            lines = [x for raw in handle.readlines() if (x := self._line(raw)) is not None]
            if self._tail is not None:
                lines = lines[-self._tail :] if self._tail > 0 else []
            yield from lines
            while self._follow and not self._closed.is_set():
                raw = handle.readline()
                if raw.endswith(b"\n"):
                    line = self._line(raw)
                    if line is not None:
                        yield line
                    continue
                handle.seek(-len(raw), os.SEEK_CUR)
                if not self._running():
                    return
                self._closed.wait(0.25)


class Tools:
    def __init__(self, cri: CriClient) -> None:
        self.cri = cri

    def logs(
        self,
        container_id: str,
        *,
        follow: bool = False,
        tail: int | None = None,
        since: float | None = None,
        until: float | None = None,
        timestamps: bool = False,
    ) -> CriLogStream:
        """The container's CRI log file (stdout and stderr merged, in order). Each attempt
        is a container of its own with a file of its own."""
        status = self.cri.container_status(container_id).status

        def running() -> bool:
            try:
                state = self.cri.container_status(container_id).status.state
            except DriverError:
                return False
            return state in (pb.CONTAINER_RUNNING, pb.CONTAINER_CREATED)

        return CriLogStream(
            Path(status.log_path),
            running,
            follow=follow,
            tail=tail,
            since=since,
            until=until,
            timestamps=timestamps,
        )

    def exec(self, container_id: str, command: list[str], timeout: float) -> int:
        """ExecSync: its exit code. TimeoutError when it outlives ``timeout``."""
        seconds = max(1, int(timeout + 0.999))
        try:
            # containerd may wait out a command that ignores its timeout (seen under
            # gVisor): the call itself gives up a moment after the timeout.
            return self.cri.exec_sync(container_id, command, seconds, margin=2.0).exit_code
        except TransientDriverError as exc:
            if "timeout" in str(exc).lower() or "deadline" in str(exc).lower():
                raise TimeoutError(f"{command} did not finish within {timeout} s") from exc
            raise ExecFailed(str(exc)) from exc
        except NotFound:
            raise
        except PermanentDriverError as exc:
            if "timeout" in str(exc).lower():
                raise TimeoutError(f"{command} did not finish within {timeout} s") from exc
            raise

    def exec_attached(
        self,
        container_id: str,
        command: list[str],
        out: BinaryIO,
        err: BinaryIO,
        stdin: BinaryIO | None = None,
        tty: bool = False,
        size: tuple[int, int] | None = None,
    ) -> int:
        """ExecSync with its output copied out once it ends: no stdin, no terminal
        (CRI's streaming Exec is not implemented by this driver)."""
        del size
        if stdin is not None or tty:
            raise DriverError(
                "the cri driver runs commands with ExecSync: no stdin and no terminal"
            )
        result = self.cri.exec_sync(container_id, command, 0)
        out.write(result.stdout)
        out.flush()
        err.write(result.stderr)
        err.flush()
        return result.exit_code


__all__ = ["POLL_SECONDS", "CriEvents", "CriLogStream", "Tools"]
