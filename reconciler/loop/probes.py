"""Liveness and readiness probes with Kubernetes semantics.

Two halves. The tracker (``ProbeState``, ``due``, ``record``) is pure: it
takes ``now`` and returns values. The checks (``http_get``, ``tcp_socket``,
``run_probe``) do network I/O with a timeout; an exec probe runs through a
callable the loop passes in, so this module never imports docker.

Per container run (the loop starts from a fresh ``ProbeState()`` whenever the
container starts):

- a probe is due ``initialDelaySeconds`` after the container started, then
  every ``periodSeconds`` after its last run;
- ``failed`` once ``failureThreshold`` consecutive runs failed: for a
  liveness probe the loop restarts the container;
- ``ready`` once ``successThreshold`` consecutive runs succeeded, and not
  ready again once ``failureThreshold`` consecutive runs failed; in between it
  keeps its value. A container is not ready until its probe says so.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass

from reconciler.core.errors import ExecFailed
from reconciler.core.models import Probe

# Runs a command in the container within a timeout and returns its exit code;
# raises TimeoutError when the command outlives the timeout.
ExecFn = Callable[[list[str], float], int]


@dataclass(frozen=True, slots=True)
class ProbeState:
    last_run: float | None = None  # when the probe last ran
    successes: int = 0  # consecutive successful runs
    failures: int = 0  # consecutive failed runs
    ready: bool = False
    failed: bool = False


def due(state: ProbeState, probe: Probe, started_at: float, now: float) -> bool:
    """Whether the probe should run at ``now`` for a container started at ``started_at``."""
    if now < started_at + probe.initial_delay_seconds:
        return False
    return state.last_run is None or now >= state.last_run + probe.period_seconds


def record(state: ProbeState, probe: Probe, ok: bool, now: float) -> ProbeState:
    """The state after a run of the probe at ``now`` that succeeded or not."""
    successes = state.successes + 1 if ok else 0
    failures = 0 if ok else state.failures + 1
    if successes >= probe.success_threshold:
        ready = True
    elif failures >= probe.failure_threshold:
        ready = False
    else:
        ready = state.ready  # below both thresholds: the result does not change yet
    return ProbeState(now, successes, failures, ready, failures >= probe.failure_threshold)


def http_get(host: str, port: int, path: str, scheme: str, timeout: float) -> bool:
    """GET ``path``; a 2xx or 3xx answer within ``timeout`` (per connect and read) succeeds.

    Redirects are not followed (a 3xx is a success, as in Kubernetes). HTTPS
    certificates are not verified: Kubernetes does not either.
    """
    conn: http.client.HTTPConnection
    if scheme.upper() == "HTTPS":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(
            "GET",
            path if path.startswith("/") else f"/{path}",
            headers={"User-Agent": "reconciler-probe", "Accept": "*/*"},
        )
        return 200 <= conn.getresponse().status < 400
    except (OSError, ValueError, http.client.HTTPException):  # refused, timeout, TLS, garbage
        return False
    finally:
        conn.close()


def tcp_socket(host: str, port: int, timeout: float) -> bool:
    """Whether a TCP connection to ``host:port`` opens within ``timeout``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except (OSError, ValueError):  # refused, timed out, unresolvable, not a host name
        return False


def run_probe(probe: Probe, host: str, exec_fn: ExecFn) -> bool:
    """Run ``probe`` once against a container reachable at ``host``.

    An exec probe succeeds on exit code 0 and fails on ``TimeoutError`` or
    ``ExecFailed`` (the engine failed the command once started); any other error
    of ``exec_fn`` propagates: the probe could not run, so its result is unknown
    and should not be recorded (as kubelet discards it).
    """
    timeout = float(probe.timeout_seconds)
    if probe.exec is not None:
        try:
            return exec_fn(list(probe.exec.command), timeout) == 0
        except (TimeoutError, ExecFailed):
            return False
    if probe.http_get is not None:
        action = probe.http_get
        return http_get(action.host or host, action.port, action.path, action.scheme, timeout)
    if probe.tcp_socket is not None:
        return tcp_socket(probe.tcp_socket.host or host, probe.tcp_socket.port, timeout)
    raise ValueError("a probe needs exactly one of exec, httpGet, tcpSocket")  # models forbid it


__all__ = ["ExecFn", "ProbeState", "due", "http_get", "record", "run_probe", "tcp_socket"]
