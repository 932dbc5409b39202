"""Docker's errors as reconciler's: the one place they are mapped. No engine I/O.

Every ``docker.errors``, ``requests`` and ``http`` (this package's SDK-less
calls) failure becomes a ``core/errors.py`` error here, most specific
first, re-raised with ``from``; transient ones (5xx, an unreachable daemon)
are retried by the callers with ``drivers/retrying.py``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

from reconciler.core.errors import (
    DaemonUnavailable,
    DriverError,
    ImageUnavailable,
    InvalidSpec,
    NameConflict,
    NotFound,
    ObserveAgain,
    PermanentDriverError,
    TransientDriverError,
)
from reconciler.drivers.docker.http import EngineHTTPError, EngineUnreachable

# 500s that trying again cannot mend (Docker 20.10 answers these with a 500).
_PERMANENT_500 = (
    "port is already allocated",
    "address already in use",
    "unknown runtime",
    "oci runtime create failed",
    "executable file not found",
    "no such file or directory",
    "invalid mount",
    "bind source path does not exist",
    "storage-opt",
)


def _by_status(status: int, text: str, what: str) -> DriverError:
    if status == 404:
        return NotFound(f"{what}: {text}")
    if status == 409 and "already in use" in text:
        return NameConflict(f"{what}: {text}")
    if status == 400:
        return InvalidSpec(f"{what}: {text}")
    if status >= 500 and not any(p in text.lower() for p in _PERMANENT_500):
        return TransientDriverError(f"{what}: {text}")
    return PermanentDriverError(f"{what}: {text}")


def sdk_errors() -> tuple[type[Exception], ...]:
    """The SDK's and requests' base errors, once imported (until then none can be raised)."""
    found: list[type[Exception]] = []
    if (errors := sys.modules.get("docker.errors")) is not None:
        found.append(errors.DockerException)
    if (exceptions := sys.modules.get("requests.exceptions")) is not None:
        found.append(exceptions.RequestException)
    return tuple(found)


def mapped(exc: Exception, what: str) -> DriverError:
    """The one place engine errors become reconciler errors, most specific first."""
    if isinstance(exc, EngineHTTPError):
        if exc.image_missing:
            return ImageUnavailable(f"{what}: {exc.explanation}")
        return _by_status(exc.status, exc.explanation, what)
    if isinstance(exc, EngineUnreachable):
        return DaemonUnavailable(f"{what}: the Docker daemon does not answer ({exc})")
    # An SDK error: the SDK is imported already (sdk_errors() found it), so this costs nothing.
    import docker.errors
    import requests.exceptions

    if isinstance(exc, docker.errors.ImageNotFound):
        return ImageUnavailable(f"{what}: {exc.explanation}")
    if isinstance(exc, docker.errors.NotFound):
        return NotFound(f"{what}: {exc.explanation}")
    if isinstance(exc, docker.errors.APIError):
        return _by_status(exc.status_code or 0, str(exc.explanation or exc), what)
    if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return DaemonUnavailable(f"{what}: the Docker daemon does not answer ({exc})")
    if isinstance(exc, docker.errors.DockerException):
        return DaemonUnavailable(f"{what}: {exc}")
    return DriverError(f"{what}: {exc}")


@contextmanager
def calling(what: str) -> Iterator[None]:
    """Map what the engine raises inside, saying ``what`` was being done."""
    try:
        yield
    except (EngineHTTPError, EngineUnreachable) as exc:
        raise mapped(exc, what) from exc
    except sdk_errors() as exc:
        raise mapped(exc, what) from exc


@contextmanager
def gone_means_observe_again() -> Iterator[None]:
    """A container removed under us: the plan is stale, not failed."""
    try:
        yield
    except NotFound as exc:
        raise ObserveAgain(f"{exc} (removed meanwhile by another process)") from exc


__all__ = ["calling", "gone_means_observe_again", "mapped", "sdk_errors"]
