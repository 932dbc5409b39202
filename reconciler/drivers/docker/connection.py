"""One Docker daemon, as the driver's parts share it: who makes each call. Does I/O.

For a ``unix://`` daemon the common calls go through ``http`` (``http.client``),
which spares ``apply`` and ``delete`` the docker SDK's import (~135 ms of
CPU, more than converging a few sandboxes costs); the SDK is imported and
its client made only when a stream or a rare call needs it (events, logs,
exec, pull, the archive API). tcp:// and TLS daemons use the SDK for
everything. Also here: what the parts read alike from Docker's answers.
"""

from __future__ import annotations

import os
import re
import threading
from datetime import datetime
from typing import TYPE_CHECKING, Any

from reconciler.core import labels as L
from reconciler.core.spec import UnitKey
from reconciler.drivers.docker.http import EngineCalls, UnixEngine, socket_path

if TYPE_CHECKING:
    import docker

DEFAULT_SOCKET = "unix:///var/run/docker.sock"  # the SDK's default too
API_VERSION = "1.41"  # Docker 20.10; pinned so no call is spent negotiating it


class Connection:
    """The daemon's address and this instance's name; ``calls`` for the common path,
    ``sdk`` for the rest (made on first use)."""

    def __init__(
        self, instance: str, base_url: str | None, timeout: int, direct_http: bool = True
    ) -> None:
        self.instance = instance
        self._base_url = base_url
        self._timeout = timeout
        self._sdk: docker.APIClient | None = None
        self._lock = threading.Lock()
        path = socket_path(base_url or os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET)
        self._http = UnixEngine(path, API_VERSION, timeout) if path and direct_http else None

    @property
    def sdk(self) -> docker.APIClient:
        """The SDK's client, imported and made when first needed."""
        with self._lock:
            if self._sdk is None:
                import docker  # measured: ~135 ms of CPU that apply and delete never pay
                import docker.utils

                kwargs: dict[str, Any] = dict(docker.utils.kwargs_from_env())
                if self._base_url:
                    kwargs["base_url"] = self._base_url
                kwargs.pop("version", None)
                self._sdk = docker.APIClient(version=API_VERSION, timeout=self._timeout, **kwargs)
            return self._sdk

    @property
    def calls(self) -> EngineCalls:
        """Who makes the common calls: ``http`` for a unix:// daemon, else the SDK."""
        return self._http if self._http is not None else self.sdk

    def mine(self, unit: UnitKey | None = None) -> list[str]:
        """Label filters for this instance's objects (only ``unit``'s, when given)."""
        return [f"{L.MANAGED_BY}={self.instance}", *unit_labels(unit)]

    def close(self) -> None:
        if self._sdk is not None:
            self._sdk.close()


def unit_labels(unit: UnitKey | None) -> list[str]:
    """Label filters that narrow a list call to one unit's objects."""
    if unit is None:
        return []
    return [
        f"{L.KIND}={unit.kind.value}",
        f"{L.NAMESPACE}={unit.namespace}",
        f"{L.SANDBOX}={unit.name}",
    ]


_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def timestamp(text: str | None) -> float | None:
    """Docker's RFC 3339 time (nanoseconds and all) to unix seconds; None for the zero time."""
    match = _RFC3339.match(text or "")
    if not match or text is None or text.startswith("0001-"):
        return None
    seconds, fraction, zone = match.groups()
    stamp = datetime.fromisoformat(seconds + ("+00:00" if zone == "Z" else zone))
    return stamp.timestamp() + (float(fraction) if fraction else 0.0)


__all__ = ["API_VERSION", "DEFAULT_SOCKET", "Connection", "timestamp", "unit_labels"]
