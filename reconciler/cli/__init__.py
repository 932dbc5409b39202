"""The command line: parse, call the library, print. Thin on purpose.

Exit codes: 0 success; 1 a unit failed, a manifest is invalid or the daemon
is unreachable; 2 bad usage. ``diff`` follows kubectl: 0 no changes,
1 changes, 2 an error. ``validate``: 0 valid, 1 invalid.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from reconciler.cli import render
from reconciler.cli.config import DEFAULT_PATH as DEFAULT_CONFIG
from reconciler.cli.config import OperatorConfig, load_config
from reconciler.core.actions import waiting_text
from reconciler.core.admission import admit
from reconciler.core.effective import (
    DEFAULT_INFRA_IMAGE,
    BuildConfig,
    Compiled,
    Desired,
    DesiredUnit,
    UnitKey,
    build_units,
)
from reconciler.core.errors import ManifestError, ReconcilerError
from reconciler.core.manifests import DEFAULT_LIMITS, InputLimits, LoadResult, load_paths
from reconciler.core.models import Kind, Mode
from reconciler.core.ownership import ONE_SHOT, Owner, applied, watching
from reconciler.core.policy import BASELINE, Level, Policy
from reconciler.core.runtimes import CRI, DOCKER, DriverCapabilities

if TYPE_CHECKING:
    from reconciler.converge.executor import Outcome, Result
    from reconciler.core.actions import Action
    from reconciler.core.observed import Observation
    from reconciler.core.planner import Plan, PlanConfig
    from reconciler.drivers.base import Driver
    from reconciler.loop.control import LoopSettings
    from reconciler.loop.metrics import LoopMetrics
    from reconciler.sources.git import GitSource


# The drivers --driver picks from, by name: what each can run is known without
# connecting to its engine or importing its client (validate needs no daemon).
# ``_driver`` makes the one asked for.
DRIVERS: dict[str, DriverCapabilities] = {DOCKER.name: DOCKER, CRI.name: CRI}
CRI_ENDPOINT = "unix:///run/containerd/containerd.sock"  # crictl's default, as cri_client's


@dataclass(frozen=True, slots=True)
class Options:
    instance: str
    docker_host: str | None
    mode: Mode
    infra_image: str
    default_runtime: str
    allowed_runtimes: frozenset[str] | None
    allowed_modes: frozenset[Mode] | None
    policy: Policy = BASELINE
    limits: InputLimits = DEFAULT_LIMITS
    driver: str = DOCKER.name  # a key of DRIVERS
    cri_endpoint: str = CRI_ENDPOINT
    cri_state_dir: str | None = None  # the CRI driver's volumes, claims and logs

    @property
    def build(self) -> BuildConfig:
        return BuildConfig(
            self.instance,
            self.mode,
            self.infra_image,
            self.default_runtime,
            self.allowed_runtimes,
            self.allowed_modes,
            driver=DRIVERS[self.driver],
            policy=self.policy,
        )


def _csv(value: str | None) -> frozenset[str] | None:
    return None if value is None else frozenset(v.strip() for v in value.split(",") if v.strip())


def _instance(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    from reconciler.core.models import _dns_label

    try:
        return _dns_label(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--instance",
    envvar="RECONCILER_INSTANCE",
    default="default",
    show_default=True,
    callback=_instance,
    help="Owner name written to io.reconciler.managed-by.",
)
@click.option(
    "--docker-host",
    envvar="DOCKER_HOST",
    default=None,
    help="Docker daemon address (default: the local socket).",
)
@click.option(
    "--driver",
    "driver_name",
    envvar="RECONCILER_DRIVER",
    default=DOCKER.name,
    type=click.Choice(sorted(DRIVERS)),
    show_default=True,
    help="The container engine's driver.",
)
@click.option(
    "--cri-endpoint",
    envvar="CONTAINER_RUNTIME_ENDPOINT",
    default=CRI_ENDPOINT,
    show_default=True,
    help="The CRI runtime's socket (--driver cri), as crictl takes it.",
)
@click.option(
    "--cri-state-dir",
    envvar="RECONCILER_CRI_STATE_DIR",
    default=None,
    metavar="DIR",
    help="Where the cri driver keeps volumes, owner claims and container logs "
    "(default: /var/lib/reconciler-cri).",
)
@click.option(
    "--mode",
    envvar="RECONCILER_MODE",
    default=Mode.CONTAINER_IN_SANDBOX.value,
    type=click.Choice([m.value for m in Mode]),
    show_default=True,
    help="How a Sandbox runs: an infra holding shared namespaces, or bare.",
)
@click.option(
    "--config",
    "config_path",
    envvar="RECONCILER_CONFIG",
    default=None,
    metavar="PATH",
    help=f"Operator configuration file (default: {DEFAULT_CONFIG} when present).",
)
@click.option(
    "--default-runtime",
    envvar="RECONCILER_DEFAULT_RUNTIME",
    default="runc",
    show_default=True,
    help="Runtime of manifests that name none.",
)
@click.option(
    "--allowed-runtimes",
    envvar="RECONCILER_ALLOWED_RUNTIMES",
    default=None,
    metavar="LIST",
    help="Comma-separated runtimes manifests may use (default: any the daemon offers).",
)
@click.option(
    "--allowed-modes",
    envvar="RECONCILER_ALLOWED_MODES",
    default=None,
    metavar="LIST",
    help="Comma-separated modes a manifest's spec.mode may pick (default: only --mode).",
)
@click.option(
    "--infra-image",
    envvar="RECONCILER_INFRA_IMAGE",
    default=DEFAULT_INFRA_IMAGE,
    show_default=True,
    help="Image of the infra container that holds the namespaces.",
)
@click.option(
    "--policy",
    "policy_level",
    envvar="RECONCILER_POLICY",
    default=None,
    type=click.Choice([level.value for level in Level]),
    help="Security policy level (default: the config's policy.level, else baseline); "
    "privileged switches the policy off.",
)
@click.version_option(package_name="reconciler")
@click.pass_context
def cli(
    ctx: click.Context,
    instance: str,
    docker_host: str | None,
    driver_name: str,
    cri_endpoint: str,
    cri_state_dir: str | None,
    mode: str,
    config_path: str | None,
    default_runtime: str,
    allowed_runtimes: str | None,
    allowed_modes: str | None,
    infra_image: str,
    policy_level: str | None,
) -> None:
    """Keep sandboxed containers on a Docker host exactly as YAML manifests describe them."""
    del config_path  # read before parsing, in main(): its values are click's defaults
    # main() hands the operator config over as ctx.obj; its policy and input
    # limits are structures, not flags.
    operator = ctx.obj if isinstance(ctx.obj, OperatorConfig) else OperatorConfig()
    policy = operator.policy.to_policy()
    if policy_level is not None:
        policy = replace(policy, level=Level(policy_level))
    modes = _csv(allowed_modes)
    try:
        allowed = None if modes is None else frozenset(Mode(m) for m in modes)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--allowed-modes") from exc
    ctx.obj = Options(
        instance,
        docker_host,
        Mode(mode),
        infra_image,
        default_runtime,
        _csv(allowed_runtimes),
        allowed,
        policy,
        operator.input.to_limits(),
        driver_name,
        cri_endpoint,
        cri_state_dir,
    )


_files = click.option(
    "-f",
    "--filename",
    "paths",
    multiple=True,
    metavar="PATH",
    help="A manifest file or directory, or - for stdin. Repeatable.",
)
_recursive = click.option("-R", "--recursive", is_flag=True, help="Read directories recursively.")


def _color(stream: object = sys.stdout) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _load(paths: Sequence[str], recursive: bool) -> LoadResult:
    if not paths:
        raise click.UsageError("give at least one -f PATH")
    options = click.get_current_context().find_object(Options)
    limits = options.limits if options is not None else DEFAULT_LIMITS
    loaded = load_paths(paths, recursive, limits)
    color = _color(sys.stderr)
    if loaded.warnings:
        click.echo(render.problems_text(loaded.warnings, "warning", color), err=True)
    if loaded.errors:
        click.echo(render.problems_text(loaded.errors, "error", color), err=True)
    return loaded


def _compiled(
    options: Options, loaded: LoadResult, owner: Owner = ONE_SHOT
) -> tuple[Compiled, ...]:
    build = replace(options.build, owner=owner)
    return build_units([(m.manifest, m.source) for m in loaded.manifests], build)


def _admitted(options: Options, compiled: Sequence[Compiled], observed: Observation) -> Desired:
    """Admission (core/admission.py), against the runtimes the engine was seen to offer."""
    return admit(compiled, options.build, observed.runtimes)


def _applied(paths: Sequence[str]) -> Owner:
    """apply's owner: the absolute paths it read (``-`` is stdin)."""
    return applied(p if p == "-" else str(Path(p).resolve()) for p in paths)


