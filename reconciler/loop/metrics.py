"""Prometheus metrics and health endpoints of a long-running reconciler. Does I/O: HTTP.

``run --metrics-addr HOST:PORT`` (and ``sync``, which can reuse this module as
it is) serves, with the ``prometheus-client`` package:

- ``/metrics``: units desired / converged / failed, actions by type and
  result, the pass duration histogram, restarts, crash-loop backoffs,
  evictions and probe results (names below, all prefixed ``reconciler_``);
- ``/healthz``: 200 while the loop makes progress (a pass or a resync tick
  within ``stale_after`` seconds), else 503;
- ``/readyz``: 200 once every unit of the first pass has converged (or been
  refused, which is a settled answer too), else 503.

Each ``LoopMetrics`` has a registry of its own, so tests and two loops in one
process never share counters.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from datetime import datetime
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    make_wsgi_app,
)

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

    from reconciler.converge.executor import Result
    from reconciler.core.spec import UnitKey

DEFAULT_ADDR = "127.0.0.1"
STATES = ("progressing", "healthy", "unhealthy")  # of a health gate (sync --wait)
_PASS_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


def _epoch(text: Any) -> float | None:
    """An ISO 8601 time as unix seconds; None when absent or unreadable."""
    try:
        return datetime.fromisoformat(str(text)).timestamp() if text else None
    except ValueError:
        return None


def stale_after(resync: float) -> float:
    """How long without progress a loop is unhealthy: a resync ticks every ``resync``
    seconds, and a Docker call may take its full timeout (120 s) before it fails."""
    return 3 * resync + 120


class Health:
    """Liveness (progress) and readiness (the first pass converged) of a loop."""

    def __init__(self, stale_after: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.stale_after = stale_after
        self._clock = clock
        self._last: float | None = None
        self._pending: set[UnitKey] | None = None  # None: the first pass has not begun
        self._unattempted: set[UnitKey] | None = None
        self._lock = threading.Lock()

    def beat(self) -> None:
        """The loop made progress (a pass ended, a resync ticked)."""
        with self._lock:
            self._last = self._clock()

    def first_pass(self, units: Iterable[UnitKey]) -> None:
        """The first pass begins over ``units``; ready once each has settled."""
        with self._lock:
            if self._pending is None:
                self._pending = set(units)
                self._unattempted = set(self._pending)

    def attempted(self, key: UnitKey) -> None:
        """A pass over ``key`` ended, converged or not."""
        with self._lock:
            if self._unattempted is not None:
                self._unattempted.discard(key)

    def settled(self, key: UnitKey) -> None:
        """``key`` converged (or was refused: a settled answer)."""
        with self._lock:
            if self._pending is not None and self._unattempted is not None:
                self._pending.discard(key)
                self._unattempted.discard(key)

    def healthy(self) -> bool:
        with self._lock:
            return self._last is not None and self._clock() - self._last < self.stale_after

    def ready(self) -> bool:
        with self._lock:
            return self._pending is not None and not self._pending

    def started(self) -> bool:
        """Every unit of the first pass has had its pass (systemd's READY=1)."""
        with self._lock:
            return self._unattempted is not None and not self._unattempted

    def waiting_for(self) -> list[str]:
        with self._lock:
            return sorted(str(k) for k in self._pending or ())


class LoopMetrics:
    """What a control loop reports; the loop calls these methods, nothing else."""

    def __init__(self, health: Health) -> None:
        self.health = health
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.units = Gauge(
            "reconciler_units", "Units by state: desired, converged, failed.", ["state"], registry=r
        )
        self.actions = Counter(
            "reconciler_actions", "Actions executed, by type and result.", ["type", "result"],
            registry=r,
        )  # fmt: skip
        self.pass_seconds = Histogram(
            "reconciler_pass_duration_seconds",
            "Time of one pass over one unit: observe, plan, execute.",
            buckets=_PASS_BUCKETS,
            registry=r,
        )
        self.restarts = Counter(
            "reconciler_restarts", "Containers restarted by the loop (exits and failed liveness).",
            ["unit", "container"], registry=r,
        )  # fmt: skip
        self.backoffs = Counter(
            "reconciler_crashloop_backoffs",
            "Restarts held back by crash-loop backoff (each new backoff counts once).",
            ["unit", "container"],
            registry=r,
        )
        self.evictions = Counter(
            "reconciler_evictions",
            "Units evicted by the loop (an emptyDir over its sizeLimit).",
            ["unit"],
            registry=r,
        )
        self.probes = Counter(
            "reconciler_probe_results", "Probe runs by kind and result.", ["probe", "result"],
            registry=r,
        )  # fmt: skip
        self.ready = Gauge("reconciler_ready", "1 once the first pass has converged.", registry=r)
        self.ready.set_function(lambda: 1.0 if health.ready() else 0.0)
        # sync only (set by source_status; absent under `run`):
        self.sync_info = Info(
            "reconciler_sync", "The branch sync follows and the revision applied.", registry=r
        )
        self.sync_success = Gauge(
            "reconciler_sync_last_success_timestamp_seconds",
            "When sync last applied a commit (unix time).",
            registry=r,
        )
        self.sync_fetch = Gauge(
            "reconciler_sync_last_fetch_timestamp_seconds",
            "When sync last fetched the branch (unix time).",
            registry=r,
        )
        self.sync_failing = Gauge(
            "reconciler_sync_failing", "1 while the last fetch or commit failed.", registry=r
        )
        # sync --wait only:
        self.sync_healthy = Gauge(
            "reconciler_sync_last_healthy_timestamp_seconds",
            "When sync --wait last found a revision healthy (unix time).",
            registry=r,
        )
        self.sync_health = Gauge(
            "reconciler_sync_health",
            "1 for the state of the health gate of the revision sync --wait converges to.",
            ["state"],
            registry=r,
        )
        self.sync_unhealthy_units = Gauge(
            "reconciler_sync_unhealthy_units",
            "Units failing the health gate of that revision.",
            registry=r,
        )
        self.sync_rollback = Gauge(
            "reconciler_sync_last_rollback_timestamp_seconds",
            "When sync --rollback last went back to the last healthy revision (unix time).",
            registry=r,
        )
        for state in ("desired", "converged", "failed"):
            self.units.labels(state).set(0)

    def source_status(self, status: dict[str, Any]) -> None:
        """What `sync` reports of its branch (gitsource.py's ``status()["sync"]``):
        the revision applied, when it last succeeded, fetched, and whether it fails now."""
        sync = status.get("sync")
        if not isinstance(sync, dict):
            return  # a watched directory: nothing to say
        self.sync_info.info(
            {
                "repository": str(sync.get("repository") or ""),
                "branch": str(sync.get("branch") or ""),
                "path": str(sync.get("path") or ""),
                "revision": str(sync.get("lastAppliedRevision") or ""),
                "healthy_revision": str(sync.get("lastHealthyRevision") or ""),
                "attempted_revision": str(sync.get("lastAttemptedRevision") or ""),
            }
        )
        rollback = sync.get("lastRollback")
        for gauge, stamp in (
            (self.sync_success, sync.get("lastAppliedAt")),
            (self.sync_fetch, sync.get("lastFetchAt")),
            (self.sync_healthy, sync.get("lastHealthyAt")),
            (self.sync_rollback, rollback.get("at") if isinstance(rollback, dict) else None),
        ):
            seconds = _epoch(stamp)
            if seconds is not None:
                gauge.set(seconds)
        self.sync_failing.set(1 if sync.get("lastError") else 0)
        health = sync.get("health")
        if isinstance(health, dict) and str(health.get("state")).lower() in STATES:
            state = str(health["state"]).lower()
            for each in STATES:
                self.sync_health.labels(each).set(1 if each == state else 0)
            failing = len(health.get("units") or ()) if state == "unhealthy" else 0
            self.sync_unhealthy_units.set(failing)

    def pass_done(self, seconds: float, outcome: Result) -> None:
        self.pass_seconds.observe(seconds)
        for unit in outcome.units:
            for done in unit.outcomes:
                self.actions.labels(type(done.action).__name__, "ok" if done.ok else "error").inc()
        self.health.beat()

    def unit_states(self, desired: int, converged: int, failed: int) -> None:
        self.units.labels("desired").set(desired)
        self.units.labels("converged").set(converged)
        self.units.labels("failed").set(failed)

    def restarted(self, unit: UnitKey, container: str) -> None:
        self.restarts.labels(str(unit), container).inc()

    def backed_off(self, unit: UnitKey, container: str) -> None:
        self.backoffs.labels(str(unit), container).inc()

    def evicted(self, unit: UnitKey) -> None:
        self.evictions.labels(str(unit)).inc()

    def probed(self, kind: str, ok: bool) -> None:
        self.probes.labels(kind, "success" if ok else "failure").inc()


def parse_addr(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT`` or ``PORT`` (host 127.0.0.1); ``[::1]:PORT`` for IPv6.

    Raises ValueError naming what is wrong.
    """
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "", text
    host = host.strip("[]") or DEFAULT_ADDR
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{text!r}: give HOST:PORT, e.g. 127.0.0.1:9090")
    return host, int(port)


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """Scrapes every few seconds are not worth a log line."""


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a slow scraper never holds the loop's exit


class MetricsServer:
    """/metrics, /healthz and /readyz over HTTP, in a thread of its own."""

    def __init__(self, metrics: LoopMetrics, host: str, port: int) -> None:
        self.metrics = metrics
        prometheus = make_wsgi_app(metrics.registry)

        def app(environ: WSGIEnvironment, start: StartResponse) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "")
            health = metrics.health
            if path in ("/healthz", "/readyz"):
                if path == "/healthz":
                    ok, why = health.healthy(), "no progress in the loop"
                else:
                    waiting = health.waiting_for()
                    ok = health.ready()
                    why = "waiting for " + (", ".join(waiting) or "the first pass")
                status = "200 OK" if ok else "503 Service Unavailable"
                start(status, [("Content-Type", "text/plain; charset=utf-8")])
                return [b"ok\n" if ok else why.encode() + b"\n"]
            return list(prometheus(environ, start))

        self._server = make_server(
            host, port, app, server_class=_ThreadingServer, handler_class=_Quiet
        )
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="metrics", daemon=True
        )

    def start(self) -> MetricsServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
