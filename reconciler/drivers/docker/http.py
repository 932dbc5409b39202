"""Docker Engine API calls over a unix socket, without the docker SDK. Does I/O.

Importing the SDK costs more CPU (``requests``, ``urllib3``: ~135 ms) than
observing and acting on a few sandboxes, and the floor pays it too. So for a
``unix:///absolute/path`` daemon the Docker driver makes its common calls
here (``http.client``, one connection per call, so threads need no lock):
the lists, inspects and ``info`` that observing needs, and what ``apply``
and ``delete`` do (create, start, stop, restart, wait, remove, inspect an
image, create, list, inspect and remove volumes). It imports the SDK only for
streams and rare paths (events, logs, exec, pull, the archive API), and for
tcp:// and TLS daemons, which keep the SDK for everything.

``UnixEngine`` has the names, arguments and results of the
``docker.APIClient`` methods it stands in for (``EngineCalls``), so the
driver calls either alike. Its errors are this module's own: the SDK's
``NotFound`` / ``ImageNotFound`` / ``APIError`` are all an
``EngineHTTPError`` here (``image_missing`` tells the second apart, by the
same messages the SDK reads), mapped with the SDK's in ``docker._mapped``.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Mapping
from typing import Any, Literal, Protocol
from urllib.parse import quote, urlencode

UNIX = "unix://"

# What a 404's message says when the image is missing (the SDK's ImageNotFound).
_IMAGE_MISSING = (
    "no such image",
    "not found: does not exist or no pull access",
    "repository does not exist",
    "was found but does not match the specified platform",
)


class EngineHTTPError(Exception):
    """The daemon answered with an error status (``explanation``: its message)."""

    def __init__(self, status: int, explanation: str) -> None:
        super().__init__(f"{status}: {explanation}")
        self.status = status
        self.explanation = explanation

    @property
    def image_missing(self) -> bool:
        """A 404 about the image, not the container or volume (the SDK's ImageNotFound)."""
        text = self.explanation.lower()
        return self.status == 404 and any(fragment in text for fragment in _IMAGE_MISSING)


class EngineUnreachable(Exception):
    """The socket could not be reached, or the answer was cut short or not JSON."""


class EngineCalls(Protocol):
    """The part of ``docker.APIClient`` the Docker driver calls on its common path."""

    def containers(
        self, *, all: bool = False, filters: Mapping[str, list[str]] | None = None
    ) -> list[dict[str, Any]]: ...
    def inspect_container(self, container: str) -> dict[str, Any]: ...
    def info(self) -> dict[str, Any]: ...
    def version(self) -> dict[str, Any]: ...
    def create_container_from_config(self, config: dict[str, Any], name: str) -> dict[str, Any]: ...
    def start(self, container: str) -> None: ...
    def stop(self, container: str, *, timeout: int) -> None: ...
    def restart(self, container: str, *, timeout: int) -> None: ...
    def wait(
        self, container: str, *, timeout: None = None, condition: Literal["removed"] | None = None
    ) -> Mapping[str, Any]: ...
    def remove_container(self, container: str, *, force: bool = False) -> None: ...
    def inspect_image(self, image: str) -> dict[str, Any]: ...
    def volumes(self, *, filters: dict[str, list[str]] | None = None) -> dict[str, Any]: ...
    def inspect_volume(self, name: str) -> dict[str, Any]: ...
    def create_volume(
        self, name: str, *, labels: dict[str, str] | None = None
    ) -> dict[str, Any]: ...
    def remove_volume(self, name: str) -> None: ...


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float | None) -> None:
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


def _part(value: str) -> str:
    """A name or id in a path, quoted as the SDK quotes it (``/`` and ``:`` kept: images)."""
    return quote(value, safe="/:")


