"""What the commands share: common options, reading manifests, saying errors. No engine I/O."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import click

from reconciler.cli import render
from reconciler.cli.options import Options
from reconciler.core.manifests import DEFAULT_LIMITS, LoadResult, load_paths
from reconciler.core.models import Kind
from reconciler.core.ownership import Owner, applied
from reconciler.core.spec import Desired, UnitKey
from reconciler.drivers.cri.capabilities import CRI

files = click.option(
    "-f",
    "--filename",
    "paths",
    multiple=True,
    metavar="PATH",
    help="A manifest file or directory, or - for stdin. Repeatable.",
)
recursive = click.option("-R", "--recursive", is_flag=True, help="Read directories recursively.")
adopt = click.option(
    "--adopt",
    is_flag=True,
    help="Take over units another source (a watched directory, a git branch, apply) owns.",
)
output = click.option(
    "-o",
    "--output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one document with the plan and outcome (docs/output.md).",
)
state_dir = click.option(
    "--state-dir",
    default=None,
    metavar="DIR",
    help="Where `run` and `sync` keep their lock and status, and `sync` its git mirror "
    "(default: $XDG_RUNTIME_DIR/reconciler or /run/reconciler).",
)


def color(stream: object = sys.stdout) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def load(paths: Sequence[str], recursive: bool) -> LoadResult:
    """The manifests under ``paths``; their warnings and errors said on stderr."""
    if not paths:
        raise click.UsageError("give at least one -f PATH")
    options = click.get_current_context().find_object(Options)
    limits = options.limits if options is not None else DEFAULT_LIMITS
    loaded = load_paths(paths, recursive, limits, options.decrypt if options else None)
    on_terminal = color(sys.stderr)
    if loaded.warnings:
        click.echo(render.problems_text(loaded.warnings, "warning", on_terminal), err=True)
    if loaded.errors:
        click.echo(render.problems_text(loaded.errors, "error", on_terminal), err=True)
    return loaded


def applied_owner(paths: Sequence[str]) -> Owner:
    """apply's owner: the absolute paths it read (``-`` is stdin)."""
    return applied(p if p == "-" else str(Path(p).resolve()) for p in paths)


def notes(desired: Desired) -> None:
    for key, note in desired.notes:
        click.echo(f"note: {key}: {note}", err=True)


def parse_names(names: Sequence[str], namespace: str) -> tuple[set[UnitKey], set[str]]:
    """KIND/NAME picks one kind; a bare NAME matches either kind."""
    keys: set[UnitKey] = set()
    bare: set[str] = set()
    kinds = {k.value.lower(): k for k in Kind}
    for raw in names:
        kind, _, name = raw.rpartition("/")
        if not kind:
            bare.add(name)
        elif kind.lower() in kinds:
            keys.add(UnitKey(kinds[kind.lower()], namespace, name))
        else:
            raise click.BadParameter(f"{raw!r}: kind must be sandbox or container")
    return keys, bare


def daemon(options: Options) -> str:
    """The engine's address: what a loop's lock and status are kept for."""
    if options.driver == CRI.name:
        return options.cri_endpoint
    return options.docker_host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
