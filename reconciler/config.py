"""The operator's configuration file (``--config``, default /etc/reconciler/config.yaml).

Reads one YAML file; no Docker. Precedence is flags > environment > this
file > built-in defaults: the CLI hands the file's values to click as its
``default_map``, which click ranks below the command line and the environment.
Unknown keys are errors that name the file, the line and the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from pydantic import Field

from reconciler.errors import Location, ManifestError, Problem
from reconciler.manifests import parse_document, validate
from reconciler.models import DnsLabel, Mode, Model, NonEmpty

DEFAULT_PATH = Path("/etc/reconciler/config.yaml")
Seconds = Annotated[float, Field(gt=0)]


class OperatorConfig(Model):
    """What an operator may set for every command (and for `run`)."""

    instance: DnsLabel | None = None
    docker_host: NonEmpty | None = None
    mode: Mode | None = None
    allowed_modes: list[Mode] | None = None  # what a manifest's spec.mode may choose
    default_runtime: NonEmpty | None = None  # for manifests that name no runtime
    allowed_runtimes: list[NonEmpty] | None = None  # None: any the daemon offers
    infra_image: NonEmpty | None = None
    state_dir: NonEmpty | None = None
    resync: Seconds | None = None
    backoff_initial: Seconds | None = None
    backoff_max: Seconds | None = None

    def default_map(self) -> dict[str, Any]:
        """click's default_map: global options at the top, `run`'s under "run"."""
        top = {
            "instance": self.instance,
            "docker_host": self.docker_host,
            "mode": self.mode.value if self.mode else None,
            "allowed_modes": ",".join(m.value for m in self.allowed_modes)
            if self.allowed_modes is not None
            else None,
            "default_runtime": self.default_runtime,
            "allowed_runtimes": ",".join(self.allowed_runtimes)
            if self.allowed_runtimes is not None
            else None,
            "infra_image": self.infra_image,
        }
        run = {
            "state_dir": self.state_dir,
            "resync": self.resync,
            "backoff_initial": self.backoff_initial,
            "backoff_max": self.backoff_max,
        }
        result: dict[str, Any] = {k: v for k, v in top.items() if v is not None}
        run = {k: v for k, v in run.items() if v is not None}
        if run:
            result["run"] = run
        return result


def load_config(path: Path) -> OperatorConfig:
    """Read and validate the file; raise ManifestError naming each problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError([Problem(Location(str(path)), "", f"cannot read: {exc}")]) from exc
    parsed, problems = parse_document(text, str(path))
    if parsed is None:
        if problems:
            raise ManifestError(problems)
        return OperatorConfig()
    if not isinstance(parsed.data, dict):
        raise ManifestError([Problem(parsed.start, "", "the configuration must be a mapping")])
    config, problems = validate(OperatorConfig, parsed, "unknown configuration key")
    if config is None:
        raise ManifestError(problems)
    return config
