"""httpGet probes as kubelet sends them (reconciler/loop/httpget.py), against a local server:
the headers, the Host, redirects within one host and out of it, the body, the timeout."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from reconciler.core.errors import ProbeNotRun
from reconciler.core.models import Probe
from reconciler.loop.httpget import MAX_REQUESTS, http_get
from reconciler.loop.probes import run_probe
from reconciler.loop.verdict import USER_AGENT, Verdict

WAIT = 10.0  # an upper bound nothing in a passing run reaches
HOST = "127.0.0.1"


class Recorder(BaseHTTPRequestHandler):
    """Answers by path; keeps every request's path and headers (in order, repeats too)."""

    seen: ClassVar[list[tuple[str, list[tuple[str, str]]]]]
    other: ClassVar[int]  # the port of a second server on the same host

    def do_GET(self) -> None:
        self.seen.append((self.path, list(self.headers.items())))
        me = self.server.server_address[1]
        path = self.path
        if path.startswith("/to/"):  # a chain: /to/3 → /to/2 → /to/1 → /to/0 → 200
            left = int(path.removeprefix("/to/"))
            self._answer(302, f"/to/{left - 1}") if left else self._answer(200)
        elif path == "/broken":
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"0123456789")  # and closes: 90 bytes short
        elif path == "/slow":
            time.sleep(1.0)
            self._answer(200)
        else:
            code, location = {
                "/relative": (302, "/final?x=1"),
                "/absolute": (301, f"http://{HOST}:{me}/final"),
                "/other-port": (307, f"http://{HOST}:{self.other}/final"),
                "/elsewhere": (301, f"http://localhost:{me}/final"),  # another host name
                "/to-missing": (302, "/missing"),
                "/to-slow": (302, "/slow"),
                "/to-ftp": (302, f"ftp://{HOST}/x"),
                "/no-location": (302, None),
                "/choices": (300, "/final"),
                "/missing": (404, None),
            }.get(path, (200, None))
            self._answer(code, location)

    def _answer(self, code: int, location: str | None = None) -> None:
        self.send_response(code)
        if location is not None:
            self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True


@pytest.fixture
def servers() -> Iterator[tuple[int, int, type[Recorder]]]:
    """Two servers on 127.0.0.1 sharing one record: (port, other port, the handler)."""

    class Bound(Recorder):
        seen = []  # noqa: RUF012

    started = [Server((HOST, 0), Bound) for _ in range(2)]
    Bound.other = started[1].server_address[1]
    threads = [threading.Thread(target=s.serve_forever, args=(0.01,), daemon=True) for s in started]
    for thread in threads:
        thread.start()
    yield started[0].server_address[1], started[1].server_address[1], Bound
    for server in started:
        server.shutdown()
        server.server_close()


def get(port: int, path: str, *headers: tuple[str, str], timeout: float = WAIT) -> Verdict:
    return http_get(HOST, port, path, "HTTP", timeout, headers)


def header(headers: list[tuple[str, str]], name: str) -> list[str]:
    return [v for n, v in headers if n.lower() == name.lower()]


# --- the request --------------------------------------------------------------


def test_kubelets_headers_by_default(servers: Any) -> None:
    port, _, handler = servers
    assert get(port, "/healthz") == Verdict(True)
    ((path, headers),) = handler.seen
    assert path == "/healthz"
    assert headers == [
        ("Host", f"{HOST}:{port}"),  # always with the port, as Go writes URL.Host
        ("User-Agent", USER_AGENT),
        ("Accept", "*/*"),
        ("Connection", "close"),
    ]
    assert USER_AGENT.startswith("kube-probe/1.")


def test_given_headers_are_sent_and_replace_a_default_of_the_same_name(servers: Any) -> None:
    port, _, handler = servers
    given = [("x-probe", "yes"), ("user-agent", "mine/1"), ("X-Twice", "a"), ("X-Twice", "b")]
    assert get(port, "/", *given).ok
    ((_, headers),) = handler.seen
    assert header(headers, "User-Agent") == ["mine/1"]
    assert header(headers, "Accept") == ["*/*"]
    assert header(headers, "X-Twice") == ["a", "b"], "a name given twice is sent twice"
    assert ("X-Probe", "yes") in headers, "names in Go's canonical form"


def test_an_empty_accept_or_user_agent_sends_none(servers: Any) -> None:
    port, _, handler = servers
    assert get(port, "/", ("Accept", ""), ("User-Agent", ""), ("X-Empty", "")).ok
    ((_, headers),) = handler.seen
    assert header(headers, "Accept") == [] and header(headers, "User-Agent") == []
    assert header(headers, "X-Empty") == [""], "other empty headers are sent, as Go does"