_adopt = click.option(
    "--adopt",
    is_flag=True,
    help="Take over units another source (a watched directory, a git branch, apply) owns.",
)


def _driver(options: Options) -> Driver:
    """The driver ``--driver`` names: the only place a concrete one is named, imported
    only when a command needs the engine (import-linter holds it so)."""
    if options.driver == DOCKER.name:
        from reconciler.drivers.docker import DockerDriver

        return DockerDriver(options.instance, options.docker_host)
    if options.driver == CRI.name:
        try:
            from reconciler.drivers.cri import CriDriver
        except ImportError as exc:  # grpcio and protobuf come with the `cri` extra
            _fail(f"the cri driver needs the cri extra (pip install 'reconciler[cri]'): {exc}")
        return CriDriver(options.instance, options.cri_endpoint, options.cri_state_dir)
    raise click.UsageError(f"no such driver: {options.driver}")


def _observe(driver: Driver, units: Sequence[DesiredUnit]) -> Observation:
    names = [m.docker_name for u in units for m in u.members]
    names += [u.infra.docker_name for u in units if u.infra is not None]
    runtimes = {r for u in units for r in u.runtimes}
    try:
        return driver.observe(names, runtimes)
    except ReconcilerError as exc:
        _fail(str(exc), 2 if click.get_current_context().info_name == "diff" else 1)


