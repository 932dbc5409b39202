"""The README's manifest example is valid as printed: users copy it first."""

from __future__ import annotations

import re
from pathlib import Path

from reconciler.core.admission import compile_and_admit
from reconciler.core.compile import BuildConfig
from reconciler.core.manifests import load_text
from reconciler.core.policy import Policy
from reconciler.drivers.docker.capabilities import DOCKER

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_manifest_example_loads_and_is_not_refused() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(), re.S)
    example = next(b for b in blocks if "kind: Sandbox" in b and "kind: Container" in b)
    loaded = load_text(example, "README.md")
    assert loaded.ok, [str(p) for p in loaded.errors]
    manifests = loaded.manifests
    # The example shows every field, some beyond the default policy (as its comments say).
    baseline = compile_and_admit(
        manifests, BuildConfig("readme", infra_image="pause:test", driver=DOCKER)
    )
    ((_, refusal),) = baseline.refused
    for rule in ("hostPath", "capabilities", "sysctls", "seccomp"):
        assert f"rule {rule})" in refusal
    allowing = Policy(
        allowed_host_paths=("/srv",),
        allowed_capabilities=frozenset({"NET_ADMIN"}),
        allowed_unsafe_sysctls=("net.core.somaxconn",),
        allow_unconfined_seccomp=True,
    )
    desired = compile_and_admit(
        manifests, BuildConfig("readme", infra_image="pause:test", policy=allowing, driver=DOCKER)
    )
    assert not desired.refused
    assert {u.key.name for u in desired.units} == {"web", "cache"}
