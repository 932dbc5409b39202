"""`validate`, `policy` and `schema`: what manifests and the policy say, without an engine
(validate asks one about runtimes when it answers)."""

from __future__ import annotations

import sys

import click

from reconciler.cli import common, engines
from reconciler.cli.app import cli
from reconciler.cli.options import Options
from reconciler.core.errors import ReconcilerError


@cli.command()
@common.files
@common.recursive
@click.pass_obj
def validate(options: Options, paths: tuple[str, ...], recursive: bool) -> None:
    """Check manifests and what their runtimes can share. Exit 0: valid, 1: invalid.

    Needs no daemon; when one answers, the runtimes it offers are checked too.
    """
    from reconciler.core.admission import admit

    loaded = common.load(paths, recursive)
    compiled = common.compile_units(options, loaded)
    offered = None
    if {r for c in compiled for r in c.unit.runtimes} - {"runc"}:
        try:
            offered = engines.make_driver(options).runtimes()
        except ReconcilerError as exc:
            click.echo(f"warning: runtimes not checked against the daemon: {exc}", err=True)
    desired = admit(compiled, options.build, offered)
    common.notes(desired)
    for key, reason in desired.refused:
        click.echo(f"error: {key}: {reason}", err=True)
    if loaded.ok and not desired.refused:
        click.echo(f"{len(loaded.manifests)} manifest(s) valid in {len(loaded.files)} file(s)")
        sys.exit(0)
    sys.exit(1)


@cli.command()
@click.option(
    "--kind",
    type=click.Choice(["Sandbox", "Container", "Pod", "ConfigMap", "Secret"]),
    default=None,
    help="One kind only (default: any manifest document).",
)
def schema(kind: str | None) -> None:
    """Print the JSON Schema of the manifests, for editors (yaml-language-server)."""
    import json

    from reconciler.formats.schema import schema as build

    click.echo(json.dumps(build(kind), indent=2))


@cli.command("policy")
@click.option(
    "-o",
    "--output",
    type=click.Choice(["yaml", "json"]),
    default="yaml",
    show_default=True,
)
@click.pass_obj
def policy_command(options: Options, output: str) -> None:
    """Print the effective security policy: level, allowances and the rules in force."""
    from reconciler.cli import render

    click.echo(render.dump(options.policy.describe(), output).rstrip())