def test_a_host_header_sets_the_host(servers: Any) -> None:
    port, _, handler = servers
    assert get(port, "/", ("Host", "probe.example"), ("Host", "second")).ok
    ((_, headers),) = handler.seen
    assert header(headers, "Host") == ["probe.example"], "the first Host given, once"


def test_a_path_is_escaped_where_http_needs_it(servers: Any) -> None:
    port, _, handler = servers
    assert get(port, "health check?q=a b&x=%41").ok
    assert handler.seen[0][0] == "/health%20check?q=a%20b&x=%41"


# --- redirects ------------------------------------------------------------------


def test_a_redirect_on_the_same_host_is_followed_with_headers_and_referer(servers: Any) -> None:
    port, other, handler = servers
    for path in ("/relative", "/absolute", "/other-port"):
        handler.seen.clear()
        assert get(port, path, ("X-Probe", "yes")) == Verdict(True), path
        (first, _), (final, headers) = handler.seen
        assert first == path
        assert final.startswith("/final"), path
        assert header(headers, "X-Probe") == ["yes"], "the headers go along"
        assert header(headers, "Referer") == [f"http://{HOST}:{port}{path}"]
        target = other if path == "/other-port" else port
        assert header(headers, "Host") == [f"{HOST}:{target}"]


def test_a_given_host_is_kept_through_a_relative_redirect_only(servers: Any) -> None:
    port, _, handler = servers
    assert get(port, "/relative", ("Host", "probe.example")).ok
    assert header(handler.seen[1][1], "Host") == ["probe.example"]
    handler.seen.clear()
    assert get(port, "/absolute", ("Host", "probe.example")).ok
    assert header(handler.seen[1][1], "Host") == [f"{HOST}:{port}"]


def test_a_redirect_to_another_host_is_a_success_with_a_warning(servers: Any) -> None:
    port, _, handler = servers
    verdict = get(port, "/elsewhere")
    assert verdict.ok and "another host" in verdict.warning
    assert [path for path, _ in handler.seen] == ["/elsewhere"], "not followed"


@pytest.mark.parametrize("path", ["/no-location", "/choices"])
def test_a_3xx_not_followed_is_a_success_with_a_warning(servers: Any, path: str) -> None:
    port, _, handler = servers
    verdict = get(port, path)
    assert verdict.ok and "redirects" in verdict.warning
    assert len(handler.seen) == 1


def test_what_a_redirect_leads_to_decides(servers: Any) -> None:
    port, _, _ = servers
    assert get(port, "/to-missing") == Verdict(False, "HTTP probe failed with statuscode: 404")
    assert not get(port, "/to-slow", timeout=0.3).ok, "one timeout for the whole chain"
    ftp = get(port, "/to-ftp")
    assert not ftp.ok and "unsupported protocol scheme" in ftp.message


def test_ten_requests_at_most(servers: Any) -> None:
    port, _, handler = servers
    assert get(port, f"/to/{MAX_REQUESTS - 1}") == Verdict(True), "nine redirects are followed"
    handler.seen.clear()
    assert get(port, f"/to/{MAX_REQUESTS}") == Verdict(False, "stopped after 10 redirects")
    assert len(handler.seen) == MAX_REQUESTS


# --- the answer ------------------------------------------------------------------


def test_a_body_that_breaks_off_gives_no_result(servers: Any) -> None:
    port, _, _ = servers
    with pytest.raises(ProbeNotRun, match="broke off"):
        get(port, "/broken")


def test_the_timeout_holds_while_the_answer_is_awaited(servers: Any) -> None:
    port, _, _ = servers
    began = time.monotonic()
    verdict = get(port, "/slow", timeout=0.2)
    assert verdict == Verdict(False, "timed out")
    assert time.monotonic() - began < 1.0


def test_run_probe_sends_the_probes_headers(servers: Any) -> None:
    port, _, handler = servers
    headers = [{"name": "X-Probe", "value": "yes"}, {"name": "Host", "value": "web.test"}]
    spec = Probe.model_validate({"httpGet": {"port": port, "path": "/a", "httpHeaders": headers}})
    assert run_probe(spec, HOST, lambda command, timeout: 1) == Verdict(True)
    ((path, sent),) = handler.seen
    assert path == "/a" and ("X-Probe", "yes") in sent and ("Host", "web.test") in sent
