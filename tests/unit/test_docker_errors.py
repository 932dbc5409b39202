"""How the Docker driver maps engine errors and timestamps (no daemon needed)."""

from __future__ import annotations

import docker.errors
import pytest
import requests
import requests.exceptions

from reconciler.core.errors import (
    DaemonUnavailable,
    ExecFailed,
    ImageUnavailable,
    InvalidSpec,
    NameConflict,
    NotFound,
    PermanentDriverError,
    TransientDriverError,
)
from reconciler.drivers.docker.connection import timestamp as _timestamp
from reconciler.drivers.docker.driver import DockerDriver
from reconciler.drivers.docker.errors import mapped as _mapped
from reconciler.drivers.docker.http import EngineHTTPError, EngineUnreachable, socket_path


def api_error(status: int, explanation: str) -> docker.errors.APIError:
    response = requests.Response()
    response.status_code = status
    return docker.errors.APIError("boom", response=response, explanation=explanation)


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (docker.errors.ImageNotFound("no such image"), ImageUnavailable),
        (docker.errors.NotFound("no such container"), NotFound),
        (api_error(409, 'Conflict. The container name "/x" is already in use'), NameConflict),
        (api_error(400, "invalid mount config"), InvalidSpec),
        (
            api_error(500, "Bind for 127.0.0.1:80 failed: port is already allocated"),
            PermanentDriverError,
        ),
        (api_error(500, "Unknown runtime specified kata"), PermanentDriverError),
        (api_error(500, "context deadline exceeded"), TransientDriverError),
        (api_error(503, "server busy"), TransientDriverError),
        (requests.exceptions.ConnectionError("refused"), DaemonUnavailable),
        (requests.exceptions.ReadTimeout("slow"), DaemonUnavailable),
        # The same answers without the SDK (drivers/docker/http.py), mapped alike.
        (EngineHTTPError(404, "No such container: x"), NotFound),
        (EngineHTTPError(404, "No such image: local/none:1"), ImageUnavailable),
        (EngineHTTPError(404, "pull access denied, repository does not exist"), ImageUnavailable),
        (EngineHTTPError(409, 'Conflict. The container name "/x" is already in use'), NameConflict),
        (EngineHTTPError(503, "server busy"), TransientDriverError),
        (EngineHTTPError(400, "invalid filter"), InvalidSpec),
        (EngineHTTPError(500, "context deadline exceeded"), TransientDriverError),
        (EngineHTTPError(500, "Unknown runtime specified kata"), PermanentDriverError),
        (EngineUnreachable("/nowhere: connection refused"), DaemonUnavailable),
    ],
)
def test_engine_errors_map_most_specific_first(error: Exception, expected: type) -> None:
    mapped = _mapped(error, "doing it")
    assert type(mapped) is expected
    assert str(mapped).startswith("doing it: ")


def test_permanent_errors_are_not_transient() -> None:
    assert not isinstance(
        _mapped(api_error(500, "port is already allocated"), "x"), TransientDriverError
    )
    assert isinstance(_mapped(requests.exceptions.ConnectionError("x"), "x"), TransientDriverError)


def test_timestamps_with_nanoseconds_and_zero_time() -> None:
    assert _timestamp("0001-01-01T00:00:00Z") is None
    assert _timestamp(None) is None
    assert _timestamp("garbage") is None
    assert _timestamp("2026-11-29T06:32:11.123456789Z") == pytest.approx(
        1795933931.123456789, abs=1e-6
    )
    assert _timestamp("2026-11-29T06:32:11Z") == pytest.approx(1795933931.0, abs=1e-6)
    assert _timestamp("2026-11-29T07:32:11.5+01:00") == pytest.approx(1795933931.5, abs=1e-6)


class _ExecStartFails:
    """The part of docker.APIClient an exec uses; the engine fails the started command."""

    def exec_create(self, container: str, cmd: list[str]) -> dict[str, str]:
        return {"Id": "exec-1"}

    def exec_start(self, exec_id: str) -> bytes:
        raise api_error(409, "container 0123456789ab is not running")

    def exec_inspect(self, exec_id: str) -> dict[str, int]:
        raise AssertionError("not reached")

    def close(self) -> None:
        pass


def test_an_exec_the_engine_fails_is_reported_as_that_at_once_not_as_a_timeout() -> None:
    driver = DockerDriver("inst", base_url="unix:///nowhere")
    driver.connection._sdk = _ExecStartFails()  # type: ignore[assignment]
    # Before, the failure was swallowed and reported as a timeout once this had passed.
    with pytest.raises(ExecFailed, match=r"exec in 0123456789ab: container \w+ is not running"):
        driver.exec("0123456789abcdef", ["true"], timeout=30)


@pytest.mark.parametrize(
    ("address", "path"),
    [
        ("unix:///var/run/docker.sock", "/var/run/docker.sock"),
        ("unix://tmp/d.sock", None),  # relative: the SDK's own reading of it
        ("unix://", None),
        ("tcp://127.0.0.1:2375", None),
        ("https://host:2376", None),
        (None, None),
    ],
)
def test_only_a_unix_daemon_is_read_without_the_sdk(address: str | None, path: str | None) -> None:
    assert socket_path(address) == path
    driver = DockerDriver("inst", base_url=address or "tcp://127.0.0.1:2375")
    assert (driver.connection._http is not None) is (path is not None)
