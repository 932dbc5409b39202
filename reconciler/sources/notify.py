"""`sync --notify URL`: each event of a sync POSTed as JSON. Does I/O: HTTP, a thread.

    {"event": "revision-healthy", "revision": "4f0c2d8...", "source": "git:https://...#main:deploy",
     "units": ["sandbox/web"], "message": "...", "time": "2026-11-29T11:18:06+00:00"}

``event`` is one of ``EVENTS``. ``emit`` never blocks the caller: events go
onto a bounded queue (an event that finds it full is dropped and said in the
log), and one thread posts them in order, each tried ``tries`` times with a
doubling delay (1 s, 2 s, 4 s) on a connection error, a timeout or a 5xx/429
answer; another 4xx is not retried. Credentials in the URL (``user:token@``)
are sent as HTTP basic authentication, and nothing the log or the status says
names more of the URL than its scheme, host and port (a token may be its path
or query too, as in many chat webhooks).
"""

from __future__ import annotations

import base64
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit, urlunsplit

from reconciler.core.redact import scrub

log = logging.getLogger("reconciler")

EVENTS = (
    "revision-applied",  # a commit was taken: the loop converges to it
    "revision-healthy",  # every unit it changed was Ready within --wait
    "revision-unhealthy",  # it failed its health gate
    "rolled-back",  # the sync went back to the last healthy revision
    "prune-refused",  # --max-prune refused it
    "revision-failed",  # it could not be read (a broken file, a missing path, a signature)
    "image-updated",  # a followed tag names another image: its units are made again
)
QUEUE_SIZE = 256
TRIES = 4
FIRST_RETRY = 1.0  # seconds, doubling
TIMEOUT = 10.0  # seconds for one POST


@dataclass(frozen=True, slots=True)
class Event:
    event: str  # one of EVENTS
    revision: str | None
    source: str  # the sync's owner (git:URL#branch:path, no credentials)
    units: tuple[str, ...] = ()
    message: str = ""
    time: str = ""  # ISO 8601; now when empty

    def body(self) -> bytes:
        stamp = self.time or datetime.now(UTC).isoformat(timespec="seconds")
        return json.dumps(
            {
                "event": self.event,
                "revision": self.revision,
                "source": self.source,
                "units": list(self.units),
                "message": self.message,
                "time": stamp,
            }
        ).encode()


Emit = Callable[[Event], None]


def where(url: str) -> str:
    """What may be said of ``url``: its scheme, host and port."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def check_url(url: str) -> str:
    """``url`` if it is an http or https URL with a host; raises ValueError."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ValueError("--notify: not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("--notify: give an http:// or https:// URL")
    return url


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is not followed: it would turn the POST into a GET, and carry the
    credentials to wherever it points. It fails as its 3xx status."""

    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class _Retry(Exception):
    """A failure worth another try."""


class EventNotifier:
    """POSTs events to one URL from a thread of its own; see the module."""

    def __init__(
        self,
        url: str,
        *,
        tries: int = TRIES,
        first_retry: float = FIRST_RETRY,
        size: int = QUEUE_SIZE,
        timeout: float = TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        parts = urlsplit(check_url(url))
        self._headers = {"Content-Type": "application/json", "User-Agent": "reconciler"}
        if parts.username is not None or parts.password is not None:
            user = unquote(parts.username or "")
            secret = unquote(parts.password or "")
            token = base64.b64encode(f"{user}:{secret}".encode()).decode()
            self._headers["Authorization"] = f"Basic {token}"
        netloc = parts.netloc.rpartition("@")[2]
        self._url = urlunsplit(parts._replace(netloc=netloc))
        self.where = where(url)
        self._tries, self._first_retry, self._timeout = tries, first_retry, timeout
        self._sleep = sleep
        self._queue: queue.Queue[Event] = queue.Queue(size)
        self._closing = threading.Event()
        self._open = urllib.request.build_opener(_NoRedirects()).open
        self._thread = threading.Thread(target=self._run, name="notify", daemon=True)
        self._dropped = False

    def start(self) -> EventNotifier:
        self._thread.start()
        log.info("posting sync events to %s", self.where)
        return self

    def emit(self, event: Event) -> None:
        """Queue ``event``; never blocks (a full queue drops it, said once while full)."""
        try:
            self._queue.put_nowait(event)
            self._dropped = False
        except queue.Full:
            if not self._dropped:
                log.warning(
                    "notify %s: %d events wait; dropping %s of %s",
                    self.where,
                    self._queue.maxsize,
                    event.event,
                    event.revision,
                )
            self._dropped = True

    def close(self, timeout: float = 5.0) -> None:
        """Post what is queued, for up to ``timeout`` seconds, then stop."""
        self._closing.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            try:
                event = self._queue.get(timeout=0.2)
            except queue.Empty:
                if self._closing.is_set():
                    return
                continue
            self._deliver(event)

    def _deliver(self, event: Event) -> None:
        delay = self._first_retry
        for attempt in range(1, self._tries + 1):
            try:
                self._post(event.body())
                return
            except _Retry as exc:
                why = str(exc)
            except urllib.error.HTTPError as exc:  # a 4xx: the same body fails again
                log.warning("notify %s: %s refused: HTTP %d", self.where, event.event, exc.code)
                return
            if attempt < self._tries:
                log.debug("notify %s: %s (try %d); again in %g s", self.where, why, attempt, delay)
                self._sleep(delay)
                delay *= 2
        log.warning(
            "notify %s: %s of %s not delivered after %d tries: %s",
            self.where,
            event.event,
            event.revision,
            self._tries,
            why,
        )

    def _post(self, body: bytes) -> None:
        request = urllib.request.Request(self._url, body, self._headers, method="POST")
        try:
            with self._open(request, timeout=self._timeout) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            if exc.code >= 500 or exc.code == 429:
                raise _Retry(f"HTTP {exc.code}") from None
            raise
        except (urllib.error.URLError, OSError) as exc:  # refused, unreachable, timed out
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            raise _Retry(scrub(str(reason))) from None


def event(
    kind: str,
    revision: str | None,
    source: str,
    units: Sequence[str] = (),
    message: str = "",
) -> Event:
    """An event of ``kind`` (one of EVENTS) stamped now."""
    assert kind in EVENTS, kind
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    return Event(kind, revision, source, tuple(units), message, stamp)


__all__ = ["EVENTS", "Emit", "Event", "EventNotifier", "check_url", "event", "where"]