def _plan(options: Options, desired: Desired, observed: Observation, config: PlanConfig) -> Plan:
    from reconciler.core.planner import plan

    result = plan(desired, observed, config)
    if result.warnings:
        click.echo("\n".join(f"warning: {w}" for w in result.warnings), err=True)
    return result


def _plan_config(options: Options, **kwargs: object) -> PlanConfig:
    from reconciler.core.planner import PlanConfig

    kwargs.setdefault("in_place", DRIVERS[options.driver].in_place)
    return PlanConfig(instance=options.instance, **kwargs)  # type: ignore[arg-type]


# How often a unit that another process changed meanwhile is observed and planned
# again: a process converging the same sandbox can beat us to each of its members
# in turn, so a round waits a little longer each time (0.2 s, 0.4 s, ...).
OBSERVE_AGAIN_ROUNDS = 10


def _run(
    plan: Plan,
    driver: Driver,
    parallel: int,
    dry_run: bool,
    output: str = "text",
    replan: Callable[[frozenset[UnitKey]], Plan] | None = None,
) -> tuple[int, Result | None]:
    """Execute ``plan`` (or only print it, with ``dry_run``): the exit code and the result.

    Units another process changed meanwhile (a name conflict with our own
    instance, a container gone) go round again through ``replan``.
    With ``output="json"`` nothing is printed here: the caller prints one document.
    On a terminal a progress line shows units done / total and the current action.
    """
    color = _color()
    if dry_run:
        if output == "text":
            text = render.plan_text(plan, color)
            click.echo(text or "no changes")
        return (0 if not plan.errors else 1), None
    from reconciler.cli.progress import Progress
    from reconciler.converge.executor import execute

    progress = None
    if output == "text" and _color(sys.stdout) and _color(sys.stderr):
        progress = Progress(sys.stderr, {u.key: len(u.actions) for u in plan.units})

    def say(line: str) -> None:
        if output != "text":
            return
        if progress is None:
            click.echo(line)
        else:
            progress.print(line, sys.stdout)

    def begin(key: UnitKey, action: Action) -> None:
        text = waiting_text(action)
        if text is not None:
            say(f"{key}: {text}")
        if progress is not None:
            progress.begin(key, action)

    def done(key: UnitKey, outcome: Outcome) -> None:
        say(render.outcome_text(key, outcome, color))
        if progress is not None:
            progress.finished(key, outcome)

    try:
        result = execute(plan, driver, parallel, on_outcome=done, on_begin=begin)
        for round_ in range(OBSERVE_AGAIN_ROUNDS if replan is not None else 0):
            again = frozenset(u.key for u in result.units if u.observe_again)
            if not again or replan is None:
                break
            time.sleep(0.2 * (round_ + 1))
            more = execute(replan(again), driver, parallel, on_outcome=done, on_begin=begin)
            result = result.followed_by(more)
    finally:
        if progress is not None:
            progress.close()
    summary = render.summary_text(result, color)
    if summary and output == "text":
        click.echo(summary)
    return (0 if result.ok else 1), result


_output = click.option(
    "-o",
    "--output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one document with the plan and outcome (docs/output.md).",
)


def _print_report(
    command: str,
    options: Options,
    plan: Plan,
    result: Result | None,
    loaded: LoadResult | None,
    dry_run: bool = False,
    not_found: Sequence[str] = (),
) -> None:
    import json

    from reconciler.cli.report import document

    click.echo(
        json.dumps(
            document(
                command,
                options.instance,
                plan,
                result,
                dry_run=dry_run,
                errors=loaded.errors if loaded else (),
                warnings=[str(w) for w in (loaded.warnings if loaded else ())]
                + [w.message for w in plan.warnings],
                not_found=not_found,
            ),
            indent=2,
        )
    )


@cli.command()
@_files
@_recursive
@click.option(
    "--prune", is_flag=True, help="Remove this instance's units the paths no longer define."
)
@click.option(
    "--allow-empty", is_flag=True, help="Let --prune remove everything when nothing is defined."
)
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@_adopt
@click.option(
    "--parallel",
    default=4,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Units converged at once.",
)
@_output
@click.pass_obj
def apply(
    options: Options,
    paths: tuple[str, ...],
    recursive: bool,
    prune: bool,
    allow_empty: bool,
    dry_run: bool,
    adopt: bool,
    parallel: int,
    output: str,
) -> None:
    """Converge the Docker host to the manifests, once.

    Units apply makes belong to apply; --prune removes only the units last
    applied from the same set of paths, never those of `run` or `sync`.
    """
    loaded = _load(paths, recursive)
    owner = _applied(paths)
    compiled = _compiled(options, loaded, owner)
    driver = _driver(options)
    observed = _observe(driver, [c.unit for c in compiled])
    desired = _admitted(options, compiled, observed)
    config = _plan_config(
        options,
        owner=owner,
        adopt=adopt,
        prune=prune,
        allow_empty=allow_empty,
        incomplete=not loaded.ok,
    )
    planned = _plan(options, desired, observed, config)

    def replan(keys: frozenset[UnitKey]) -> Plan:
        return _plan(options, desired, _observe(driver, desired.units), replace(config, only=keys))

    code, result = _run(planned, driver, parallel, dry_run, output, replan)
    if output == "json":
        _print_report("apply", options, planned, result, loaded, dry_run)
    sys.exit(code or (0 if loaded.ok else 1))


