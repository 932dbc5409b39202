"""`export` and `convert`: manifests to Kubernetes, docker-compose to manifests. No engine."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import yaml

from reconciler.cli import common
from reconciler.formats.compose import convert as from_compose
from reconciler.formats.export import export as to_kubernetes


@click.command()
@common.files
@common.recursive
@click.option(
    "--to",
    "target",
    type=click.Choice(["kubernetes"]),
    required=True,
    help="What to write: Kubernetes manifests.",
)
@click.option(
    "--workload",
    type=click.Choice(["pod", "deployment"]),
    default="pod",
    show_default=True,
    help="A Pod per unit, or a Deployment of one replica.",
)
def export(paths: tuple[str, ...], recursive: bool, target: str, workload: str) -> None:
    """Write the manifests' units as Kubernetes manifests (YAML on stdout).

    What has no equivalent in Kubernetes is reported on stderr, never dropped
    silently. Exit 1 when a manifest is invalid (the valid ones are written).
    """
    del target  # one target so far; the option says what the output is
    loaded = common.load(paths, recursive)
    exported = to_kubernetes(
        [m.manifest for m in loaded.manifests],
        "deployment" if workload == "deployment" else "pod",
        loaded.values,
    )
    for loss in exported.losses:
        click.echo(f"warning: {loss}", err=True)
    for note in exported.notes:
        click.echo(f"note: {note}", err=True)
    if exported.documents:
        click.echo(yaml.safe_dump_all(exported.documents, sort_keys=False).rstrip())
    sys.exit(0 if loaded.ok else 1)


@click.command()
@click.argument("compose_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def convert(compose_file: Path) -> None:
    """Turn a docker-compose file into manifests (YAML on stdout).

    Services joined with network_mode: service:X become members of X's
    sandbox; the others become standalone Containers. What a manifest cannot
    express is reported on stderr. Exit 1 when a service could not be converted.
    """
    try:
        data = yaml.safe_load(compose_file.read_text())
    except (OSError, yaml.YAMLError) as exc:
        common.fail(f"{compose_file}: {exc}")
    if not isinstance(data, dict):
        common.fail(f"{compose_file}: not a compose file (a mapping with services:)")
    converted = from_compose(data, str(compose_file.resolve().parent))
    for loss in converted.losses:
        click.echo(f"warning: {compose_file}: {loss}", err=True)
    for error in converted.errors:
        click.echo(f"error: {compose_file}: {error}", err=True)
    if converted.documents:
        click.echo(yaml.safe_dump_all(converted.documents, sort_keys=False).rstrip())
    sys.exit(1 if converted.errors else 0)
