"""The drivers ``--driver`` picks from, and the factory that makes the one picked. No I/O.

``make_driver`` is the one place a concrete driver is named (import-linter
holds it so); the unit tests swap it for the simulator, so commands call it
as ``engines.make_driver(options)``. A new engine adds its declared
capabilities to ``DRIVERS`` and a branch to ``make_driver``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

import click

from reconciler.core.runtimes import DriverCapabilities
from reconciler.drivers.cri.capabilities import CRI
from reconciler.drivers.docker.capabilities import DOCKER

if TYPE_CHECKING:
    from reconciler.drivers.base import Driver

# By name: what each driver can run is known without connecting to its engine
# or importing its client (validate needs no daemon).
DRIVERS: dict[str, DriverCapabilities] = {DOCKER.name: DOCKER, CRI.name: CRI}
CRI_ENDPOINT = "unix:///run/containerd/containerd.sock"  # crictl's default, as cri_client's


class DriverOptions(Protocol):
    """What a driver is made from (``options.Options`` has it)."""

    @property
    def driver(self) -> str: ...  # a key of DRIVERS
    @property
    def instance(self) -> str: ...
    @property
    def docker_host(self) -> str | None: ...
    @property
    def cri_endpoint(self) -> str: ...
    @property
    def cri_state_dir(self) -> str | None: ...


def make_driver(options: DriverOptions) -> Driver:
    """The driver ``--driver`` names, imported only when a command needs the engine: the
    one import kept inside a function, as each driver costs the other's users its start
    (the CRI driver imports grpc and protobuf, ~60 ms; validate needs neither)."""
    if options.driver == DOCKER.name:
        from reconciler.drivers.docker.driver import DockerDriver

        return DockerDriver(options.instance, options.docker_host)
    if options.driver == CRI.name:
        try:
            from reconciler.drivers.cri.driver import CriDriver
        except ImportError as exc:  # grpcio or protobuf, dependencies, missing here
            raise click.ClickException(
                f"the cri driver needs grpcio and protobuf (reinstall reconciler): {exc}"
            ) from exc
        return CriDriver(options.instance, options.cri_endpoint, options.cri_state_dir)
    raise click.UsageError(f"no such driver: {options.driver}")


@contextmanager
def driver(options: DriverOptions) -> Iterator[Driver]:
    """``make_driver``, closed when the command is done with it."""
    made = make_driver(options)
    try:
        yield made
    finally:
        made.close()
