"""A counting proxy for the Docker socket: how many API calls each contender makes.

It listens on a unix socket of its own, forwards every byte to the real
daemon socket, and counts the HTTP requests going in by method and path
template (``GET /containers/{id}/json``): ids, names and the API version are
folded so that 60 inspects count as one row with 60. Responses are relayed
untouched, so streams (events, logs) work; a request that takes the
connection over (``Upgrade:``, exec start, attach) turns it into a plain
relay. Point a contender at it with ``DOCKER_HOST=unix://<proxy socket>``.

Used in-process by bench/apply.py (``CountingProxy``, a thread with its own
event loop); no third-party dependency. Does I/O.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from collections import Counter
from pathlib import Path

_VERSION = re.compile(r"^/v\d+\.\d+(?=/)")
# Collections whose next path segment is an object's id or name, unless it is a verb.
_COLLECTIONS = {"containers", "volumes", "exec", "networks", "plugins", "secrets", "configs"}
_VERBS = {"json", "create", "prune"}
_IMAGE_ACTIONS = {"json", "history", "push", "tag", "get"}
_HIJACK = re.compile(r"^/(exec/[^/]+/start|containers/[^/]+/attach)$")
_HEAD_LIMIT = 1 << 20


def template(method: str, target: str) -> str:
    """``GET /v1.41/containers/3f2a.../json?all=1`` -> ``GET /containers/{id}/json``."""
    path = _VERSION.sub("", target.split("?", 1)[0])
    parts = path.split("/")
    if len(parts) > 2 and parts[1] == "images" and parts[2] not in _VERBS | {"load", "search"}:
        # Image names hold slashes: everything up to a known action is the name.
        action = parts[-1] if parts[-1] in _IMAGE_ACTIONS and len(parts) > 3 else ""
        parts = ["", "images", "{name}", *([action] if action else [])]
    elif len(parts) > 2 and parts[1] in _COLLECTIONS and parts[2] not in _VERBS:
        parts[2] = "{id}"
    return f"{method} {'/'.join(parts)}"


class CountingProxy:
    """Forward ``listen`` to ``upstream`` (both unix socket paths), counting requests."""

    def __init__(self, listen: Path, upstream: Path) -> None:
        self.listen = listen
        self.upstream = upstream
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.AbstractServer | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def docker_host(self) -> str:
        return f"unix://{self.listen}"

    def start(self) -> None:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._serve(), self._loop)
        future.result(timeout=10)

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for writer in list(self._writers):
                writer.close()  # the relays read end of file and finish
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            await asyncio.wait(others, timeout=2) if others else None

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(timeout=5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()
        with contextlib.suppress(FileNotFoundError):
            self.listen.unlink()

    def take(self) -> Counter[str]:
        """The counts since the last take(), and start counting afresh."""
        with self._lock:
            counts, self._counts = self._counts, Counter()
        return counts

    def __enter__(self) -> CountingProxy:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    async def _serve(self) -> None:
        self._server = await asyncio.start_unix_server(self._client, path=str(self.listen))

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_unix_connection(str(self.upstream))
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        back = asyncio.create_task(_relay(up_reader, writer))
        try:
            await self._requests(reader, up_writer)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            with contextlib.suppress(Exception):
                if up_writer.can_write_eof():
                    up_writer.write_eof()
        with contextlib.suppress(Exception):
            await back
        for w in (writer, up_writer):
            w.close()
            self._writers.discard(w)

    async def _requests(self, reader: asyncio.StreamReader, up: asyncio.StreamWriter) -> None:
        """Parse requests one after another, count each, forward head and body."""
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError as exc:
                if exc.partial:
                    up.write(exc.partial)
                return
            except asyncio.LimitOverrunError:
                head = await reader.read(_HEAD_LIMIT)
            lines = head.decode("latin-1").split("\r\n")
            method, target = [*lines[0].split(" "), "", ""][:2]
            headers = {
                k.strip().lower(): v.strip()
                for k, _, v in (line.partition(":") for line in lines[1:] if line)
            }
            with self._lock:
                self._counts[template(method, target)] += 1
            up.write(head)
            if headers.get("transfer-encoding", "").lower() == "chunked":
                await _chunked(reader, up)
            else:
                length = int(headers.get("content-length") or 0)
                if length:
                    up.write(await reader.readexactly(length))
            await up.drain()
            path = _VERSION.sub("", target.split("?", 1)[0])
            if "upgrade" in headers or _HIJACK.match(path):
                await _relay(reader, up)  # the connection is a raw stream from here on
                return


async def _chunked(reader: asyncio.StreamReader, up: asyncio.StreamWriter) -> None:
    while True:
        size_line = await reader.readuntil(b"\r\n")
        up.write(size_line)
        size = int(size_line.split(b";")[0].strip(), 16)
        up.write(await reader.readexactly(size + 2))  # the chunk and its CRLF
        if size == 0:
            return


async def _relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(65536):
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (OSError, RuntimeError, asyncio.IncompleteReadError):
        return
