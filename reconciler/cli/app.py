"""The command group: global options, the operator's config file, and ``main``.

Commands are loaded by name when run (``LazyGroup``): each family's module
imports what its commands need at its top, and a command pays for no other
family's imports (measured: `reconciler version` imported the loop, the
sources and the executor, ~60 ms, when every module was imported for the group).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import click

from reconciler.cli import render
from reconciler.cli.common import color
from reconciler.cli.config import DEFAULT_PATH as DEFAULT_CONFIG
from reconciler.cli.config import OperatorConfig, load_config
from reconciler.cli.engines import CRI_ENDPOINT, DRIVERS
from reconciler.cli.options import Options
from reconciler.core.compile import DEFAULT_INFRA_IMAGE
from reconciler.core.errors import ManifestError
from reconciler.core.models import Mode, dns_label
from reconciler.core.policy import Level
from reconciler.core.seccomp import DEFAULT_DIRECTORY as SECCOMP_DIRECTORY
from reconciler.drivers.docker.capabilities import DOCKER

# Each command, by the module of its family (reconciler/cli/NAME.py) and its function.
COMMANDS = {
    "apply": ("converge", "apply"),
    "diff": ("converge", "diff"),
    "delete": ("converge", "delete"),
    "get": ("status", "get"),
    "run": ("loops", "run"),
    "sync": ("loops", "sync"),
    "validate": ("check", "validate"),
    "policy": ("check", "policy_command"),
    "schema": ("check", "schema"),
    "logs": ("containers", "logs"),
    "exec": ("containers", "exec_"),
    "export": ("convert", "export"),
    "convert": ("convert", "convert"),
    "version": ("version", "version"),
}


class LazyGroup(click.Group):
    """A group whose commands are imported only when named (or listed, for help)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, attribute = COMMANDS[cmd_name]
        command = getattr(importlib.import_module(f"reconciler.cli.{module}"), attribute)
        assert isinstance(command, click.Command)
        return command


def _csv(value: str | None) -> frozenset[str] | None:
    return None if value is None else frozenset(v.strip() for v in value.split(",") if v.strip())


def _instance(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    try:
        return dns_label(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


def _read_config(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    """--config (or $RECONCILER_CONFIG, else the default file when present), read first
    (the option is eager): its values become click's defaults for every other option,
    below the command line and the environment; the config itself goes on as ctx.obj."""
    path = Path(value) if value else (DEFAULT_CONFIG if DEFAULT_CONFIG.exists() else None)
    if path is None:
        return
    try:
        config = load_config(path)
    except ManifestError as exc:
        click.echo(render.problems_text(exc.problems, "error", color(sys.stderr)), err=True)
        ctx.exit(1)
    ctx.default_map = {**config.default_map(), **(ctx.default_map or {})}
    ctx.obj = config


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
    "--age-identity",
    envvar="RECONCILER_AGE_IDENTITY",
    default=None,
    type=click.Path(exists=True, dir_okay=False),
    help="An age identity file: *.yaml.age manifests are decrypted with it, in memory.",
)
@click.option(
    "--seccomp-profile-dir",
    envvar="RECONCILER_SECCOMP_PROFILE_DIR",
    default=SECCOMP_DIRECTORY,
    show_default=True,
    metavar="DIR",
    help="Where seccompProfile type Localhost finds its localhostProfile (kubelet's is "
    "/var/lib/kubelet/seccomp).",
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
    is_eager=True,
    expose_value=False,
    callback=_read_config,
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
    age_identity: str | None,
    seccomp_profile_dir: str,
    mode: str,
    default_runtime: str,
    allowed_runtimes: str | None,
    allowed_modes: str | None,
    infra_image: str,
    policy_level: str | None,
) -> None:
    """Keep sandboxed containers on a Docker host exactly as YAML manifests describe them."""
    # _read_config hands the operator config over as ctx.obj; its policy and input
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
        age_identity,
        seccomp_profile_dir,
    )


def main(argv: Sequence[str] | None = None) -> None:
    cli.main(list(sys.argv[1:] if argv is None else argv), prog_name="reconciler")
