"""Volumes of files: configMap, secret, downwardAPI and projected, as kubelet writes
them. No I/O: the files are computed here and written by the engine's driver
(drivers/projection.py) before the containers that mount them are created.

A ConfigMap or Secret is read from the source, as env reads it (values.py): a
missing one refuses the unit unless ``optional`` (then the volume is empty),
and a key ``items`` name that is not there likewise. The downward API gives
the pod's name, namespace, labels and annotations (the whole set in
Kubernetes' ``key="value"`` lines) and containers' resources; its uid is
refused here (it is known only once the sandbox exists, after the volume is
written). The files' content is part of the spec hash of every container
that mounts them (``MountSpec.content``), so a changed value recreates them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

from reconciler.core.models import (
    DownwardAPIFile,
    KeyToPath,
    Manifest,
    Volume,
)
from reconciler.core.spec import ProjectedFile
from reconciler.core.values import POD_FIELDS, Node, Path, Resolved, Resolver, ValueStore

_WHOLE = {"metadata.labels": "labels", "metadata.annotations": "annotations"}
_VOLUME_FIELDS = ("metadata.name", "metadata.namespace")


def project_volumes(
    manifest: Manifest, store: ValueStore, node: Node, out: Resolved
) -> dict[str, tuple[ProjectedFile, ...]]:
    """The files of each volume of files, by volume name; problems go to ``out``."""
    if not any(v.files for v in manifest.spec.volumes):
        return {}  # most units: nothing to resolve
    projector = _Projector(manifest, Resolver(manifest, store, node, out), out)
    found: dict[str, tuple[ProjectedFile, ...]] = {}
    for index, volume in enumerate(manifest.spec.volumes):
        if volume.files:
            files = projector.volume(volume, ("spec", "volumes", index))
            found[volume.name] = tuple(sorted(files.values(), key=lambda f: f.path))
    return found


def digest(files: Iterable[ProjectedFile]) -> str:
    """What the spec hash sees of a volume's files: their paths, modes and content."""
    canonical = json.dumps([[f.path, f.mode, f.content] for f in files], separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class _Projector:
    def __init__(self, manifest: Manifest, resolver: Resolver, out: Resolved) -> None:
        self.manifest, self.resolver, self.out = manifest, resolver, out

    def volume(self, volume: Volume, at: Path) -> dict[str, ProjectedFile]:
        files: dict[str, ProjectedFile] = {}
        if (cm := volume.config_map) is not None:
            where = (*at, "configMap")
            self._keys("ConfigMap", cm.name, cm.items, cm.optional, cm.default_mode, where, files)
        elif (secret := volume.secret) is not None:
            where = (*at, "secret")
            self._keys(
                "Secret",
                secret.secret_name,
                secret.items,
                secret.optional,
                secret.default_mode,
                where,
                files,
                name_field="secretName",
            )
        elif (downward := volume.downward_api) is not None:
            self._downward(downward.items, downward.default_mode, (*at, "downwardAPI"), files)
        elif (projected := volume.projected) is not None:
            mode = projected.default_mode
            for i, source in enumerate(projected.sources):
                where = (*at, "projected", "sources", i)
                if source.config_map is not None:
                    c = source.config_map
                    where = (*where, "configMap")
                    self._keys("ConfigMap", c.name, c.items, c.optional, mode, where, files)
                elif source.secret is not None:
                    s = source.secret
                    where = (*where, "secret")
                    self._keys("Secret", s.name, s.items, s.optional, mode, where, files)
                elif source.downward_api is not None:
                    items = source.downward_api.items
                    self._downward(items, mode, (*where, "downwardAPI"), files)
        return files

    def _keys(
        self,
        kind: str,
        name: str,
        items: list[KeyToPath],
        optional: bool,
        mode: int,
        at: Path,
        files: dict[str, ProjectedFile],
        name_field: str = "name",
    ) -> None:
        """A ConfigMap's or Secret's keys as files: every key, or the ``items``."""
        found, why = self.resolver.store.get(kind, self.manifest.metadata.namespace, name)
        if found is None:
            if not optional:
                self.out.errors.append(((*at, name_field), why))
            return
        if not items:
            for key in sorted(found):
                files[key] = ProjectedFile(key, found[key], mode)
            return
        for i, item in enumerate(items):
            if item.key not in found:
                if not optional:
                    where = f"{self.manifest.metadata.namespace}/{name}"
                    self.out.errors.append(
                        ((*at, "items", i, "key"), f"{kind} {where} has no key {item.key!r}")
                    )
                continue
            files[item.path] = ProjectedFile(item.path, found[item.key], item.mode or mode)

    def _downward(
        self, items: list[DownwardAPIFile], mode: int, at: Path, files: dict[str, ProjectedFile]
    ) -> None:
        for i, item in enumerate(items):
            content = self._downward_value(item, (*at, "items", i))
            if content is not None:
                files[item.path] = ProjectedFile(item.path, content, item.mode or mode)

    def _downward_value(self, item: DownwardAPIFile, at: Path) -> str | None:
        if item.resource_field_ref is not None:
            # containerName is required here (the model's rule): the resolver finds it,
            # or says there is no such container.
            selector = item.resource_field_ref
            return self.resolver.resource(selector, self.manifest.spec, (*at, "resourceFieldRef"))
        assert item.field_ref is not None
        path = item.field_ref.field_path
        meta = self.manifest.metadata
        if path in _WHOLE:
            pairs = meta.labels if path == "metadata.labels" else meta.annotations
            # Kubernetes' format (fieldpath.FormatMap): one key="value" per line, sorted, the
            # value Go-quoted, no newline after the last.
            return "\n".join(
                f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in sorted(pairs.items())
            )
        if path in POD_FIELDS:
            self.out.errors.append(
                (
                    (*at, "fieldRef", "fieldPath"),
                    f"{path} is known only once the sandbox exists, after its volumes are "
                    "written: give it to the container through env instead",
                )
            )
            return None
        if path in _VOLUME_FIELDS or path.startswith(("metadata.labels[", "metadata.annotations[")):
            return self.resolver.field(path)
        self.out.errors.append(
            (
                (*at, "fieldRef", "fieldPath"),
                f"{path!r} is not one Kubernetes gives a downwardAPI volume (metadata.name, "
                "metadata.namespace, metadata.labels, metadata.annotations, or one key of them)",
            )
        )
        return None