@cli.command()
@_files
@_recursive
@click.option("--prune", is_flag=True, help="Include removals of units the paths no longer define.")
@click.option(
    "--allow-empty", is_flag=True, help="Let --prune remove everything when nothing is defined."
)
@_adopt
@_output
@click.pass_obj
def diff(
    options: Options,
    paths: tuple[str, ...],
    recursive: bool,
    prune: bool,
    allow_empty: bool,
    adopt: bool,
    output: str,
) -> None:
    """Show what apply would do, and why. Exit 0: no changes, 1: changes, 2: error."""
    loaded = _load(paths, recursive)
    owner = _applied(paths)
    compiled = _compiled(options, loaded, owner)
    observed = _observe(_driver(options), [c.unit for c in compiled])
    desired = _admitted(options, compiled, observed)
    _notes(desired)
    config = _plan_config(
        options,
        owner=owner,
        adopt=adopt,
        prune=prune,
        allow_empty=allow_empty,
        incomplete=not loaded.ok,
    )
    result = _plan(options, desired, observed, config)
    if output == "json":
        _print_report("diff", options, result, None, loaded)
    else:
        text = render.plan_text(result, _color())
        if text:
            click.echo(text)
    if not loaded.ok or result.errors:
        sys.exit(2)
    sys.exit(1 if result.has_changes else 0)


def _parse_names(names: Sequence[str], namespace: str) -> tuple[set[UnitKey], set[str]]:
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


@cli.command()
@_files
@_recursive
@click.argument("names", nargs=-1)
@click.option(
    "-n", "--namespace", default="default", show_default=True, help="Namespace of the NAMEs."
)
@click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
@_output
@click.pass_obj
def delete(
    options: Options,
    paths: tuple[str, ...],
    recursive: bool,
    names: tuple[str, ...],
    namespace: str,
    dry_run: bool,
    output: str,
) -> None:
    """Remove units named by manifests (-f) or by NAME / KIND/NAME."""
    if not paths and not names:
        raise click.UsageError("give -f PATH or at least one NAME")
    keys, bare = _parse_names(names, namespace)
    ok = True
    loaded = None
    if paths:
        loaded = _load(paths, recursive)
        ok = loaded.ok
        keys |= {UnitKey(*m.identity) for m in loaded.manifests}
    driver = _driver(options)
    observed = _observe(driver, ())
    present = {c.unit_key for c in observed.containers if c.unit_key is not None}
    present |= observed.volume_units  # a unit that a crash left as only a volume
    named = {k for k in present if k.name in bare and k.namespace == namespace}
    keys |= named
    missing = [f"{key} not found" for key in sorted(keys - present)] + [
        f"{name}: no sandbox or container of that name in namespace {namespace}"
        for name in sorted(bare - {k.name for k in named})
    ]
    for message in missing:
        click.echo(f"error: {message}", err=True)
    config = _plan_config(options, delete=frozenset(keys & present))
    planned = _plan(options, Desired(), observed, config)
    code, result = _run(planned, driver, 4, dry_run, output)
    if output == "json":
        _print_report("delete", options, planned, result, loaded, dry_run, missing)
    sys.exit(code or (1 if missing or not ok else 0))


def _daemon(options: Options) -> str:
    """The engine's address: what a loop's lock and status are kept for."""
    if options.driver == CRI.name:
        return options.cri_endpoint
    return options.docker_host or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


_state_dir = click.option(
    "--state-dir",
    default=None,
    metavar="DIR",
    help="Where `run` and `sync` keep their lock and status, and `sync` its git mirror "
    "(default: $XDG_RUNTIME_DIR/reconciler or /run/reconciler).",
)


