"""`logs` and `exec`: one container of a unit, picked as kubectl picks it."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import termios
import time
import tty
from collections.abc import Iterator
from datetime import datetime

import click

from reconciler.cli import common, engines
from reconciler.cli.options import Options
from reconciler.core.errors import ReconcilerError
from reconciler.core.selection import pick
from reconciler.drivers.base import Driver

_DURATION = {"s": 1, "m": 60, "h": 3600}


def _since(value: str | None, now: float) -> float | None:
    """--since: a duration (30s, 5m, 2h) before now, or an RFC 3339 time."""
    if value is None:
        return None
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smh])", value)
    if match:
        return now - float(match.group(1)) * _DURATION[match.group(2)]
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise click.BadParameter(
            f"{value!r}: give a duration (30s, 5m, 2h) or an RFC 3339 time", param_hint="--since"
        ) from None


def _pick(options: Options, unit: str, namespace: str, container: str | None) -> tuple[Driver, str]:
    """The driver and the id of the container `logs` / `exec` mean (kubectl's defaults)."""
    driver = engines.make_driver(options)
    try:
        observed = driver.observe(start_times=False)
        picked = pick(observed.containers, unit, namespace, container)
    except ReconcilerError as exc:
        common.fail(str(exc))
    if picked.defaulted_out_of:
        click.echo(
            f'Defaulted container "{picked.container.container}" out of: '
            + ", ".join(picked.defaulted_out_of),
            err=True,
        )
    return driver, picked.container.id


_unit_namespace = click.option(
    "-n", "--namespace", default="default", show_default=True, help="Namespace of UNIT."
)
_container = click.option(
    "-c", "--container", default=None, help="Container name (default: the first workload)."
)


@click.command()
@click.argument("unit")
@_container
@_unit_namespace
@click.option("-f", "--follow", is_flag=True, help="Print new lines as they come, until stopped.")
@click.option("--tail", default=-1, show_default=True, help="Last N lines only (-1: all).")
@click.option(
    "--since", default=None, metavar="T", help="Only newer lines: 30s, 5m, 2h or RFC 3339."
)
@click.option(
    "-p",
    "--previous",
    is_flag=True,
    help="The output up to the end of the last terminated run.",
)
@click.option("--timestamps", is_flag=True, help="Prefix each line with its RFC 3339 time.")
@click.pass_obj
def logs(
    options: Options,
    unit: str,
    container: str | None,
    namespace: str,
    follow: bool,
    tail: int,
    since: str | None,
    previous: bool,
    timestamps: bool,
) -> None:
    """Print a container's output: UNIT is NAME, sandbox/NAME or container/NAME.

    --previous: the output up to the end of the last terminated run. Docker
    restarts a container in place and keeps one log across its runs, so the
    runs before that one are included; a recreated container's earlier logs
    went with the old container.
    """
    driver, container_id = _pick(options, unit, namespace, container)
    until = None
    if previous:
        if follow:
            raise click.UsageError("--previous and --follow do not go together")
        try:
            found = driver.details([container_id]).get(container_id)
        except ReconcilerError as exc:
            common.fail(str(exc))
        if found is None:
            common.fail(f"{unit}: the container is gone")
        until = found.finished_at
        if until is None:
            common.fail(
                f"{unit}: the container has not terminated since it was created: no previous run"
            )
    try:
        stream = driver.logs(
            container_id,
            follow=follow,
            tail=None if tail < 0 else tail,
            since=_since(since, time.time()),
            until=until,
            timestamps=timestamps,
        )
    except ReconcilerError as exc:
        common.fail(str(exc))
    # SIGTERM and SIGINT end a follow alike: the stream is closed, nothing is left
    # behind. Set both: a shell starts background jobs with SIGINT ignored.
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, signal.default_int_handler)
    out = sys.stdout.buffer
    printed = False
    try:
        for chunk in stream:
            out.write(chunk)
            out.flush()
            printed = True
    except KeyboardInterrupt:
        stream.close()
        sys.exit(130)
    except BrokenPipeError:  # `logs ... | head`
        stream.close()
        sys.exit(0)
    except ReconcilerError as exc:
        common.fail(str(exc))
    if previous and not printed:
        common.fail(
            f"{unit}: the last terminated run wrote nothing (a recreation takes "
            "the earlier runs' logs with the old container)"
        )


@click.command("exec")
@click.argument("unit")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@_container
@_unit_namespace
@click.option("-i", "--stdin", "interactive", is_flag=True, help="Pass stdin to the command.")
@click.option("-t", "--tty", is_flag=True, help="Give the command a terminal.")
@click.pass_obj
def exec_(
    options: Options,
    unit: str,
    command: tuple[str, ...],
    container: str | None,
    namespace: str,
    interactive: bool,
    tty: bool,
) -> None:
    """Run COMMAND in a running container of UNIT; exit with its exit code.

    reconciler exec web -c app -- ls /data;  reconciler exec web -it -- sh
    """
    driver, container_id = _pick(options, unit, namespace, container)
    stdin = sys.stdin.buffer if interactive else None
    size = None
    raw_mode: contextlib.AbstractContextManager[None] = contextlib.nullcontext()
    if tty and stdin is not None and stdin.isatty():
        columns, rows = os.get_terminal_size(stdin.fileno())
        size = (rows, columns)
        raw_mode = _raw_terminal(stdin.fileno())
    try:
        with raw_mode:
            code = driver.exec_attached(
                container_id,
                list(command),
                sys.stdout.buffer,
                sys.stderr.buffer,
                stdin=stdin,
                tty=tty,
                size=size,
            )
    except ReconcilerError as exc:
        common.fail(str(exc))
    sys.exit(code)


@contextlib.contextmanager
def _raw_terminal(fd: int) -> Iterator[None]:
    """The terminal in raw mode (keys go to the container's shell), restored after."""
    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)
