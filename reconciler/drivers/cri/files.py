"""A unit's volumes, owner claims and eviction record under CRI: files under the driver's
state directory. Does I/O.

CRI has no volumes, so an emptyDir is a host directory (``volumes/NAME/data``,
its labels in ``labels.json`` beside it) that the containers bind-mount, an
owner claim a small JSON file (``claims/NAME.json``) and an eviction record
another (``evictions/NAME.json``), each written atomically.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path

from reconciler.core import labels as L
from reconciler.core.naming import eviction_name
from reconciler.core.observed import Eviction
from reconciler.core.ownership import Claim, Owner, claim_name
from reconciler.core.spec import DesiredVolume, UnitKey
from reconciler.drivers.cri.selectors import unit_of as _unit_of
from reconciler.drivers.projection import write_files

Stored = tuple[
    tuple[tuple[UnitKey, Claim], ...],
    tuple[tuple[UnitKey, Mapping[str, str]], ...],
    tuple[tuple[UnitKey, Eviction], ...],
]


class Files:
    def __init__(self, state: Path, instance: str) -> None:
        self.state = state
        self.instance = instance

    @property
    def volumes_dir(self) -> Path:
        return self.state / "volumes"

    @property
    def claims_dir(self) -> Path:
        return self.state / "claims"

    @property
    def evictions_dir(self) -> Path:
        return self.state / "evictions"

    def ensure_volume(self, volume: DesiredVolume) -> None:
        """A host directory for the volume (kept when it exists), with its labels beside it."""
        root = self.volumes_dir / volume.name
        data = root / "data"
        data.mkdir(parents=True, exist_ok=True)
        (root / "labels.json").write_text(json.dumps(volume.labels))
        if volume.files is not None:  # a volume of files: only root reaches them on the host
            root.chmod(0o700)
            write_files(data, volume.files, volume.group)
        elif volume.group is not None:
            os.chown(data, 0, volume.group)
            data.chmod(0o2777)

    def remove_volumes(self, unit: UnitKey) -> None:
        for root, labels in _labelled(self.volumes_dir, "*/labels.json"):
            if _unit_of(labels) == unit and labels.get(L.MANAGED_BY) == self.instance:
                shutil.rmtree(root.parent, ignore_errors=True)
        self.lift_eviction(unit)

    def volume_path(self, name: str) -> str | None:
        """The host directory the volume's containers bind-mount, if it exists."""
        data = self.volumes_dir / name / "data"
        return str(data) if data.is_dir() else None

    def record_eviction(self, unit: UnitKey, eviction: Eviction) -> None:
        labels = {
            L.MANAGED_BY: self.instance,
            L.KIND: unit.kind.value,
            L.NAMESPACE: unit.namespace,
            L.SANDBOX: unit.name,
            L.EVICTED: eviction.fingerprint,
            L.EVICTION_MESSAGE: eviction.message,
        }
        self.evictions_dir.mkdir(parents=True, exist_ok=True)
        path = self.evictions_dir / f"{eviction_name(self.instance, unit)}.json"
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(labels))
        temporary.replace(path)

    def lift_eviction(self, unit: UnitKey) -> None:
        (self.evictions_dir / f"{eviction_name(self.instance, unit)}.json").unlink(missing_ok=True)

    def record_owner(self, unit: UnitKey, owner: Owner) -> None:
        name = claim_name(self.instance, unit.kind.value, unit.namespace, unit.name, owner)
        labels = {
            L.MANAGED_BY: self.instance,
            L.KIND: unit.kind.value,
            L.NAMESPACE: unit.namespace,
            L.SANDBOX: unit.name,
            L.CLAIM: "true",
        } | owner.labels()
        self.claims_dir.mkdir(parents=True, exist_ok=True)
        path = self.claims_dir / f"{name}.json"
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(labels))
        temporary.replace(path)
        for other, found in _labelled(self.claims_dir, "*.json"):
            if other != path and _unit_of(found) == unit:
                other.unlink(missing_ok=True)

    def stored(self, unit: UnitKey | None) -> Stored:
        """The claims, data volumes and evictions of this instance (``unit``'s only, when
        given)."""
        claims = []
        for path, labels in _labelled(self.claims_dir, "*.json"):
            key, owner = _unit_of(labels), Owner.from_labels(labels)
            if labels.get(L.MANAGED_BY) != self.instance or key is None or owner is None:
                continue
            if unit is None or key == unit:
                claims.append((key, Claim(path.stem, owner, path.stat().st_mtime)))
        volumes: list[tuple[UnitKey, Mapping[str, str]]] = []
        for _, labels in _labelled(self.volumes_dir, "*/labels.json"):
            key = _unit_of(labels)
            mine = labels.get(L.MANAGED_BY) == self.instance and key is not None
            if mine and key is not None and (unit is None or key == unit):
                volumes.append((key, labels))
        evictions = []
        for _, labels in _labelled(self.evictions_dir, "*.json"):
            key = _unit_of(labels)
            if labels.get(L.MANAGED_BY) != self.instance or key is None or L.EVICTED not in labels:
                continue
            if unit is None or key == unit:
                message = labels.get(L.EVICTION_MESSAGE, "")
                evictions.append((key, Eviction(message, labels[L.EVICTED])))
        return tuple(claims), tuple(volumes), tuple(evictions)


def _labelled(directory: Path, pattern: str) -> list[tuple[Path, dict[str, str]]]:
    found = []
    for path in sorted(directory.glob(pattern)):
        with contextlib.suppress(OSError, ValueError):
            found.append((path, {str(k): str(v) for k, v in json.loads(path.read_text()).items()}))
    return found


__all__ = ["Files"]