class UnixEngine:
    """Engine API calls at ``version`` over the socket at ``path`` (an ``EngineCalls``).

    Every call raises EngineHTTPError on a status >= 400 (304, "already
    started" or "already stopped", is success, as for the SDK), and
    EngineUnreachable when the socket fails or the answer is not JSON.
    """

    def __init__(self, path: str, version: str, timeout: float) -> None:
        self.path = path
        self.api_version = version
        self.timeout = timeout

    def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        timeout: float | None = -1.0,
    ) -> Any:
        """The decoded JSON answer to ``METHOD /v{version}{path}?{params}`` (None if empty).

        ``body`` is sent as JSON; ``timeout`` None waits as long as it takes,
        the default is the engine's.
        """
        target = f"/v{self.api_version}{path}" + (f"?{urlencode(params)}" if params else "")
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        wait = self.timeout if timeout is not None and timeout < 0 else timeout
        connection = _UnixConnection(self.path, wait)
        try:
            connection.request(method, target, body=data, headers=headers)
            response = connection.getresponse()
            answer = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise EngineUnreachable(f"{self.path}: {exc}") from exc
        finally:
            connection.close()
        if response.status >= 400:
            raise EngineHTTPError(response.status, _message(answer))
        if not answer.strip():
            return None
        try:
            return json.loads(answer)
        except ValueError as exc:
            raise EngineUnreachable(f"{self.path}: not JSON: {answer[:80]!r}") from exc

    def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        return self.request("GET", path, params)

    # -- reads --------------------------------------------------------------------------

    def containers(
        self, *, all: bool = False, filters: Mapping[str, list[str]] | None = None
    ) -> list[dict[str, Any]]:
        """``docker ps`` (``-a`` with ``all``), narrowed by ``filters``."""
        params = {"all": "1"} if all else {}
        if filters:
            params["filters"] = json.dumps(filters)
        return list(self.get("/containers/json", params) or [])

    def inspect_container(self, container: str) -> dict[str, Any]:
        return dict(self.get(f"/containers/{_part(container)}/json"))

    def info(self) -> dict[str, Any]:
        return dict(self.get("/info"))

    def version(self) -> dict[str, Any]:
        return dict(self.get("/version"))

    def inspect_image(self, image: str) -> dict[str, Any]:
        return dict(self.get(f"/images/{_part(image)}/json"))

    def volumes(self, *, filters: dict[str, list[str]] | None = None) -> dict[str, Any]:
        """``docker volume ls`` narrowed by ``filters``: ``{"Volumes": [...], ...}``."""
        params = {"filters": json.dumps(filters)} if filters else None
        return dict(self.get("/volumes", params) or {})

    def inspect_volume(self, name: str) -> dict[str, Any]:
        """``docker volume inspect``: its ``Mountpoint``, ``Labels``, ..."""
        return dict(self.get(f"/volumes/{_part(name)}"))

    # -- acting -------------------------------------------------------------------------

    def create_container_from_config(self, config: dict[str, Any], name: str) -> dict[str, Any]:
        """Create from a raw body (keys with a None value left out, as the SDK does)."""
        body = {key: value for key, value in config.items() if value is not None}
        return dict(self.request("POST", "/containers/create", {"name": name}, body))

    def start(self, container: str) -> None:
        self.request("POST", f"/containers/{_part(container)}/start")

    def stop(self, container: str, *, timeout: int) -> None:
        """Stop with ``timeout`` seconds of grace; the call may take that much longer."""
        self.request(
            "POST",
            f"/containers/{_part(container)}/stop",
            {"t": str(timeout)},
            timeout=self.timeout + timeout,
        )

    def restart(self, container: str, *, timeout: int) -> None:
        self.request(
            "POST",
            f"/containers/{_part(container)}/restart",
            {"t": str(timeout)},
            timeout=self.timeout + timeout,
        )

    def wait(
        self, container: str, *, timeout: None = None, condition: Literal["removed"] | None = None
    ) -> dict[str, Any]:
        """Block until the container exits (or is removed, ``condition="removed"``)."""
        params = {"condition": condition} if condition else None
        path = f"/containers/{_part(container)}/wait"
        return dict(self.request("POST", path, params, timeout=timeout) or {})

    def remove_container(self, container: str, *, force: bool = False) -> None:
        params = {"force": "1"} if force else None
        self.request("DELETE", f"/containers/{_part(container)}", params)

    def create_volume(self, name: str, *, labels: dict[str, str] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"Name": name}
        if labels is not None:
            body["Labels"] = labels
        return dict(self.request("POST", "/volumes/create", body=body) or {})

    def remove_volume(self, name: str) -> None:
        self.request("DELETE", f"/volumes/{_part(name)}")


def _message(body: bytes) -> str:
    try:
        return str(json.loads(body).get("message") or body.decode(errors="replace"))
    except (ValueError, AttributeError):
        return body.decode(errors="replace").strip()