@cli.command()
@click.argument("names", nargs=-1)
@click.option("-n", "--namespace", default=None, help="Only this namespace.")
@click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json", "yaml"]),
    default="table",
    show_default=True,
)
@_state_dir
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
    After `reconciler sync`: the repository, branch, path, the last applied and
    attempted revisions and the last error (``sync`` in -o json).
    """
    from reconciler.loop.statefile import default_state_dir, read_records
    from reconciler.loop.status import merge_loop_status, unit_statuses

    driver = _driver(options)
    observed = _observe(driver, ())
    details = driver.inspect([c.id for c in observed.containers])
    statuses = unit_statuses(observed, options.instance, details)
    directory = Path(state_dir) if state_dir else default_state_dir()
    try:
        loops, unreadable = read_records(directory, options.instance, _daemon(options))
    except OSError as exc:
        loops, unreadable = [], [str(exc)]
    for problem in unreadable:
        click.echo(f"warning: the loops' status is unreadable: {problem}", err=True)
    for loop in loops:  # one per source: each reports only its own units
        statuses = merge_loop_status(statuses, loop)
    if namespace:
        statuses = [s for s in statuses if s.namespace == namespace]
    missing: list[str] = []
    if names:
        keys, bare = _parse_names(names, namespace or "default")
        statuses = [
            s
            for s in statuses
            if s.name in bare or UnitKey(Kind(s.kind), s.namespace, s.name) in keys
        ]
        found = {UnitKey(Kind(s.kind), s.namespace, s.name) for s in statuses}
        missing = [str(k) for k in sorted(keys - found)]
        missing += sorted(bare - {s.name for s in statuses})
    file_errors: dict[str, list[str]] = {}
    for loop in loops:
        file_errors |= {path: list(problems) for path, problems in loop.file_errors.items()}
    # What each `sync` follows and where it is.
    syncs = [sync for loop in loops if (sync := loop.sync) is not None]
    if output == "table":
        if statuses or not names:
            click.echo(render.status_table(statuses) if statuses else "no units")
        for sync in syncs if not names else ():
            click.echo(render.sync_text(sync))
        for s in statuses:
            if s.last_error:
                click.echo(f"{s.kind.lower()}/{s.name}: last error: {s.last_error}", err=True)
        for path, problems in sorted(file_errors.items()):
            for problem in problems:
                click.echo(
                    f"error: {problem} (the loop keeps what {path} defined before)", err=True
                )
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


def _loop_options(command: Callable[..., None]) -> Callable[..., None]:
    """The control loop's options, shared by `run` and `sync`."""
    options = (
        click.option(
            "--resync",
            default=30.0,
            show_default=True,
            type=click.FloatRange(min=0.1),
            help="Seconds between full passes over every unit.",
        ),
        click.option(
            "--backoff-initial",
            default=10.0,
            show_default=True,
            type=click.FloatRange(min=0),
            help="Crash-loop backoff: the wait before the second restart.",
        ),
        click.option(
            "--backoff-max",
            default=300.0,
            show_default=True,
            type=click.FloatRange(min=0),
            help="Crash-loop backoff: the cap of the doubling.",
        ),
        click.option(
            "--parallel",
            default=4,
            show_default=True,
            type=click.IntRange(1, 64),
            help="Units converged at once.",
        ),
        click.option(
            "--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True
        ),
        click.option(
            "--metrics-addr",
            envvar="RECONCILER_METRICS_ADDR",
            default=None,
            metavar="HOST:PORT",
            help="Serve Prometheus /metrics, /healthz and /readyz here (host default 127.0.0.1).",
        ),
    )
    for option in reversed(options):
        command = option(command)
    return command


@cli.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@_recursive
@_loop_options
@click.option(
    "--allow-empty", is_flag=True, help="Remove every container when the directory defines nothing."
)
@_adopt
@_state_dir
@click.pass_obj
def run(
    options: Options,
    directory: Path,
    recursive: bool,
    resync: float,
    backoff_initial: float,
    backoff_max: float,
    allow_empty: bool,
    parallel: int,
    log_format: str,
    adopt: bool,
    state_dir: str | None,
    metrics_addr: str | None,
) -> None:
    """Watch DIRECTORY and keep the Docker host as its manifests say, until stopped.

    The directory owns the units it defines: it prunes only those, and a unit
    another source owns is reported, not taken (unless --adopt).
    SIGTERM or SIGINT stops the loop and leaves the containers running.
    """
    from reconciler.loop.backoff import BackoffPolicy
    from reconciler.loop.control import Loop, LoopSettings
    from reconciler.loop.statefile import InstanceLock, default_state_dir, state_name

    _logging(log_format)
    if not directory.is_dir():
        _fail(f"{directory} is not a directory")
    if backoff_initial > backoff_max:
        raise click.BadParameter("--backoff-initial exceeds --backoff-max")
    daemon = _daemon(options)
    owner = watching(str(directory.resolve()))
    settings = LoopSettings(
        directory=directory.resolve(),
        build=replace(options.build, owner=owner),
        adopt=adopt,
        state_dir=Path(state_dir) if state_dir else default_state_dir(),
        state_name=state_name(options.instance, daemon, owner.source),
        daemon=daemon,
        recursive=recursive,
        resync=resync,
        backoff=BackoffPolicy(initial=backoff_initial, maximum=backoff_max),
        parallel=parallel,
        allow_empty=allow_empty,
        limits=options.limits,
    )
    try:
        with (
            InstanceLock(settings.state_dir, settings.state_name, daemon, options.instance),
            _served(metrics_addr, resync) as metrics,
        ):
            loop = Loop(settings, _driver(options), metrics=metrics)
            _stop_on_signals(loop.stop)
            loop.run()
    except ReconcilerError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"state directory {settings.state_dir}: {exc}")


