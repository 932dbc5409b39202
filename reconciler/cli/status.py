"""`get`: this instance's units as the engine shows them, with the loops' view merged in."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from reconciler.cli import common, engines, render
from reconciler.cli.options import Options
from reconciler.core.errors import ReconcilerError
from reconciler.core.models import Kind
from reconciler.core.spec import UnitKey
from reconciler.loop.statefile import default_state_dir, read_records
from reconciler.loop.status import UnitStatus, merge_loop_status, unit_statuses
from reconciler.loop.statusrecord import LoopStatus


@click.command()
@click.argument("names", nargs=-1)
@click.option("-n", "--namespace", default=None, help="Only this namespace.")
@click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json", "yaml"]),
    default="table",
    show_default=True,
)
@common.state_dir
@click.pass_obj
def get(
    options: Options,
    names: tuple[str, ...],
    namespace: str | None,
    output: str,
    state_dir: str | None,
) -> None:
    """Show this instance's sandboxes and containers: phase, state, id, restarts.

    While `reconciler run` works on this instance, its view is merged in:
    restarts it made, CrashLoopBackOff and the next try, readiness, last error.
    A unit the loop evicted (an emptyDir over its sizeLimit) is Evicted, with why.
    After `reconciler sync`: the repository, branch, path, the last applied and
    attempted revisions and the last error (``sync`` in -o json).
    """
    statuses, loops = _statuses(options, state_dir)
    if namespace:
        statuses = [s for s in statuses if s.namespace == namespace]
    statuses, missing = _named(statuses, names, namespace)
    file_errors: dict[str, list[str]] = {}
    for loop in loops:
        file_errors |= {path: list(problems) for path, problems in loop.file_errors.items()}
    # What each `sync` follows and where it is.
    syncs = [sync for loop in loops if (sync := loop.sync) is not None]
    if output == "table":
        _print_table(statuses, syncs if not names else [], file_errors, bool(names))
    else:
        data = {
            "apiVersion": "reconciler/v1",
            "kind": "Status",
            "instance": options.instance,
            "units": [s.to_dict() for s in statuses],
            "fileErrors": file_errors,
            "syncs": syncs,
        }
        click.echo(render.dump(data, output).rstrip())
    for name in missing:
        click.echo(f"error: {name} not found", err=True)
    if missing:
        sys.exit(1)


def _statuses(options: Options, state_dir: str | None) -> tuple[list[UnitStatus], list[LoopStatus]]:
    """The units as the engine shows them, with each loop's view merged in; the loops."""
    with engines.driver(options) as driver:
        try:
            observed = driver.observe()
            details = driver.details([c.id for c in observed.containers])
        except ReconcilerError as exc:
            common.fail(str(exc))
    statuses = unit_statuses(observed, options.instance, details)
    directory = Path(state_dir) if state_dir else default_state_dir()
    try:
        loops, unreadable = read_records(directory, options.instance, common.daemon(options))
    except OSError as exc:
        loops, unreadable = [], [str(exc)]
    for problem in unreadable:
        click.echo(f"warning: the loops' status is unreadable: {problem}", err=True)
    for loop in loops:  # one per source: each reports only its own units
        statuses = merge_loop_status(statuses, loop)
    return statuses, loops


def _named(
    statuses: list[UnitStatus], names: Sequence[str], namespace: str | None
) -> tuple[list[UnitStatus], list[str]]:
    """The statuses NAMES pick (all without NAMES), and the names that found none."""
    if not names:
        return statuses, []
    keys, bare = common.parse_names(names, namespace or "default")
    statuses = [
        s for s in statuses if s.name in bare or UnitKey(Kind(s.kind), s.namespace, s.name) in keys
    ]
    found = {UnitKey(Kind(s.kind), s.namespace, s.name) for s in statuses}
    missing = [str(k) for k in sorted(keys - found)]
    missing += sorted(bare - {s.name for s in statuses})
    return statuses, missing


def _print_table(
    statuses: Sequence[UnitStatus],
    syncs: Sequence[Mapping[str, Any]],
    file_errors: Mapping[str, Sequence[str]],
    named: bool,
) -> None:

    if statuses or not named:
        click.echo(render.status_table(statuses) if statuses else "no units")
    for sync in syncs:
        click.echo(render.sync_text(sync))
    for s in statuses:
        if s.message:
            click.echo(f"{s.kind.lower()}/{s.name}: {s.phase.lower()}: {s.message}")
        if s.last_error:
            click.echo(f"{s.kind.lower()}/{s.name}: last error: {s.last_error}", err=True)
    for path, problems in sorted(file_errors.items()):
        for problem in problems:
            click.echo(f"error: {problem} (the loop keeps what {path} defined before)", err=True)
