"""The webhook of `reconciler sync --listen`: a signed POST triggers a fetch. Does I/O: a socket.

``POST /hooks/sync`` with an HMAC-SHA256 of the body, keyed with the shared
secret, in GitHub's ``X-Hub-Signature-256: sha256=<hex>`` or Gitea's
``X-Gitea-Signature: <hex>``, compared in constant time. Anything else gets
401 (no or wrong signature), 404, 405 or 413 and triggers nothing. The body
is not otherwise read: the hook only says "fetch now"; what to apply is
always what the branch says.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import socket
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger("reconciler")

PATH = "/hooks/sync"
MAX_BODY = 1 << 20  # GitHub caps payloads at 25 MB; a push event is a few KB


def signature_ok(secret: bytes, body: bytes, headers: Mapping[str, str]) -> bool:
    """Whether ``headers`` carry a valid GitHub or Gitea HMAC-SHA256 of ``body``."""
    expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
    headers = {name.lower(): value for name, value in headers.items()}
    github = headers.get("x-hub-signature-256")
    if github is not None:
        scheme, _, given = github.strip().partition("=")
        return scheme == "sha256" and hmac.compare_digest(given.lower(), expected)
    gitea = headers.get("x-gitea-signature")
    if gitea is not None:
        return hmac.compare_digest(gitea.strip().lower(), expected)
    return False


def parse_listen(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (or ``:PORT``, meaning 127.0.0.1) → (host, port); raises ``ValueError``."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise ValueError(f"{value!r}: expected HOST:PORT, e.g. 127.0.0.1:9480")
    return (host.strip("[]") or "127.0.0.1"), int(port)


class Webhook:
    """A small HTTP server in a thread of its own; ``trigger`` runs on each signed POST."""

    def __init__(self, host: str, port: int, secret: bytes, trigger: Callable[[], None]) -> None:
        if not secret:
            raise ValueError("the webhook secret is empty")
        handler = _handler(secret, trigger)
        server = _Server6 if ":" in host else ThreadingHTTPServer
        self.server = server((host, port), handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="webhook")
        self._thread.daemon = True

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread.start()
        log.info("webhook listening on http://%s:%d%s", *self.address, PATH)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Server6(ThreadingHTTPServer):
    address_family = socket.AF_INET6


def _handler(secret: bytes, trigger: Callable[[], None]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "reconciler"

        def do_POST(self) -> None:
            if self.path.split("?", 1)[0] != PATH:
                self._answer(404, "not found")
                return
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                length = -1
            if not 0 <= length <= MAX_BODY:
                self._answer(413, "body too large or without a length")
                return
            body = self.rfile.read(length)
            if not signature_ok(secret, body, dict(self.headers.items())):
                log.warning(
                    "webhook: refused a request from %s: bad signature", self.client_address[0]
                )
                self._answer(401, "bad or missing signature")
                return
            trigger()
            self._answer(202, "fetching")

        def do_GET(self) -> None:
            self._answer(405 if self.path.split("?", 1)[0] == PATH else 404, "use POST")

        def _answer(self, code: int, text: str) -> None:
            data = (text + "\n").encode()
            self.send_response(code)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("webhook: %s", format % args)

    return Handler


__all__ = ["PATH", "Webhook", "parse_listen", "signature_ok"]
