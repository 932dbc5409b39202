"""`version`: reconciler's version and the engine it sees (works without one)."""

from __future__ import annotations

import json
import platform
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

import click

from reconciler.cli import common, engines
from reconciler.cli.options import Options
from reconciler.core.errors import ReconcilerError


@click.command()
@click.option(
    "-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.pass_obj
def version(options: Options, output: str) -> None:
    """Print reconciler's version, the Docker engine it sees and the runtimes offered.

    Works without a daemon, saying so (exit 0).
    """
    try:
        mine = package_version("reconciler")
    except PackageNotFoundError:  # run from a source tree that was never installed
        mine = "unknown"
    data: dict[str, object] = {
        "reconciler": mine,
        "python": platform.python_version(),
        "dockerHost": common.daemon(options),
        "driver": options.driver,
    }
    try:
        with engines.driver(options) as driver:
            engine = driver.engine()
    except ReconcilerError as exc:
        data["engine"] = None
        data["engineError"] = str(exc)
    else:
        data["engine"] = {
            "version": engine.version,
            "apiVersion": engine.api_version,
            "runtimes": list(engine.runtimes),
            "defaultRuntime": engine.default_runtime,
        }
    if output == "json":
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"reconciler {mine} (Python {data['python']})")
    if engine_data := data["engine"]:
        assert isinstance(engine_data, dict)
        click.echo(
            f"{options.driver} engine {engine_data['version']} (API {engine_data['apiVersion']}) "
            f"at {data['dockerHost']}"
        )
        click.echo(
            f"runtimes: {', '.join(engine_data['runtimes'])} "
            f"(engine default: {engine_data['defaultRuntime']})"
        )
    else:
        click.echo(
            f"{options.driver} engine: not reachable at {data['dockerHost']}: {data['engineError']}"
        )
