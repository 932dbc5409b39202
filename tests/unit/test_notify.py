"""`sync --notify URL` (reconciler/sources/notify.py) against a real HTTP server in this process."""

from __future__ import annotations

import base64
import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from reconciler.sources.notify import EventNotifier, check_url, event, where


class Receiver:
    """Answers POSTs with ``statuses`` in turn (then 204), keeping what it got."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.got: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.paths: list[str] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                status = receiver.statuses.pop(0) if receiver.statuses else 204
                with receiver.arrived:
                    receiver.got.append(json.loads(body))
                    receiver.headers.append(dict(self.headers))
                    receiver.paths.append(self.path)
                    receiver.arrived.notify_all()
                self.send_response(status)
                if status in (301, 302, 307):
                    self.send_header("Location", "http://127.0.0.1:1/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.got) >= n, timeout), self.got
            return list(self.got)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def notifier(url: str, sleeps: list[float] | None = None, **options: Any) -> EventNotifier:
    record = sleeps if sleeps is not None else []
    return EventNotifier(url, sleep=record.append, **options)


def test_events_are_posted_in_order_as_json_with_basic_auth_from_the_url(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://bot:s3cr%40t@127.0.0.1:{receiver.port}/hooks/t0ken?key=k3y"
    with caplog.at_level(logging.DEBUG, logger="reconciler"):
        n = notifier(url).start()
        n.emit(
            event("revision-applied", "c1", "git:file:///r#main:deploy", ["sandbox/web"], "1 unit")
        )
        n.emit(event("revision-healthy", "c1", "git:file:///r#main:deploy", ["sandbox/web"]))
        got = receiver.wait_for(2)
        n.close()
    assert [e["event"] for e in got] == ["revision-applied", "revision-healthy"]
    first = got[0]
    assert set(first) == {"event", "revision", "source", "units", "message", "time"}
    assert (first["revision"], first["units"], first["message"]) == (
        "c1",
        ["sandbox/web"],
        "1 unit",
    )
    assert receiver.paths[0] == "/hooks/t0ken?key=k3y"
    auth = receiver.headers[0]["Authorization"].removeprefix("Basic ")
    assert base64.b64decode(auth) == b"bot:s3cr@t"
    assert receiver.headers[0]["Content-Type"] == "application/json"
    said = caplog.text
    assert f"http://127.0.0.1:{receiver.port}" in said
    for secret in ("s3cr", "bot", "t0ken", "k3y"):
        assert secret not in said


def test_a_server_error_is_retried_with_a_doubling_delay(receiver: Receiver) -> None:
    receiver.statuses = [500, 503]
    sleeps: list[float] = []
    n = notifier(f"http://127.0.0.1:{receiver.port}/", sleeps).start()
    n.emit(event("rolled-back", "c2", "git:x"))
    n.emit(event("revision-healthy", "c1", "git:x"))
    got = receiver.wait_for(4)
    n.close()
    assert [e["event"] for e in got] == ["rolled-back"] * 3 + ["revision-healthy"], "in order"
    assert sleeps == [1.0, 2.0]


def test_an_event_is_given_up_after_its_tries_and_a_refusal_is_not_retried(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.statuses = [500, 500, 500, 500, 400, 302]
    sleeps: list[float] = []
    n = notifier(f"http://127.0.0.1:{receiver.port}/", sleeps).start()
    with caplog.at_level(logging.WARNING, logger="reconciler"):
        n.emit(event("revision-failed", "c1", "git:x"))
        n.emit(event("prune-refused", "c2", "git:x"))
        n.emit(event("revision-unhealthy", "c3", "git:x"))  # redirected: not followed
        n.emit(event("revision-applied", "c4", "git:x"))
        got = receiver.wait_for(7)
        n.close()
    assert [e["revision"] for e in got] == ["c1"] * 4 + ["c2", "c3", "c4"]
    assert sleeps == [1.0, 2.0, 4.0]
    assert "revision-failed of c1 not delivered after 4 tries: HTTP 500" in caplog.text
    assert "prune-refused refused: HTTP 400" in caplog.text
    assert "revision-unhealthy refused: HTTP 302" in caplog.text


def test_an_unreachable_server_is_retried_and_said_without_the_url_path(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        free_port = s.getsockname()[1]
    sleeps: list[float] = []
    n = notifier(f"http://127.0.0.1:{free_port}/secret-path", sleeps, tries=2).start()
    with caplog.at_level(logging.WARNING, logger="reconciler"):
        n.emit(event("revision-applied", "c1", "git:x"))
        deadline = time.monotonic() + 10
        while "not delivered" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
        n.close()
    assert sleeps == [1.0]
    assert f"notify http://127.0.0.1:{free_port}: revision-applied of c1 not delivered" in (
        caplog.text
    )
    assert "secret-path" not in caplog.text


def test_emit_never_blocks_a_full_queue_drops_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    n = notifier("http://127.0.0.1:1/", size=2)  # not started: nothing is taken off
    began = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="reconciler"):
        for i in range(5):
            n.emit(event("revision-applied", f"c{i}", "git:x"))
    assert time.monotonic() - began < 1.0
    assert caplog.text.count("dropping") == 1, "said once while full"
    assert "dropping revision-applied of c2" in caplog.text


def test_only_http_urls_are_taken_and_only_their_host_is_said() -> None:
    assert check_url("https://hooks.example.com/x") == "https://hooks.example.com/x"
    for bad in ("ftp://example.com/", "example.com/hook", "http:///path", "http://h:port/"):
        with pytest.raises(ValueError, match="--notify"):
            check_url(bad)
    assert (
        where("https://u:p@hooks.example.com:8443/T/B/xyz?t=1") == "https://hooks.example.com:8443"
    )
    assert where("http://[::1]:9/x") == "http://[::1]:9"
