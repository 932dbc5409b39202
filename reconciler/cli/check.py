"""`validate`, `policy` and `schema`: what manifests and the policy say, without an engine
(validate asks one about runtimes when it answers)."""

from __future__ import annotations

import json
import sys

import click

from reconciler.cli import common, engines, render
from reconciler.cli.options import Options
from reconciler.core.admission import admit, admit_facts, facts_wanted
from reconciler.core.compile import compile_units
from reconciler.core.errors import ReconcilerError
from reconciler.formats.schema import schema as build


@click.command()
@common.files
@common.recursive
@click.pass_obj
def validate(options: Options, paths: tuple[str, ...], recursive: bool) -> None:
    """Check manifests and what their runtimes can share. Exit 0: valid, 1: invalid.

    Needs no daemon; when one answers, the runtimes it offers are checked too, and
    what its images say (runAsNonRoot), without pulling any.
    """
    loaded = common.load(paths, recursive)
    compiled = compile_units(loaded.manifests, options.build, values=loaded.values)
    desired = admit(compiled, options.build, None)
    wanted = facts_wanted(desired)
    if {r for c in compiled for r in c.unit.runtimes} - {"runc"} or wanted:
        try:
            with engines.driver(options) as driver:
                desired = admit(compiled, options.build, driver.runtimes())
                if wanted:
                    facts = driver.facts(facts_wanted(desired), pull=False)
                    desired = admit_facts(desired, facts, dry_run=True)
        except ReconcilerError as exc:
            click.echo(f"warning: not checked against the engine: {exc}", err=True)
    common.notes(desired)
    for key, reason in desired.refused:
        click.echo(f"error: {key}: {reason}", err=True)
    if loaded.ok and not desired.refused:
        click.echo(f"{len(loaded.manifests)} manifest(s) valid in {len(loaded.files)} file(s)")
        sys.exit(0)
    sys.exit(1)


@click.command()
@click.option(
    "--kind",
    type=click.Choice(["Sandbox", "Container", "Pod", "ConfigMap", "Secret"]),
    default=None,
    help="One kind only (default: any manifest document).",
)
def schema(kind: str | None) -> None:
    """Print the JSON Schema of the manifests, for editors (yaml-language-server)."""
    click.echo(json.dumps(build(kind), indent=2))


@click.command("policy")
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
    click.echo(render.dump(options.policy.describe(), output).rstrip())
