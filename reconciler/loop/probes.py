"""Liveness, readiness and startup probes with Kubernetes semantics.

Two halves. The tracker (``ProbeState``, ``due``, ``record``) is pure: it
takes ``now`` and returns values. The checks (``run_probe``: ``tcp_socket``
here, ``http_get`` in httpget.py, ``grpc_check`` in grpchealth.py) do network
I/O with a timeout and return a ``Verdict``; an exec probe runs through a
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

import socket
from collections.abc import Callable
from dataclasses import dataclass

from reconciler.core.errors import ExecFailed
from reconciler.core.models import Probe
from reconciler.loop.grpchealth import grpc_check
from reconciler.loop.httpget import http_get
from reconciler.loop.verdict import Verdict

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


def tcp_socket(host: str, port: int, timeout: float) -> Verdict:
    """Whether a TCP connection to ``host:port`` opens within ``timeout``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return Verdict(True)
    except (OSError, ValueError) as exc:  # refused, timed out, unresolvable, not a host name
        return Verdict(False, f"dial tcp {host}:{port}: {exc}")


def run_probe(probe: Probe, host: str, exec_fn: ExecFn) -> Verdict:
    """Run ``probe`` once against a container reachable at ``host``.

    An exec probe succeeds on exit code 0 and fails on ``TimeoutError`` or
    ``ExecFailed`` (the engine failed the command once started); any other error
    of ``exec_fn`` propagates: the probe could not run, so its result is unknown
    and should not be recorded (as kubelet discards it). So does ``ProbeNotRun``
    (a gRPC probe without grpcio, an HTTP answer that broke off).
    """
    timeout = float(probe.timeout_seconds)
    if probe.exec is not None:
        try:
            code = exec_fn(list(probe.exec.command), timeout)
        except TimeoutError:
            return Verdict(False, f"command timed out after {probe.timeout_seconds}s")
        except ExecFailed as exc:
            return Verdict(False, str(exc))
        return Verdict(code == 0, "" if code == 0 else f"command exited {code}")
    if probe.http_get is not None:
        action = probe.http_get
        headers = [(h.name, h.value) for h in action.http_headers]
        return http_get(
            action.host or host, action.port, action.path, action.scheme, timeout, headers
        )
    if probe.tcp_socket is not None:
        return tcp_socket(probe.tcp_socket.host or host, probe.tcp_socket.port, timeout)
    if probe.grpc is not None:  # Kubernetes gives it no host: always the pod's address
        return grpc_check(host, probe.grpc.port, probe.grpc.service or "", timeout)
    raise ValueError("a probe needs exactly one handler")  # models forbid it


__all__ = [
    "ExecFn",
    "ProbeState",
    "Verdict",
    "due",
    "http_get",
    "record",
    "run_probe",
    "tcp_socket",
]
