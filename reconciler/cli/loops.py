"""`run` and `sync`: the control loop over a watched directory or a git branch."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from reconciler.cli import common, engines
from reconciler.cli.converge import APPLY_CODES, converge
from reconciler.cli.options import Options
from reconciler.core.errors import ReconcilerError
from reconciler.core.ownership import Owner, watching
from reconciler.core.planner import PlanConfig
from reconciler.loop.backoff import BackoffPolicy
from reconciler.loop.control import Loop, LoopSettings
from reconciler.loop.evictions import INTERVAL as EVICTION_INTERVAL
from reconciler.loop.gate import DEFAULT_MIN_READY, RevisionGate, Verdict
from reconciler.loop.metrics import Health, LoopMetrics, MetricsServer, parse_addr, stale_after
from reconciler.loop.statefile import InstanceLock, default_state_dir, state_name, write_record
from reconciler.loop.statusrecord import LoopStatus
from reconciler.sources.git import GitSettings, GitSource, PruneLimit, owner_for_git
from reconciler.sources.gitmirror import Mirror, check_branch, clean_path
from reconciler.sources.notify import Emit, Event, EventNotifier, check_url
from reconciler.sources.webhook import Webhook, parse_listen


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
            "--eviction-interval",
            default=EVICTION_INTERVAL,
            show_default=True,
            type=click.FloatRange(min=0),
            help="Seconds between measurements of the disk emptyDirs with a sizeLimit; "
            "a unit using more is evicted (0: sizeLimit on disk not enforced).",
        ),
        click.option(
            "--image-check",
            default=300.0,
            show_default=True,
            type=click.FloatRange(min=0),
            help="Seconds between pulls of the images of units annotated "
            "reconciler.io/image-update: registry; a container on an older image than its "
            "tag names is made again (0: never).",
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


@dataclass(frozen=True, slots=True)
class LoopFlags:
    """The control loop's options, as `run` and `sync` both take them."""

    resync: float
    backoff_initial: float
    backoff_max: float
    eviction_interval: float
    image_check: float
    parallel: int
    log_format: str
    metrics_addr: str | None
    allow_empty: bool
    adopt: bool
    state_dir: str | None

    def checked(self) -> None:
        _logging(self.log_format)
        if self.backoff_initial > self.backoff_max:
            raise click.BadParameter("--backoff-initial exceeds --backoff-max")

    @property
    def states(self) -> Path:
        return Path(self.state_dir) if self.state_dir else default_state_dir()

    def settings(
        self, options: Options, owner: Owner, directory: Path, **more: Any
    ) -> LoopSettings:
        """The loop's settings for the source ``owner``, whose manifests are in ``directory``."""
        daemon = common.daemon(options)
        return LoopSettings(
            directory=directory,
            build=options.build_for(owner),
            adopt=self.adopt,
            state_dir=self.states,
            state_name=state_name(options.instance, daemon, owner.source),
            daemon=daemon,
            resync=self.resync,
            backoff=BackoffPolicy(initial=self.backoff_initial, maximum=self.backoff_max),
            eviction_interval=self.eviction_interval,
            image_check=self.image_check,
            parallel=self.parallel,
            allow_empty=self.allow_empty,
            limits=options.limits,
            decrypt=options.decrypt,
            **more,
        )


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@common.recursive
@_loop_options
@click.option(
    "--allow-empty", is_flag=True, help="Remove every container when the directory defines nothing."
)
@common.adopt
@common.state_dir
@click.pass_obj
def run(options: Options, /, directory: Path, recursive: bool, **flags: Any) -> None:
    """Watch DIRECTORY and keep the Docker host as its manifests say, until stopped.

    The directory owns the units it defines: it prunes only those, and a unit
    another source owns is reported, not taken (unless --adopt).
    SIGTERM or SIGINT stops the loop and leaves the containers running.
    """
    loop_flags = LoopFlags(**flags)
    loop_flags.checked()
    if not directory.is_dir():
        common.fail(f"{directory} is not a directory")
    owner = watching(str(directory.resolve()))
    settings = loop_flags.settings(options, owner, directory.resolve(), recursive=recursive)
    try:
        with (
            InstanceLock(
                settings.state_dir, settings.state_name, settings.daemon, options.instance
            ),
            _served(loop_flags.metrics_addr, loop_flags.resync) as metrics,
            engines.driver(options) as driver,
        ):
            loop = Loop(settings, driver, metrics=metrics)
            _stop_on_signals(loop.stop)
            loop.run()
    except ReconcilerError as exc:
        common.fail(str(exc))
    except OSError as exc:
        common.fail(f"state directory {settings.state_dir}: {exc}")


