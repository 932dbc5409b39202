"""Streams and commands on the Docker daemon: events, logs, exec. Does I/O (the SDK).

These are the only calls that need the docker SDK on a unix:// daemon (it
streams and hijacks the connection for exec), so only `run`, `sync`,
`logs`, `exec` and probes and hooks import it.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from typing import Any, BinaryIO

from reconciler.core import labels as L
from reconciler.core.errors import DaemonUnavailable, DriverError, ExecFailed
from reconciler.core.models import Kind
from reconciler.core.observed import ContainerEvent, EventKind
from reconciler.core.spec import UnitKey
from reconciler.drivers.docker.connection import Connection
from reconciler.drivers.docker.errors import calling, mapped, sdk_errors

# Docker's event actions in core's words (an action may carry ": detail", cut off).
_KINDS = {
    "start": EventKind.STARTED,
    "restart": EventKind.STARTED,
    "die": EventKind.EXITED,
    "stop": EventKind.EXITED,
    "oom": EventKind.EXITED,
    "destroy": EventKind.REMOVED,
    "kill": EventKind.CHANGED,  # a signal: it may or may not die of it
    "pause": EventKind.CHANGED,
    "unpause": EventKind.CHANGED,
    "create": EventKind.CREATED,
}


def event(raw: dict[str, Any]) -> ContainerEvent:
    """One of Docker's event messages as core's event."""
    actor = raw.get("Actor") or {}
    labels = actor.get("Attributes") or {}
    try:
        unit: UnitKey | None = UnitKey(Kind(labels[L.KIND]), labels[L.NAMESPACE], labels[L.SANDBOX])
    except (KeyError, ValueError):
        unit = None
    action = str(raw.get("Action") or raw.get("status") or "").split(":")[0]
    return ContainerEvent(
        unit, _KINDS.get(action, EventKind.OTHER), L.role_of(labels), actor.get("ID", "")
    )


class DockerEvents:
    """An iterator of events over Docker's stream; ``close()`` unblocks it from another thread."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[ContainerEvent]:
        try:
            for raw in self._stream:
                yield event(raw)
        except sdk_errors() as exc:
            raise mapped(exc, "following events") from exc
        except (AttributeError, ValueError, OSError) as exc:  # the stream was closed under us
            raise DaemonUnavailable(f"following events: the stream ended ({exc})") from exc

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._stream.close()


class DockerLogStream:
    """Lines of a container's output as Docker sends them; ``close()`` ends a follow."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._stream
        except sdk_errors() as exc:
            raise mapped(exc, "reading logs") from exc
        except (AttributeError, ValueError, OSError):  # closed under us: the end of the stream
            return

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._stream.close()


def _copy_in(source: BinaryIO, sock: socket.socket) -> None:
    """Copy ``source`` into an exec's stdin until it ends, then half-close the socket
    so the command reads end of file (``cat`` returns)."""
    read = getattr(source, "read1", source.read)
    with contextlib.suppress(OSError, ValueError):
        while chunk := read(65536):
            sock.sendall(chunk)
        sock.shutdown(socket.SHUT_WR)


class Tools:
    def __init__(self, connection: Connection) -> None:
        self._engine = connection

    def events(self) -> DockerEvents:
        """This instance's container events, as they happen. Raises DaemonUnavailable."""
        filters = {"type": ["container"], "label": self._engine.mine()}
        with calling("following events"):
            stream = self._engine.sdk.events(decode=True, filters=filters)
        return DockerEvents(stream)

    def logs(
        self,
        container_id: str,
        *,
        follow: bool = False,
        tail: int | None = None,
        since: float | None = None,
        until: float | None = None,
        timestamps: bool = False,
    ) -> DockerLogStream:
        """The container's output (stdout and stderr merged, in order), as Docker keeps it.

        Docker keeps one log per container across restarts in place, so ``until``
        the current run's start gives what earlier runs wrote. With ``follow`` the
        stream ends when the container stops, or when ``close()`` is called.
        """
        with calling(f"reading the logs of {container_id[:12]}"):
            stream = self._engine.sdk.logs(
                container_id,
                stream=True,
                follow=follow,
                tail="all" if tail is None else tail,
                since=since,
                until=until,
                timestamps=timestamps,
            )
        return DockerLogStream(stream)

    def exec(self, container_id: str, command: list[str], timeout: float) -> int:
        """Run ``command`` in the container (exec probes, hooks): its exit code.

        Raises TimeoutError when it outlives ``timeout``; DriverError when the exec
        cannot be made (gone: NotFound; not running: PermanentDriverError);
        ExecFailed when the engine fails it once made (the container stopped
        meanwhile, the daemon failed).
        """
        what = f"exec in {container_id[:12]}"
        sdk = self._engine.sdk
        with calling(what):
            run = sdk.exec_create(container_id, command)
        result: list[int | ExecFailed] = []

        def wait() -> None:
            try:
                with calling(what):
                    sdk.exec_start(run["Id"])
                    code = sdk.exec_inspect(run["Id"]).get("ExitCode")
                result.append(int(code or 0))
            except DriverError as exc:  # handed to the caller's thread
                failed = ExecFailed(str(exc))
                failed.__cause__ = exc
                result.append(failed)

        worker = threading.Thread(target=wait, daemon=True)
        worker.start()
        worker.join(timeout)
        if not result:
            raise TimeoutError(f"{command} did not finish within {timeout} s")
        if isinstance(result[0], ExecFailed):
            raise result[0]
        return result[0]

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
        """Run ``command`` with its output copied to ``out`` / ``err`` (and ``stdin`` copied
        in, then closed, when given): its exit code, as ``docker exec`` gives it (126
        cannot run, 127 not found). ``size`` is the terminal's (rows, columns) under ``tty``.
        Raises DriverError when the container is gone or not running."""
        sdk = self._engine.sdk
        with calling(f"exec in {container_id[:12]}"):
            run = sdk.exec_create(
                container_id, command, stdin=stdin is not None, tty=tty, stdout=True, stderr=True
            )
            sock = sdk.exec_start(run["Id"], tty=tty, socket=True)
            if tty and size is not None:
                with contextlib.suppress(*sdk_errors()):
                    sdk.exec_resize(run["Id"], height=size[0], width=size[1])
        import docker.errors
        import docker.utils.socket

        raw = getattr(sock, "_sock", sock)
        if stdin is not None:
            threading.Thread(target=_copy_in, args=(stdin, raw), daemon=True).start()
        try:
            for stream, data in docker.utils.socket.frames_iter(raw, tty):
                target = err if stream == docker.utils.socket.STDERR else out
                target.write(data)
                target.flush()
        except (OSError, docker.errors.DockerException) as exc:
            raise DriverError(f"exec in {container_id[:12]}: {exc}") from exc
        finally:
            with contextlib.suppress(OSError):
                sock.close()
        with calling(f"exec in {container_id[:12]}"):
            code = sdk.exec_inspect(run["Id"]).get("ExitCode")
        return int(code) if code is not None else 1


__all__ = ["DockerEvents", "DockerLogStream", "Tools", "event"]
