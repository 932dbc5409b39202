"""Spec hashes v1 stay what they were: an upgrade of reconciler recreates no healthy container.

``data/spec_hash_v1.json`` holds 129 manifests that together use every field
an effective spec is made of, each with the hashes reconciler gave its
containers at commit a6a2086 (before the engine-neutral specs). Whatever
shape the effective specs take in memory, their v1 hash must not change:
a different hash means "spec changed", and every container would be
recreated on upgrade (DESIGN.md, pitfall 2).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.admission import compile_and_admit
from reconciler.core.compile import BuildConfig
from reconciler.core.manifests import load_text
from reconciler.core.models import Mode
from reconciler.core.policy import Level, Policy
from reconciler.drivers.docker.capabilities import DOCKER

CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "data" / "spec_hash_v1.json").read_text()
)


@pytest.mark.parametrize("case", CASES, ids=[c["case"] for c in CASES])
def test_the_v1_hash_of_every_container_is_unchanged(case: dict[str, Any]) -> None:
    loaded = load_text(case["manifest"], case["case"].replace("/", "_") + ".yaml")
    assert loaded.ok, [str(p) for p in loaded.errors]
    config = BuildConfig(
        "golden",
        mode=Mode(case["mode"]),
        infra_image="pause:test",
        policy=Policy(level=Level.PRIVILEGED),
        allowed_modes=frozenset(Mode),
        driver=DOCKER,
    )
    desired = compile_and_admit(loaded.manifests, config, values=loaded.values)
    assert not desired.refused
    (unit,) = desired.units
    hashes = {m.name: m.hash for m in unit.members}
    if unit.infra is not None:
        hashes["(infra)"] = unit.infra.hash
    assert hashes == case["hashes"]
