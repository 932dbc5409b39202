"""A v1 document (Pod, ConfigMap, Secret) read as Kubernetes reads it, before the models
validate it. No I/O.

What ``kubectl get -o yaml``, ``kubectl run --dry-run=client -o yaml`` and
``podman kube generate`` print is more than a desired state: an API server's
record of the object (uid, resourceVersion, managedFields, ...), a status,
the defaults it filled in, nulls, a scheduler's fields and the service
account token volume its admission adds. Here, for each field the model
lacks (``kubefields.VERDICTS``):

- null is dropped: Kubernetes reads null as unset;
- an ``Ignored`` field is dropped, with a warning unless its value is
  Kubernetes' default (an explicit default means what its absence means);
- a ``Refused`` field whose value asks for what reconciler does anyway is
  dropped; with any other value it stays, and the model refuses it, naming
  it and why (``kubefields.refusal``);
- the service account token volume (``kube-api-access-*``) and its mounts are
  dropped with a warning: there is no API server to issue a token.

A field a model has is never dropped (but for a null), so a field added to a
model is read by the model from then on, whatever the table says.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from reconciler.core import kubefields, models
from reconciler.core.kubefields import Ignored

Path = tuple[str | int, ...]

# Where a model's name is not the Kubernetes object's (the rest have the same name).
_MODEL_NAMES = {
    "Pod": "PodManifest",
    "ConfigMap": "ConfigMapManifest",
    "Secret": "SecretManifest",
    "ObjectMeta": "Metadata",
    "ResourceRequirements": "Resources",
    "EmptyDirVolumeSource": "EmptyDirVolume",
    "HostPathVolumeSource": "HostPathVolume",
    "ConfigMapEnvSource": "ValuesRef",
    "SecretEnvSource": "ValuesRef",
    "PodDNSConfigOption": "DNSOption",
    "ConfigMapKeySelector": "KeySelector",
    "SecretKeySelector": "KeySelector",
    "ConfigMapVolumeSource": "ConfigMapVolume",
    "SecretVolumeSource": "SecretVolume",
    "DownwardAPIVolumeSource": "DownwardAPIVolume",
    "ProjectedVolumeSource": "ProjectedVolume",
    "ConfigMapProjection": "ProjectedConfigMap",
    "SecretProjection": "ProjectedSecret",
    "DownwardAPIProjection": "ProjectedDownwardAPI",
    "DownwardAPIVolumeFile": "DownwardAPIFile",
}
_VALUES_META = {"ConfigMap", "Secret"}  # their metadata is models.ValuesMetadata
TOKEN_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"


@dataclass(frozen=True, slots=True)
class Reading:
    """A document as the models are to validate it, and what reading it found."""

    data: Any
    # Items dropped from a list: the list's path (in ``data``) -> the index each kept
    # item had as written, so that a problem names the item where it is written.
    renumbered: Mapping[Path, tuple[int, ...]] = field(default_factory=dict)
    warnings: list[tuple[Path, str]] = field(default_factory=list)  # paths as written


def read(data: dict[str, Any], root: str) -> Reading:
    """``data`` (a document whose root object is ``root``: Pod, ConfigMap or Secret)
    as Kubernetes reads it."""
    warnings: list[tuple[Path, str]] = []
    if root == "Pod":
        data = _service_account_alias(data)
    cleaned = _object(data, root, (), root, warnings)
    renumbered: dict[Path, tuple[int, ...]] = {}
    if root == "Pod":
        cleaned = _without_token_volumes(cleaned, renumbered, warnings)
    return Reading(cleaned, renumbered, warnings)


def model_of(root: str, kind: str) -> type[BaseModel] | None:
    """The model that reads Kubernetes' object ``kind`` in a document of ``root``."""
    name = "ValuesMetadata" if kind == "ObjectMeta" and root in _VALUES_META else None
    found = getattr(models, name or _MODEL_NAMES.get(kind, kind), None)
    return found if isinstance(found, type) and issubclass(found, BaseModel) else None


@functools.cache
def model_fields(model: type[BaseModel]) -> frozenset[str]:
    """The names a model's fields are written with."""
    return frozenset(f.alias or name for name, f in model.model_fields.items())