@contextlib.contextmanager
def _served(addr: str | None, resync: float) -> Iterator[LoopMetrics | None]:
    """Metrics and health for a long-running command (run, and sync can reuse it),
    served on ``addr`` when given; None otherwise."""
    from reconciler.loop.metrics import Health, LoopMetrics, MetricsServer, parse_addr, stale_after

    if addr is None:
        yield None
        return
    metrics = LoopMetrics(Health(stale_after(resync)))
    try:
        host, port = parse_addr(addr)
        server = MetricsServer(metrics, host, port).start()
    except (ValueError, OSError) as exc:
        raise click.BadParameter(str(exc), param_hint="--metrics-addr") from exc
    logging.getLogger("reconciler").info(
        "serving /metrics, /healthz, /readyz on http://%s:%d", host, server.port
    )
    try:
        yield metrics
    finally:
        server.close()


@cli.command()
@click.option(
    "--repo", "url", required=True, metavar="URL", help="Repository to follow (any URL git takes)."
)
@click.option("--branch", default="main", show_default=True, help="Branch to follow.")
@click.option(
    "--path",
    "repo_path",
    default=".",
    show_default=True,
    metavar="DIR",
    help="Directory of the repository holding the manifests (read recursively).",
)
@click.option(
    "--interval",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0.1),
    help="Seconds between fetches.",
)
@click.option("--once", is_flag=True, help="Fetch, converge once and exit (exit status as apply).")
@click.option(
    "--allow-empty", is_flag=True, help="Let a commit that defines nothing remove every unit."
)
@click.option("--listen", default=None, metavar="HOST:PORT", help="Serve the webhook here.")
@click.option(
    "--webhook-secret-file",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding the webhook's HMAC secret (required with --listen).",
)
@click.option("--verify-commits", is_flag=True, help="Apply only commits signed by an allowed key.")
@click.option(
    "--allowed-signers",
    default=None,
    type=click.Path(dir_okay=False, path_type=Path),
    help="ssh allowed-signers file for --verify-commits (gpg.ssh.allowedSignersFile).",
)
@click.option(
    "--gnupg-home",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="GnuPG home whose keyring --verify-commits trusts.",
)
@_loop_options
@_adopt
@_state_dir
@click.pass_obj
def sync(
    options: Options,
    url: str,
    branch: str,
    repo_path: str,
    interval: float,
    once: bool,
    allow_empty: bool,
    listen: str | None,
    webhook_secret_file: Path | None,
    verify_commits: bool,
    allowed_signers: Path | None,
    gnupg_home: Path | None,
    resync: float,
    backoff_initial: float,
    backoff_max: float,
    parallel: int,
    log_format: str,
    metrics_addr: str | None,
    adopt: bool,
    state_dir: str | None,
) -> None:
    """Follow a branch of a git repository: keep the host as its manifests under --path say.

    One whole commit at a time: a commit with any broken file, a missing
    path or (with --verify-commits) no allowed signature changes nothing.
    The branch and path own the units they define: they prune only those,
    and a unit another source owns is reported, not taken (unless --adopt).
    SIGTERM or SIGINT stops it and leaves the containers running.
    """
    import hashlib

    from reconciler.loop.backoff import BackoffPolicy
    from reconciler.loop.control import Loop, LoopSettings
    from reconciler.loop.statefile import InstanceLock, default_state_dir, state_name
    from reconciler.sources.git import GitSettings, GitSource, owner_for_git
    from reconciler.sources.gitmirror import Mirror, check_branch, clean_path
    from reconciler.sources.webhook import Webhook, parse_listen

    _logging(log_format)
    try:
        branch = check_branch(branch)
        repo_path = clean_path(repo_path)
        address = parse_listen(listen) if listen else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc
    if address is not None and webhook_secret_file is None:
        raise click.UsageError("--listen needs --webhook-secret-file")
    if verify_commits and allowed_signers is None and gnupg_home is None:
        raise click.UsageError("--verify-commits needs --allowed-signers or --gnupg-home")
    if backoff_initial > backoff_max:
        raise click.BadParameter("--backoff-initial exceeds --backoff-max")
    secret = b""
    if webhook_secret_file is not None:
        try:
            secret = webhook_secret_file.read_bytes().strip()
        except OSError as exc:
            _fail(f"webhook secret: {exc}")
        if not secret:
            _fail(f"webhook secret: {webhook_secret_file} is empty")
    daemon = _daemon(options)
    states = Path(state_dir) if state_dir else default_state_dir()
    # A mirror per instance, daemon and source: two syncs never swap or clean
    # each other's trees (whose 'current' is the last commit good for its path).
    owner = owner_for_git(url, branch, repo_path)
    key = f"{state_name(options.instance, daemon)}\0{owner.source}"
    mirror = Mirror(url, branch, states / "git" / hashlib.sha256(key.encode()).hexdigest()[:16])
    source = GitSource(
        GitSettings(
            url=url,
            branch=branch,
            path=repo_path,
            interval=interval,
            allow_empty=allow_empty,
            verify_commits=verify_commits,
            allowed_signers=allowed_signers.resolve() if allowed_signers else None,
            gnupg_home=gnupg_home.resolve() if gnupg_home else None,
            limits=options.limits,
        ),
        mirror,
    )
    settings = LoopSettings(
        directory=mirror.current,
        build=replace(options.build, owner=owner),
        adopt=adopt,
        state_dir=states,
        state_name=state_name(options.instance, daemon, owner.source),
        daemon=daemon,
        resync=resync,
        backoff=BackoffPolicy(initial=backoff_initial, maximum=backoff_max),
        parallel=parallel,
        allow_empty=allow_empty,
    )
    try:
        with InstanceLock(states, settings.state_name, daemon, options.instance):
            if once:
                sys.exit(_sync_once(options, source, settings, parallel))
            with _served(metrics_addr, resync) as metrics:
                loop = Loop(settings, _driver(options), source, metrics=metrics)
                hook = None
                if address is not None:
                    hook = Webhook(*address, secret, source.trigger)
                    hook.start()
                _stop_on_signals(loop.stop)
                try:
                    loop.run()
                finally:
                    if hook is not None:
                        hook.stop()
    except ReconcilerError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"state directory {states}: {exc}")


