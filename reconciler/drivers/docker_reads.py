"""Read-only Docker Engine API calls over a unix socket, without the docker SDK. Does I/O.

Observing needs a few GETs (list containers, list volumes, inspect, info);
importing the SDK for them costs more than a no-op's own work (``requests``,
``urllib3``: ~135 ms of CPU). So for a ``unix://`` daemon the Docker driver
reads through this module (``http.client``, one connection per call, so
threads need no lock), and imports the SDK only when it acts, follows logs
or events, or execs. tcp:// and TLS daemons keep the SDK for everything.

Errors are this module's own, mapped with the SDK's in ``docker._mapped``.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlencode

UNIX = "unix://"


class EngineHTTPError(Exception):
    """The daemon answered with an error status (``explanation``: its message)."""

    def __init__(self, status: int, explanation: str) -> None:
        super().__init__(f"{status}: {explanation}")
        self.status = status
        self.explanation = explanation


class EngineUnreachable(Exception):
    """The socket could not be reached, or the answer was cut short or not JSON."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def socket_path(base_url: str | None) -> str | None:
    """The socket of a ``unix:///absolute/path`` address, else None (left to the SDK)."""
    if base_url and base_url.startswith(UNIX + "/") and len(base_url) > len(UNIX) + 1:
        return base_url[len(UNIX) :]
    return None


class UnixReads:
    """GETs of JSON from the Engine API at ``version`` over the socket at ``path``."""

    def __init__(self, path: str, version: str, timeout: float) -> None:
        self.path = path
        self.version = version
        self.timeout = timeout

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """The decoded JSON body of ``GET /v{version}{path}?{params}``.

        Raises EngineHTTPError on a status >= 400, EngineUnreachable otherwise.
        """
        target = f"/v{self.version}{path}" + (f"?{urlencode(params)}" if params else "")
        connection = _UnixConnection(self.path, self.timeout)
        try:
            connection.request("GET", target, headers={"Accept": "application/json"})
            response = connection.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise EngineUnreachable(f"{self.path}: {exc}") from exc
        finally:
            connection.close()
        if response.status >= 400:
            raise EngineHTTPError(response.status, _message(body))
        try:
            return json.loads(body)
        except ValueError as exc:
            raise EngineUnreachable(f"{self.path}: not JSON: {body[:80]!r}") from exc

    def containers(self, filters: Mapping[str, list[str]]) -> list[dict[str, Any]]:
        """``docker ps -a`` with ``filters`` (the SDK's ``containers(all=True, filters=)``)."""
        found = self.get("/containers/json", {"all": "1", "filters": json.dumps(filters)})
        return list(found or [])

    def volumes(self, filters: Mapping[str, list[str]]) -> dict[str, Any]:
        """``docker volume ls`` with ``filters`` (the SDK's ``volumes(filters=)``)."""
        return dict(self.get("/volumes", {"filters": json.dumps(filters)}) or {})

    def inspect_container(self, container: str) -> dict[str, Any]:
        return dict(self.get(f"/containers/{quote(container, safe='')}/json"))

    def info(self) -> dict[str, Any]:
        return dict(self.get("/info"))


def _message(body: bytes) -> str:
    try:
        return str(json.loads(body).get("message") or body.decode(errors="replace"))
    except (ValueError, AttributeError):
        return body.decode(errors="replace").strip()