def _object(
    value: dict[str, Any], kind: str, at: Path, root: str, warnings: list[tuple[Path, str]]
) -> dict[str, Any]:
    model = model_of(root, kind)
    if model is None:
        return value  # nothing here reads inside it: the model above refuses it whole
    kept: dict[str, Any] = {}
    for key, item in value.items():
        if item is None and kubefields.is_field(kind, key):
            continue  # Kubernetes reads null as unset
        if key in model_fields(model):
            kept[key] = _inside(item, kubefields.held(kind, key), (*at, key), root, warnings)
            continue
        found = kubefields.verdict(kind, key)
        if isinstance(found, Ignored):
            if found.warns and not kubefields.accepted(found, item):
                warnings.append(((*at, key), f"ignored: {found.why}"))
            continue
        if found is None or not kubefields.accepted(found, item):
            kept[key] = item  # unknown, or refused: the model says which, and why
    return kept


def _inside(
    value: Any, kind: str | None, at: Path, root: str, warnings: list[tuple[Path, str]]
) -> Any:
    if kind is None:
        return value
    if isinstance(value, dict):
        return _object(value, kind, at, root, warnings)
    if isinstance(value, list):
        return [
            _object(item, kind, (*at, i), root, warnings) if isinstance(item, dict) else item
            for i, item in enumerate(value)
        ]
    return value


def _service_account_alias(data: dict[str, Any]) -> dict[str, Any]:
    """serviceAccount, the deprecated alias, gives serviceAccountName when that is unset,
    as the API server does."""
    spec = data.get("spec")
    if not isinstance(spec, dict) or spec.get("serviceAccountName") is not None:
        return data
    if spec.get("serviceAccount") is None:
        return data
    return {**data, "spec": {**spec, "serviceAccountName": spec["serviceAccount"]}}


def _without_token_volumes(
    data: dict[str, Any], renumbered: dict[Path, tuple[int, ...]], warnings: list[tuple[Path, str]]
) -> dict[str, Any]:
    """The Pod without the service account token volumes an API server's admission adds."""
    spec = data.get("spec")
    if not isinstance(spec, dict) or not isinstance(spec.get("volumes"), list):
        return data
    members = [
        (group, index, member)
        for group in ("initContainers", "containers")
        if isinstance(spec.get(group), list)
        for index, member in enumerate(spec[group])
        if isinstance(member, dict)
    ]
    paths: dict[str, set[str]] = {}  # volume -> where it is mounted
    for _, _, member in members:
        for mount in _mounts(member):
            paths.setdefault(_name(mount), set()).add(str(mount.get("mountPath")))
    volumes: list[Any] = spec["volumes"]
    tokens = {i for i, v in enumerate(volumes) if _is_token_volume(v, paths)}
    if not tokens:
        return data
    names = {_name(volumes[i]) for i in tokens}
    warnings += [
        (
            ("spec", "volumes", i),
            "ignored, with its volumeMounts: the service account token an API server mounts "
            "(there is none here)",
        )
        for i in sorted(tokens)
    ]
    spec = {**spec, "volumes": _drop(volumes, tokens, ("spec", "volumes"), renumbered)}
    for group, index, member in members:
        mounts = member.get("volumeMounts")
        gone = {j for j, m in enumerate(_mounts(member)) if _name(m) in names}
        if gone and isinstance(mounts, list):
            at = ("spec", group, index, "volumeMounts")
            spec[group] = list(spec[group])
            spec[group][index] = {**member, "volumeMounts": _drop(mounts, gone, at, renumbered)}
    return {**data, "spec": spec}


def _mounts(member: dict[str, Any]) -> list[dict[str, Any]]:
    mounts = member.get("volumeMounts")
    return [m for m in mounts if isinstance(m, dict)] if isinstance(mounts, list) else []


def _name(item: dict[str, Any]) -> str:
    name = item.get("name")
    return name if isinstance(name, str) else ""


def _is_token_volume(volume: Any, paths: dict[str, set[str]]) -> bool:
    """Mounted only where kubelet puts a service account's token, and made of one: a
    projected serviceAccountToken (since 1.21) or a token Secret (before)."""
    if not isinstance(volume, dict) or paths.get(_name(volume)) != {TOKEN_PATH}:
        return False
    projected = volume.get("projected")
    sources = projected.get("sources") if isinstance(projected, dict) else None
    if isinstance(sources, list):
        return any(isinstance(s, dict) and "serviceAccountToken" in s for s in sources)
    return isinstance(volume.get("secret"), dict)


def _drop(
    items: list[Any], gone: set[int], at: Path, renumbered: dict[Path, tuple[int, ...]]
) -> list[Any]:
    renumbered[at] = tuple(i for i in range(len(items)) if i not in gone)
    return [item for i, item in enumerate(items) if i not in gone]
