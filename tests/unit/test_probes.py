"""Probes: the tracker's timing and thresholds, and the checks against a local server."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reconciler.core.errors import ExecFailed
from reconciler.core.models import Probe
from reconciler.loop.probes import ProbeState, due, http_get, record, run_probe, tcp_socket

WAIT = 10.0  # an upper bound nothing in a passing run reaches
HOST = "127.0.0.1"


def probe(**fields: Any) -> Probe:
    fields.setdefault("exec", {"command": ["true"]})
    return Probe.model_validate(fields)


def run(results: str, spec: Probe, state: ProbeState | None = None) -> ProbeState:
    """Record a string of results, "s" for success and "f" for failure, a second apart."""
    state = state or ProbeState()
    for i, r in enumerate(results):
        state = record(state, spec, r == "s", float(i))
    return state


# --- the tracker --------------------------------------------------------------


def test_due_waits_for_the_initial_delay_then_the_period() -> None:
    spec = probe(initialDelaySeconds=5, periodSeconds=10)
    state = ProbeState()
    assert not due(state, spec, started_at=100, now=100)
    assert not due(state, spec, started_at=100, now=104.9)
    assert due(state, spec, started_at=100, now=105)
    state = record(state, spec, True, 105.5)
    assert state.last_run == 105.5
    assert not due(state, spec, started_at=100, now=115.4)
    assert due(state, spec, started_at=100, now=115.5)


def test_without_an_initial_delay_it_is_due_at_once() -> None:
    assert due(ProbeState(), probe(), started_at=7, now=7)


def test_failed_after_failure_threshold_consecutive_failures() -> None:
    spec = probe(failureThreshold=3)
    assert not run("ff", spec).failed
    assert run("fff", spec).failed
    assert not run("ffsff", spec).failed  # a success resets the count
    assert run("ffsfff", spec).failed
    assert not run("fffs", spec).failed
    state = run("fffff", spec)
    assert (state.failures, state.successes) == (5, 0)


def test_ready_after_success_threshold_and_not_after_failure_threshold() -> None:
    spec = probe(successThreshold=2, failureThreshold=3)
    assert not ProbeState().ready  # not ready until the probe says so
    assert not run("s", spec).ready
    assert run("ss", spec).ready
    assert run("ssff", spec).ready  # below the failure threshold: still ready
    assert not run("ssfff", spec).ready
    assert not run("ssffffs", spec).ready  # below the success threshold: still not ready
    assert run("ssffffss", spec).ready
    assert not run("sfsfsf", spec).ready


def test_a_fresh_state_after_a_restart_is_due_again_after_the_delay() -> None:
    spec = probe(initialDelaySeconds=3)
    failed = run("fff", spec)
    assert failed.failed
    assert not due(ProbeState(), spec, started_at=50, now=52)  # the loop resets on restart
    assert due(ProbeState(), spec, started_at=50, now=53)


@given(
    results=st.text("sf", max_size=30),
    success=st.integers(1, 4),
    failure=st.integers(1, 4),
)
def test_thresholds_follow_the_latest_results(results: str, success: int, failure: int) -> None:
    spec = probe(successThreshold=success, failureThreshold=failure)
    state = run(results, spec)
    assert state.failed == results.endswith("f" * failure)
    if results.endswith("s" * success):
        assert state.ready
    if results.endswith("f" * failure):
        assert not state.ready
    if "s" * success not in results:
        assert not state.ready


# --- the checks -----------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    release: threading.Event  # set by the fixture to let a slow request finish
    paths: list[str]

    def do_GET(self) -> None:
        self.paths.append(self.path)
        if self.path == "/slow":
            self.release.wait(WAIT)
        code = {"/redirect": 302, "/missing": 404, "/error": 500}.get(self.path, 200)
        self.send_response(code)
        if code == 302:
            self.send_header("Location", "http://elsewhere.invalid/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean


class Server(ThreadingHTTPServer):
    daemon_threads = True


def serve(context: ssl.SSLContext | None = None) -> Iterator[Server]:
    class Bound(Handler):
        release = threading.Event()
        paths: list[str] = []  # noqa: RUF012

    httpd = Server((HOST, 0), Bound)
    if context is not None:
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    # A short poll interval: shutdown() waits for the loop to notice.
    thread = threading.Thread(target=httpd.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield httpd
    Bound.release.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(WAIT)


@pytest.fixture
def server() -> Iterator[Server]:
    yield from serve()


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[Server]:
    """The same server behind TLS with a self-signed certificate for another name."""
    openssl = shutil.which("openssl")
    if openssl is None:  # .ci/run and scripts/setup.sh install it
        message = "needs the openssl command to make a self-signed certificate"
        if os.environ.get("CI"):
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(
        [
            *(openssl, "req", "-x509", "-nodes", "-days", "1", "-subj", "/CN=elsewhere"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-keyout", key, "-out", cert),
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    yield from serve(context)


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A port bound but not listening: connections to it are refused."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        yield sock.getsockname()[1]


def port_of(server: Server) -> int:
    return int(server.server_address[1])


@pytest.mark.parametrize(
    ("path", "ok"),
    [("/ok", True), ("/redirect", True), ("/missing", False), ("/error", False)],
)
def test_http_get_succeeds_on_2xx_and_3xx(server: Server, path: str, ok: bool) -> None:
    assert http_get(HOST, port_of(server), path, "HTTP", timeout=WAIT).ok is ok


def test_http_get_adds_a_missing_leading_slash(server: Server) -> None:
    assert http_get(HOST, port_of(server), "healthz?full=1", "HTTP", timeout=WAIT).ok
    handler: Any = server.RequestHandlerClass
    assert handler.paths == ["/healthz?full=1"]


def test_http_get_fails_on_a_refused_port(refused_port: int) -> None:
    assert not http_get(HOST, refused_port, "/", "HTTP", timeout=WAIT).ok


def test_http_get_fails_when_the_answer_is_slower_than_the_timeout(server: Server) -> None:
    began = time.monotonic()
    assert not http_get(HOST, port_of(server), "/slow", "HTTP", timeout=0.2).ok
    assert time.monotonic() - began < WAIT  # gave up without waiting for the answer


def test_https_against_a_plain_http_server_fails(server: Server) -> None:
    assert not http_get(HOST, port_of(server), "/ok", "HTTPS", timeout=WAIT).ok


def test_https_does_not_verify_the_certificate(tls_server: Server) -> None:
    assert http_get(HOST, port_of(tls_server), "/ok", "HTTPS", timeout=WAIT).ok
    assert not http_get(HOST, port_of(tls_server), "/ok", "HTTP", timeout=WAIT).ok


def test_tcp_socket(server: Server, refused_port: int) -> None:
    assert tcp_socket(HOST, port_of(server), timeout=WAIT).ok
    assert not tcp_socket(HOST, refused_port, timeout=WAIT).ok


# --- dispatch -------------------------------------------------------------------


class FakeExec:
    def __init__(self, result: int | BaseException) -> None:
        self.result = result
        self.calls: list[tuple[list[str], float]] = []

    def __call__(self, command: list[str], timeout: float) -> int:
        self.calls.append((command, timeout))
        if isinstance(self.result, BaseException):
            raise self.result
        return self.result


def test_run_probe_exec_passes_command_and_timeout() -> None:
    fake = FakeExec(0)
    spec = probe(exec={"command": ["cat", "/tmp/healthy"]}, timeoutSeconds=3)
    assert run_probe(spec, "unused", fake).ok
    assert fake.calls == [(["cat", "/tmp/healthy"], 3.0)]


def test_run_probe_exec_fails_on_non_zero_exit_and_on_timeout() -> None:
    assert not run_probe(probe(), HOST, FakeExec(1)).ok
    assert not run_probe(probe(), HOST, FakeExec(TimeoutError())).ok


def test_run_probe_exec_fails_when_the_engine_fails_the_started_command() -> None:
    failed = ExecFailed("exec in 0123456789ab: container is not running")
    assert not run_probe(probe(), HOST, FakeExec(failed)).ok


def test_run_probe_exec_lets_other_errors_through_as_unknown() -> None:
    with pytest.raises(ConnectionError):
        run_probe(probe(), HOST, FakeExec(ConnectionError("daemon gone")))


def test_run_probe_http_and_tcp_use_the_given_host(server: Server, refused_port: int) -> None:
    fake = FakeExec(0)
    port = port_of(server)
    assert run_probe(probe(exec=None, httpGet={"port": port, "path": "/ok"}), HOST, fake).ok
    assert not run_probe(probe(exec=None, httpGet={"port": port, "path": "/error"}), HOST, fake).ok
    assert run_probe(probe(exec=None, tcpSocket={"port": port}), HOST, fake).ok
    assert not run_probe(probe(exec=None, tcpSocket={"port": refused_port}), HOST, fake).ok
    assert fake.calls == []


def test_run_probe_prefers_the_probes_own_host(server: Server) -> None:
    # 127.0.0.2 is loopback too, but the server listens on 127.0.0.1 only.
    port = port_of(server)
    http = probe(exec=None, httpGet={"port": port, "path": "/ok", "host": HOST})
    tcp = probe(exec=None, tcpSocket={"port": port, "host": HOST})
    assert run_probe(http, "127.0.0.2", FakeExec(0)).ok
    assert run_probe(tcp, "127.0.0.2", FakeExec(0)).ok
    assert not run_probe(probe(exec=None, tcpSocket={"port": port}), "127.0.0.2", FakeExec(0)).ok
