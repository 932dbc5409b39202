"""The sync webhook on a real socket: signed POSTs trigger, anything else does not."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import threading
from collections.abc import Iterator

import pytest

from reconciler.sources.webhook import PATH, Webhook, parse_listen, signature_ok

SECRET = b"s3cret"
BODY = b'{"ref": "refs/heads/main"}'


def github(body: bytes, secret: bytes = SECRET) -> dict[str, str]:
    return {"X-Hub-Signature-256": "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()}


def gitea(body: bytes, secret: bytes = SECRET) -> dict[str, str]:
    return {"X-Gitea-Signature": hmac.new(secret, body, hashlib.sha256).hexdigest()}


def test_signatures_of_github_and_gitea_are_checked() -> None:
    assert signature_ok(SECRET, BODY, github(BODY))
    assert signature_ok(SECRET, BODY, gitea(BODY))
    assert signature_ok(SECRET, BODY, {k.lower(): v for k, v in github(BODY).items()})
    assert not signature_ok(SECRET, BODY, github(BODY, b"wrong"))
    assert not signature_ok(SECRET, BODY + b" ", github(BODY))
    assert not signature_ok(SECRET, BODY, gitea(BODY, b"wrong"))
    assert not signature_ok(SECRET, BODY, {"X-Hub-Signature-256": "sha1=" + "0" * 40})
    assert not signature_ok(SECRET, BODY, {})


class Hook:
    def __init__(self) -> None:
        self.triggered = threading.Event()
        self.count = 0
        self.server = Webhook("127.0.0.1", 0, SECRET, self._trigger)

    def _trigger(self) -> None:
        self.count += 1
        self.triggered.set()

    def post(self, body: bytes, headers: dict[str, str], path: str = PATH) -> int:
        host, port = self.server.address
        connection = http.client.HTTPConnection(host, port, timeout=10)
        try:
            connection.request("POST", path, body=body, headers=headers)
            return connection.getresponse().status
        finally:
            connection.close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    running = Hook()
    running.server.start()
    yield running
    running.server.stop()


def test_a_signed_post_triggers_and_anything_else_gets_an_error(hook: Hook) -> None:
    assert hook.post(BODY, {}) == 401
    assert hook.post(BODY, github(BODY, b"wrong")) == 401
    assert hook.post(BODY, github(BODY), path="/elsewhere") == 404
    assert hook.count == 0
    assert hook.post(BODY, github(BODY)) == 202
    assert hook.triggered.wait(5)
    assert hook.post(BODY, gitea(BODY)) == 202
    assert hook.count == 2


def test_listen_addresses_default_to_loopback() -> None:
    assert parse_listen(":9480") == ("127.0.0.1", 9480)
    assert parse_listen("0.0.0.0:80") == ("0.0.0.0", 80)
    assert parse_listen("[::1]:9480") == ("::1", 9480)
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_listen("9480")