def _sync_once(options: Options, source: GitSource, settings: LoopSettings, parallel: int) -> int:
    """Fetch, converge once; 0 converged, 1 the commit or a unit failed."""
    from datetime import UTC, datetime

    from reconciler.loop.statefile import write_record
    from reconciler.loop.statusrecord import LoopStatus

    source.poll()
    revision = source.revision
    code = 1 if source.last_error else 0
    if revision is not None:
        compiled = source.compiled(settings.build)
        driver = _driver(options)
        observed = _observe(driver, [c.unit for c in compiled])
        desired = _admitted(options, compiled, observed)
        config = _plan_config(
            options,
            owner=settings.build.owner,
            adopt=settings.adopt,
            prune=True,
            allow_empty=settings.allow_empty,
            incomplete=False,
        )
        code = _run(_plan(options, desired, observed, config), driver, parallel, False)[0] or code
    status = LoopStatus(
        instance=options.instance,
        daemon=settings.daemon,
        updated=datetime.now(UTC).isoformat(timespec="seconds"),
        source=source.status(),
    )
    try:
        write_record(settings.state_dir, settings.state_name, status)
    except OSError as exc:
        click.echo(f"warning: writing status: {exc}", err=True)
    return code


def _stop_on_signals(stop: threading.Event) -> None:
    """SIGTERM and SIGINT set ``stop`` (from another thread: a handler runs between two
    bytecodes of the main thread, which may be holding the event's own lock)."""
    import signal

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: threading.Thread(target=stop.set, daemon=True).start())