@contextlib.contextmanager
def _served(addr: str | None, resync: float) -> Iterator[LoopMetrics | None]:
    """Metrics and health for a long-running command (run, and sync can reuse it),
    served on ``addr`` when given; None otherwise."""
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


@click.command()
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
@click.option(
    "--max-prune",
    default=None,
    metavar="N|P%",
    help="Refuse a commit that would remove more units than this (a count, or a percentage "
    "of the units the applied commit defines), naming them.",
)
@click.option(
    "--wait",
    default=None,
    type=click.FloatRange(min=0),
    metavar="S",
    help="Health gate: a commit counts as applied once every unit it changes is Ready "
    "(running, probes passing, no crash loop) within S seconds; a crash loop fails it at once.",
)
@click.option(
    "--min-ready",
    default=None,
    type=click.FloatRange(min=0),
    metavar="S",
    help=f"With --wait: how long a changed unit must stay Ready [default: {DEFAULT_MIN_READY:g}].",
)
@click.option(
    "--rollback",
    is_flag=True,
    help="With --wait: a commit failing its health gate gives way to the last healthy one, "
    "until a newer commit comes.",
)
@click.option(
    "--notify",
    default=None,
    metavar="URL",
    help="POST each sync event (applied, healthy, unhealthy, rolled back, refused, failed) "
    "as JSON to URL.",
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
@common.adopt
@common.state_dir
@click.pass_obj
def sync(options: Options, /, **flags: Any) -> None:
    """Follow a branch of a git repository: keep the host as its manifests under --path say.

    One whole commit at a time: a commit with any broken file, a missing
    path or (with --verify-commits) no allowed signature changes nothing.
    The branch and path own the units they define: they prune only those,
    and a unit another source owns is reported, not taken (unless --adopt).
    With --wait, a commit counts as applied once every unit it changes is
    Ready; with --rollback, one that fails that goes back to the last healthy.
    SIGTERM or SIGINT stops it and leaves the containers running.
    """
    f = SyncFlags(**flags)
    f.checked()
    git = f.git(options)
    address = parse_listen(f.listen) if f.listen else None
    secret = _webhook_secret(f.webhook_secret_file)
    try:
        with _notifying(f.notify) as emit:
            _sync(options, f, git, emit, address, secret)
    except ReconcilerError as exc:
        common.fail(str(exc))
    except OSError as exc:
        common.fail(f"state directory {f.states}: {exc}")


def _sync(
    options: Options,
    f: SyncFlags,
    git: GitSettings,
    emit: Emit | None,
    address: tuple[str, int] | None,
    secret: bytes,
) -> None:
    """`sync` once, or its loop until stopped."""
    owner = owner_for_git(git.url, git.branch, git.path)
    source = _git_source(options, f.states, git, owner.source, emit)
    settings = f.settings(options, owner, source.mirror.current)
    with InstanceLock(f.states, settings.state_name, settings.daemon, options.instance):
        if f.once:
            code = _sync_once(options, source, settings, f.parallel)
            raise SystemExit(code)
        gate = _gate(source, git.wait, f.min_ready) if git.wait is not None else None
        with _served(f.metrics_addr, f.resync) as metrics, engines.driver(options) as driver:
            loop = Loop(settings, driver, source, metrics=metrics, gate=gate)
            if emit is not None:
                loop.images.on_moved = _image_moved(emit, source, owner.source)
            with _webhook(address, secret, source.trigger):
                _stop_on_signals(loop.stop)
                loop.run()


def _image_moved(
    emit: Emit, source: GitSource, owner: str
) -> Callable[[str, str, tuple[str, ...]], None]:
    """The image watch's news, as a sync event (--notify)."""

    def moved(image: str, now: str, units: tuple[str, ...]) -> None:
        revision = source.revision.commit if source.revision is not None else None
        emit(Event("image-updated", revision, owner, units, f"{image} now names {now}"))

    return moved


def _gate(source: GitSource, wait: float, min_ready: float | None) -> RevisionGate:
    """The health gate of `sync --wait`, its verdicts told to the source (which rolls back)."""

    def judged(verdict: Verdict) -> None:
        if verdict.healthy:
            source.healthy(verdict.revision, verdict.units)
        else:
            source.unhealthy(verdict.revision, verdict.units, verdict.reasons, verdict.timed_out)

    ready = DEFAULT_MIN_READY if min_ready is None else min_ready
    return RevisionGate(wait, judged, source.progressing, min_ready=ready)


@contextlib.contextmanager
def _notifying(url: str | None) -> Iterator[Emit | None]:
    """--notify: the events posted from a thread of their own while sync runs, and what is
    queued still posted (for a few seconds) when it ends."""
    if url is None:
        yield None
        return
    notifier = EventNotifier(url).start()
    try:
        yield notifier.emit
    finally:
        notifier.close()


@dataclass(frozen=True, slots=True)
class SyncFlags(LoopFlags):
    """What `sync` takes beyond the loop's options: the branch, the webhook, signatures."""

    url: str
    branch: str
    repo_path: str
    interval: float
    once: bool
    listen: str | None
    webhook_secret_file: Path | None
    verify_commits: bool
    allowed_signers: Path | None
    gnupg_home: Path | None
    max_prune: str | None
    wait: float | None
    min_ready: float | None
    rollback: bool
    notify: str | None

    def checked(self) -> None:
        LoopFlags.checked(self)
        try:
            check_branch(self.branch)
            clean_path(self.repo_path)
            if self.listen:
                parse_listen(self.listen)
            if self.max_prune is not None:
                PruneLimit.parse(self.max_prune)
            if self.notify is not None:
                check_url(self.notify)
        except ValueError as exc:
            raise click.BadParameter(str(exc)) from exc
        if self.wait is None and (self.rollback or self.min_ready is not None):
            raise click.UsageError("--rollback and --min-ready need --wait")
        if self.wait is not None and self.once:
            raise click.UsageError("--wait needs the loop: it cannot be used with --once")
        if self.listen and self.webhook_secret_file is None:
            raise click.UsageError("--listen needs --webhook-secret-file")
        if self.verify_commits and self.allowed_signers is None and self.gnupg_home is None:
            raise click.UsageError("--verify-commits needs --allowed-signers or --gnupg-home")

    def git(self, options: Options) -> GitSettings:
        return GitSettings(
            url=self.url,
            branch=check_branch(self.branch),
            path=clean_path(self.repo_path),
            interval=self.interval,
            allow_empty=self.allow_empty,
            verify_commits=self.verify_commits,
            allowed_signers=self.allowed_signers.resolve() if self.allowed_signers else None,
            gnupg_home=self.gnupg_home.resolve() if self.gnupg_home else None,
            limits=options.limits,
            max_prune=PruneLimit.parse(self.max_prune) if self.max_prune is not None else None,
            decrypt=options.decrypt,
            wait=self.wait,
            rollback=self.rollback,
        )


def _webhook_secret(path: Path | None) -> bytes:
    """The webhook's HMAC secret from --webhook-secret-file (empty without one)."""
    if path is None:
        return b""
    try:
        secret = path.read_bytes().strip()
    except OSError as exc:
        common.fail(f"webhook secret: {exc}")
    if not secret:
        common.fail(f"webhook secret: {path} is empty")
    return secret


def _git_source(
    options: Options, states: Path, settings: GitSettings, owner: str, emit: Emit | None
) -> GitSource:
    """The branch to follow, through a mirror of its own under ``states``; ``emit`` is told
    its events (--notify)."""
    # A mirror per instance, daemon and source: two syncs never swap or clean
    # each other's trees (whose 'current' is the last commit good for its path).
    key = f"{state_name(options.instance, common.daemon(options))}\0{owner}"
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    mirror = Mirror(settings.url, settings.branch, states / "git" / digest)
    return GitSource(settings, mirror, emit)


@contextlib.contextmanager
def _webhook(
    address: tuple[str, int] | None, secret: bytes, trigger: Callable[[], None]
) -> Iterator[None]:
    """The webhook (sources/webhook.py) served while the loop runs, when --listen asks."""
    if address is None:
        yield
        return
    hook = Webhook(*address, secret, trigger)
    hook.start()
    try:
        yield
    finally:
        hook.stop()


def _sync_once(options: Options, source: GitSource, settings: LoopSettings, parallel: int) -> int:
    """Fetch, converge once; 0 converged, 1 the commit or a unit failed."""
    source.poll()
    revision = source.revision
    code = 1 if source.last_error else 0
    if revision is not None:
        config = PlanConfig.of(
            settings.build, adopt=settings.adopt, prune=True, allow_empty=settings.allow_empty
        )
        compiled = source.compiled(settings.build)
        done = converge(options, compiled, config, parallel=parallel, rounds=0)
        code = APPLY_CODES[done.verdict] or code
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
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: threading.Thread(target=stop.set, daemon=True).start())


class _JsonLogs(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:

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
