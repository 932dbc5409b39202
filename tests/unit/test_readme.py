"""The README's manifest example is valid as printed: users copy it first."""

from __future__ import annotations

import re
from pathlib import Path

from reconciler.desired import BuildConfig, build_units
from reconciler.manifests import load_text

README = Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_manifest_example_loads_and_is_not_refused() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(), re.S)
    example = next(b for b in blocks if "kind: Sandbox" in b and "kind: Container" in b)
    loaded = load_text(example, "README.md")
    assert loaded.ok, [str(p) for p in loaded.errors]
    desired = build_units(
        [(m.manifest, m.source) for m in loaded.manifests],
        BuildConfig("readme", infra_image="pause:test"),
    )
    assert not desired.refused
    assert {u.key.name for u in desired.units} == {"web", "cache"}