class _JsonLogs(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        import json

        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "message": record.getMessage(),
            "thread": record.threadName,
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def _logging(fmt: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(_JsonLogs())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)-7s %(message)s"))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.INFO)


@cli.command()
@_files
@_recursive
@click.pass_obj
def validate(options: Options, paths: tuple[str, ...], recursive: bool) -> None:
    """Check manifests and what their runtimes can share. Exit 0: valid, 1: invalid.

    Needs no daemon; when one answers, the runtimes it offers are checked too.
    """
    loaded = _load(paths, recursive)
    compiled = _compiled(options, loaded)
    offered = None
    if {r for c in compiled for r in c.unit.runtimes} - {"runc"}:
        try:
            offered = _driver(options).runtimes()
        except ReconcilerError as exc:
            click.echo(f"warning: runtimes not checked against the daemon: {exc}", err=True)
    desired = admit(compiled, options.build, offered)
    _notes(desired)
    for key, reason in desired.refused:
        click.echo(f"error: {key}: {reason}", err=True)
    if loaded.ok and not desired.refused:
        click.echo(f"{len(loaded.manifests)} manifest(s) valid in {len(loaded.files)} file(s)")
        sys.exit(0)
    sys.exit(1)


_DURATION = {"s": 1, "m": 60, "h": 3600}


def _since(value: str | None, now: float) -> float | None:
    """--since: a duration (30s, 5m, 2h) before now, or an RFC 3339 time."""
    import re
    from datetime import datetime

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
    from reconciler.core.selection import pick

    driver = _driver(options)
    try:
        observed = driver.observe(start_times=False)
        picked = pick(observed.containers, unit, namespace, container)
    except ReconcilerError as exc:
        _fail(str(exc))
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


@cli.command()
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
    import signal
    import time

    driver, container_id = _pick(options, unit, namespace, container)
    until = None
    if previous:
        if follow:
            raise click.UsageError("--previous and --follow do not go together")
        try:
            _, until = driver.run_times(container_id)
        except ReconcilerError as exc:
            _fail(str(exc))
        if until is None:
            _fail(f"{unit}: the container has not terminated since it was created: no previous run")
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
        _fail(str(exc))
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
        _fail(str(exc))
    if previous and not printed:
        _fail(
            f"{unit}: the last terminated run wrote nothing (a recreation takes "
            "the earlier runs' logs with the old container)"
        )


@cli.command("exec")
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
    import contextlib

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
        _fail(str(exc))
    sys.exit(code)


@contextlib.contextmanager
def _raw_terminal(fd: int) -> Iterator[None]:
    """The terminal in raw mode (keys go to the container's shell), restored after."""
    import termios
    import tty

    saved = termios.tcgetattr(fd)
    tty.setraw(fd)
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@cli.command()
@click.option(
    "-o", "--output", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.pass_obj
def version(options: Options, output: str) -> None:
    """Print reconciler's version, the Docker engine it sees and the runtimes offered.

    Works without a daemon, saying so (exit 0).
    """
    import json
    import platform
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as package_version

    try:
        mine = package_version("reconciler")
    except PackageNotFoundError:  # run from a source tree that was never installed
        mine = "unknown"
    data: dict[str, object] = {
        "reconciler": mine,
        "python": platform.python_version(),
        "dockerHost": _daemon(options),
        "driver": options.driver,
    }
    try:
        engine = _driver(options).engine()
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


@cli.command()
@_files
@_recursive
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
    import yaml

    from reconciler.formats.export import export as to_kubernetes

    del target  # one target so far; the option says what the output is
    loaded = _load(paths, recursive)
    exported = to_kubernetes(
        [m.manifest for m in loaded.manifests],
        "deployment" if workload == "deployment" else "pod",
    )
    for loss in exported.losses:
        click.echo(f"warning: {loss}", err=True)
    for file, name in _secrets(loaded.files):
        click.echo(
            f"warning: {file}: Secret {name}: what envFrom read from it is written as plain "
            "env values (the loader resolves envFrom); keep it a Secret on the cluster",
            err=True,
        )
    for note in exported.notes:
        click.echo(f"note: {note}", err=True)
    if exported.documents:
        click.echo(yaml.safe_dump_all(exported.documents, sort_keys=False).rstrip())
    sys.exit(0 if loaded.ok else 1)


def _secrets(files: Sequence[str]) -> list[tuple[str, str]]:
    """(file, name) of every Secret in the manifest files read (stdin is not read again)."""
    import yaml

    found = []
    for file in files:
        try:
            documents = list(yaml.safe_load_all(Path(file).read_text()))
        except (OSError, yaml.YAMLError):
            continue  # the loader has said what is wrong with it
        for doc in documents:
            if isinstance(doc, dict) and doc.get("kind") == "Secret":
                found.append((file, str((doc.get("metadata") or {}).get("name"))))
    return found


@cli.command()
@click.argument("compose_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def convert(compose_file: Path) -> None:
    """Turn a docker-compose file into manifests (YAML on stdout).

    Services joined with network_mode: service:X become members of X's
    sandbox; the others become standalone Containers. What a manifest cannot
    express is reported on stderr. Exit 1 when a service could not be converted.
    """
    import yaml

    from reconciler.formats.compose import convert as from_compose

    try:
        data = yaml.safe_load(compose_file.read_text())
    except (OSError, yaml.YAMLError) as exc:
        _fail(f"{compose_file}: {exc}")
    if not isinstance(data, dict):
        _fail(f"{compose_file}: not a compose file (a mapping with services:)")
    converted = from_compose(data, str(compose_file.resolve().parent))
    for loss in converted.losses:
        click.echo(f"warning: {compose_file}: {loss}", err=True)
    for error in converted.errors:
        click.echo(f"error: {compose_file}: {error}", err=True)
    if converted.documents:
        click.echo(yaml.safe_dump_all(converted.documents, sort_keys=False).rstrip())
    sys.exit(1 if converted.errors else 0)


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
    click.echo(render.dump(options.policy.describe(), output).rstrip())


def _notes(desired: Desired) -> None:
    for key, note in desired.notes:
        click.echo(f"note: {key}: {note}", err=True)


def _config_path(argv: Sequence[str]) -> tuple[Path | None, bool]:
    """The --config file (and whether it was asked for), found before click parses."""
    for i, arg in enumerate(argv):
        if arg == "--config" and i + 1 < len(argv):
            return Path(argv[i + 1]), True
        if arg.startswith("--config="):
            return Path(arg.split("=", 1)[1]), True
    if os.environ.get("RECONCILER_CONFIG"):
        return Path(os.environ["RECONCILER_CONFIG"]), True
    return (DEFAULT_CONFIG, False) if DEFAULT_CONFIG.exists() else (None, False)


def main(argv: Sequence[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    path, asked = _config_path(args)
    default_map: dict[str, object] = {}
    config = OperatorConfig()
    if path is not None and (asked or path.exists()):
        try:
            config = load_config(path)
        except ManifestError as exc:
            click.echo(render.problems_text(exc.problems, "error", _color(sys.stderr)), err=True)
            sys.exit(1)
        default_map = config.default_map()
    cli.main(args, prog_name="reconciler", default_map=default_map, obj=config)
