"""An httpGet probe as kubelet sends it (k8s.io/kubernetes pkg/probe/http). Network I/O.

What kubelet's request is, and so this one:

- ``GET scheme://host:port/path`` with ``User-Agent: kube-probe/<version>`` and
  ``Accept: */*`` unless ``httpHeaders`` name them (an empty Accept removes it,
  an empty User-Agent sends none); every other header as given, in order, its
  name in Go's canonical form; ``Host`` sets the Host (default ``host:port``);
  ``Connection: close``, no compression, no proxy;
- HTTPS without verifying the certificate;
- redirects (301, 302, 303, 307, 308 with a Location) are followed while they stay
  on the same host name, ten requests at most (Go's client), with the headers
  and a Referer; a redirect to another host is not followed: its 3xx is the
  answer, a success with a warning;
- the answer: 200-399 succeeds (a 3xx with a warning), anything else, a refused
  connection, a TLS failure or the timeout fails. One ``timeoutSeconds`` covers the
  whole chain, each connect and read waiting at most what is left of it. At most
  10 KiB of the body is read; a body that breaks off gives no result
  (``ProbeNotRun``), as kubelet discards a probe that errored.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Sequence
from urllib.parse import SplitResult, quote, urljoin, urlsplit

from reconciler.core.errors import ProbeNotRun
from reconciler.loop.verdict import USER_AGENT, Verdict

MAX_REQUESTS = 10  # Go's http.Client: "stopped after 10 redirects"
BODY_LIMIT = 10 * 1024  # kubelet reads at most this much of an answer
_REDIRECTS = frozenset({301, 302, 303, 307, 308})  # what Go's client follows
# Kept as written in a path: what RFC 3986 allows there, and escapes already made.
_PATH_SAFE = "/:@!$&'()*+,;=-._~%"
_QUERY_SAFE = _PATH_SAFE + "?"


def http_get(
    host: str,
    port: int,
    path: str,
    scheme: str,
    timeout: float,
    headers: Sequence[tuple[str, str]] = (),
) -> Verdict:
    """GET ``path`` at ``host:port`` as kubelet's probe does (the module's docstring)."""
    deadline = time.monotonic() + timeout
    given = [(_canonical(name), value) for name, value in headers]
    url = urlsplit(f"{scheme.lower()}://{_join(host, port)}{_absolute(path)}")
    origin = _hostname(url.netloc)
    # Go sends req.Host: the first Host header given, when not empty, else the URL's.
    custom = next((v for n, v in given if n == "Host"), "")
    custom = "" if custom == url.netloc else custom
    host_header, referer = custom or url.netloc, ""
    for sent in range(1, MAX_REQUESTS + 1):
        try:
            conn, response = _send(url, host_header, _lines(given, referer), deadline)
        except (OSError, ValueError, http.client.HTTPException) as exc:
            return Verdict(False, _why(exc))  # refused, timed out, TLS, garbage
        try:
            location = response.headers.get("Location")
            if response.status not in _REDIRECTS or not location:
                return _answer(conn, response, deadline)
        finally:
            conn.close()
        target = urlsplit(urljoin(url.geturl(), location))
        if _hostname(target.netloc) != origin:  # kubelet's RedirectChecker
            why = f"probe terminated redirects: {response.status} to another host, {location}"
            return Verdict(True, why)
        if sent == MAX_REQUESTS:
            break
        if target.scheme not in ("http", "https"):
            return Verdict(False, f"redirected to {location}: unsupported protocol scheme")
        # Go keeps a Host given through a relative redirect only (golang/go#22233).
        host_header = custom if custom and not urlsplit(location).scheme else target.netloc
        if not (url.scheme == "https" and target.scheme == "http"):  # never https → http
            referer = url._replace(netloc=url.netloc.rpartition("@")[2]).geturl()
        url = target._replace(fragment="")
    return Verdict(False, f"stopped after {MAX_REQUESTS} redirects")


def _send(
    url: SplitResult, host: str, lines: list[tuple[str, str]], deadline: float
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    """One request; the connection to close and the answer, its headers read."""
    name, port = _hostname(url.netloc), url.port or (443 if url.scheme == "https" else 80)
    conn: http.client.HTTPConnection
    if url.scheme == "https":
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # kubelet: InsecureSkipVerify
        conn = http.client.HTTPSConnection(name, port, timeout=_left(deadline), context=context)
    else:
        conn = http.client.HTTPConnection(name, port, timeout=_left(deadline))
    try:
        target = quote(url.path or "/", safe=_PATH_SAFE)
        if url.query:
            target += "?" + quote(url.query, safe=_QUERY_SAFE)
        conn.putrequest("GET", target, skip_host=True, skip_accept_encoding=True)
        # Go writes values as UTF-8 bytes; http.client would take them as Latin-1.
        conn.putheader("Host", host.encode())
        for header, value in lines:
            conn.putheader(header, value.encode())
        conn.endheaders()
        assert conn.sock is not None  # endheaders connected it
        conn.sock.settimeout(_left(deadline))
        return conn, conn.getresponse()
    except BaseException:
        conn.close()
        raise


def _answer(
    conn: http.client.HTTPConnection, response: http.client.HTTPResponse, deadline: float
) -> Verdict:
    """The verdict of the last answer of the chain, once its body is read as kubelet does."""
    try:
        if conn.sock is not None:
            conn.sock.settimeout(_left(deadline))
        _read_body(response)
    except (OSError, http.client.HTTPException) as exc:
        raise ProbeNotRun(f"HTTP probe: the answer broke off: {_why(exc)}") from exc
    status = response.status
    if 200 <= status < 300:
        return Verdict(True)
    if 300 <= status < 400:
        return Verdict(True, f"probe terminated redirects: {status}")
    return Verdict(False, f"HTTP probe failed with statuscode: {status}")


def _read_body(response: http.client.HTTPResponse) -> None:
    """Read up to BODY_LIMIT bytes; IncompleteRead when the answer ends before its length."""
    got = 0
    while got < BODY_LIMIT:
        chunk = response.read(BODY_LIMIT - got)
        if not chunk:
            if response.length:  # http.client returns a short read as it is
                raise http.client.IncompleteRead(b"", response.length)
            return
        got += len(chunk)


def _lines(given: list[tuple[str, str]], referer: str) -> list[tuple[str, str]]:
    """The headers after Host, kubelet's defaults merged as Go's client writes them."""
    values: dict[str, list[str]] = {}
    for name, value in given:
        values.setdefault(name, []).append(value)
    lines: list[tuple[str, str]] = []
    agent = values.get("User-Agent", [USER_AGENT])[0]  # Go writes the first, if not empty
    if agent:
        lines.append(("User-Agent", agent))
    accept = values.get("Accept", ["*/*"])
    if accept[0]:  # kubelet drops an Accept given empty
        lines += [("Accept", v) for v in accept]
    lines += [(n, v) for n, v in given if n not in ("Host", "User-Agent", "Accept")]
    if referer and "Referer" not in values:
        lines.append(("Referer", referer))
    tokens = {t.strip().lower() for v in values.get("Connection", []) for t in v.split(",")}
    if "close" not in tokens:
        lines.append(("Connection", "close"))  # kubelet's transport keeps no connection
    return lines


def _canonical(name: str) -> str:
    """Go's canonical header name (textproto.CanonicalMIMEHeaderKey): x-probe → X-Probe."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def _absolute(path: str) -> str:
    return path if path.startswith("/") else f"/{path}"


def _join(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _hostname(netloc: str) -> str:
    """The host of ``host:port`` as Go's URL.Hostname has it: no port, no brackets, case kept."""
    hostport = netloc.rpartition("@")[2]
    if hostport.startswith("["):
        return hostport[1:].partition("]")[0]
    name, colon, port = hostport.rpartition(":")
    return name if colon and (port == "" or port.isdigit()) else hostport


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("timed out")
    return left


def _why(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


__all__ = ["BODY_LIMIT", "MAX_REQUESTS", "http_get"]
