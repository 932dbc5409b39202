"""Health, readiness, the metrics address and systemd's notify protocol, without a daemon."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest

from reconciler.core.models import Kind
from reconciler.core.spec import UnitKey
from reconciler.loop.metrics import Health, parse_addr
from reconciler.loop.sdnotify import Notifier, notify, watchdog_seconds

WEB = UnitKey(Kind.SANDBOX, "default", "web")
DB = UnitKey(Kind.CONTAINER, "default", "db")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_healthy_while_the_loop_makes_progress() -> None:
    clock = Clock()
    health = Health(stale_after=10, clock=clock)
    assert not health.healthy()  # nothing has happened yet
    health.beat()
    clock.now += 9
    assert health.healthy()
    clock.now += 2
    assert not health.healthy()


def test_ready_once_every_unit_of_the_first_pass_converged() -> None:
    health = Health(stale_after=10)
    assert not health.ready() and not health.started()
    health.first_pass({WEB, DB})
    health.settled(WEB)
    health.attempted(DB)  # a failed pass: attempted, not converged
    assert health.started() and not health.ready()
    assert health.waiting_for() == ["container/db"]
    health.first_pass({WEB})  # only the first call counts
    health.settled(DB)
    assert health.ready()
    empty = Health(stale_after=10)
    empty.first_pass(set())
    assert empty.ready() and empty.started()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:9090", ("127.0.0.1", 9090)),
        (":9090", ("127.0.0.1", 9090)),
        ("9090", ("127.0.0.1", 9090)),
        ("0.0.0.0:80", ("0.0.0.0", 80)),
        ("[::1]:9090", ("::1", 9090)),
    ],
)
def test_metrics_address(text: str, expected: tuple[str, int]) -> None:
    assert parse_addr(text) == expected


@pytest.mark.parametrize("text", ["nope", "host:", "host:99999"])
def test_a_bad_metrics_address_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_addr(text)


def test_notify_sends_datagrams_to_the_socket_systemd_names(tmp_path: Path) -> None:
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(str(path))
        assert notify("READY=1", {"NOTIFY_SOCKET": str(path)})
        assert server.recv(100) == b"READY=1"
    assert not notify("READY=1", {})  # not under systemd: a no-op
    assert not notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "gone.sock")})


def test_watchdog_interval_is_for_this_process_only() -> None:
    mine = str(os.getpid())
    assert watchdog_seconds({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": mine}) == 4.0
    assert watchdog_seconds({"WATCHDOG_USEC": "4000000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_seconds({}) is None


def test_the_notifier_says_ready_after_the_first_pass_and_pings_while_healthy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "notify.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(path))
    server.settimeout(30)
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    monkeypatch.setenv("WATCHDOG_USEC", "400000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    health = Health(stale_after=60)
    health.beat()
    stop = threading.Event()
    notifier = Notifier(health, stop).start()
    try:
        assert server.recv(100) == b"WATCHDOG=1"  # healthy, not yet ready
        health.first_pass({WEB})
        health.attempted(WEB)
        messages = [server.recv(100) for _ in range(4)]
        assert any(m.startswith(b"READY=1\n") for m in messages)
        assert b"WATCHDOG=1" in messages
    finally:
        stop.set()
        notifier.close()
        assert server.recv(100) == b"STOPPING=1"
        server.close()
