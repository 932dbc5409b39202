"""What the global options say: ``Options``, handed to every command (and the host it runs on)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from reconciler.cli.engines import CRI_ENDPOINT, DRIVERS
from reconciler.cli.node import this_host
from reconciler.cli.profiles import read_profiles
from reconciler.core.compile import BuildConfig
from reconciler.core.manifests import DEFAULT_LIMITS, Decrypt, InputLimits
from reconciler.core.models import Mode
from reconciler.core.ownership import Owner
from reconciler.core.policy import BASELINE, Policy
from reconciler.core.seccomp import DEFAULT_DIRECTORY
from reconciler.drivers.docker.capabilities import DOCKER
from reconciler.sources.age import age_decryptor


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
    age_identity: str | None = None  # decrypts *.yaml.age manifests
    seccomp_profile_dir: str = DEFAULT_DIRECTORY  # where Localhost seccomp profiles are

    @property
    def decrypt(self) -> Decrypt | None:
        """What opens *.age manifests, if an identity is given."""
        return age_decryptor(Path(self.age_identity)) if self.age_identity else None

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
            node=this_host(),
            seccomp=read_profiles(self.seccomp_profile_dir),
        )

    def build_for(self, owner: Owner) -> BuildConfig:
        """The settings units are compiled and planned with, for the source ``owner``."""
        return replace(self.build, owner=owner)
