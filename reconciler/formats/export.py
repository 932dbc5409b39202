"""Units as Kubernetes manifests (`reconciler export --to kubernetes`). No I/O.

The manifest fields mirror the Pod spec, so most of a unit carries over as it
is. What has no equivalent in Kubernetes is returned as a ``Loss`` next to the
output, for the CLI to report: nothing is dropped silently.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from reconciler.core.models import (
    ContainerManifest,
    ContainerSpec,
    Manifest,
    Mode,
    Namespace,
    SandboxManifest,
    SandboxSpec,
)
from reconciler.core.values import LoadedValues

Workload = Literal["pod", "deployment"]
# Unit-level fields that a PodSpec has under the same name and meaning.
POD_FIELDS = ("hostname", "subdomain", "hostAliases", "dnsConfig", "imagePullSecrets")
# SandboxSpec fields mapped here one by one; any other is reported, never dropped.
_SANDBOX_MAPPED = frozenset(
    {
        "runtime", "mode", "share", "ports", "restartPolicy", "terminationGracePeriodSeconds",
        "volumes", "initContainers", "containers", "securityContext", *POD_FIELDS,
    }
)  # fmt: skip
NAME_LABEL = "app.kubernetes.io/name"
DEFAULT_RUNTIME = "runc"  # what a node runs without a runtimeClassName


@dataclass(frozen=True, slots=True)
class Loss:
    """Something of a unit that Kubernetes cannot say, or says differently."""

    unit: str  # kind/name
    field: str  # where in the unit's manifest
    message: str

    def __str__(self) -> str:
        return f"{self.unit}: {self.field}: {self.message}"


@dataclass(frozen=True, slots=True)
class Exported:
    documents: list[dict[str, Any]]
    losses: list[Loss]
    notes: list[str]  # what the cluster needs (a RuntimeClass), not a loss


def export(
    manifests: list[Manifest], workload: Workload = "pod", values: Iterable[LoadedValues] = ()
) -> Exported:
    """The units as Kubernetes documents, after the source's ConfigMaps and Secrets (which
    a cluster reads as reconciler does: envFrom and valueFrom are written as they are)."""
    documents: list[dict[str, Any]] = [_values_document(v) for v in values]
    losses: list[Loss] = []
    runtimes: set[str] = set()
    for manifest in manifests:
        unit = f"{manifest.kind.lower()}/{manifest.metadata.name}"
        if isinstance(manifest, SandboxManifest):
            pod_spec, runtime = _sandbox(manifest.spec, unit, losses)
        else:
            pod_spec, runtime = _standalone(manifest, unit, losses)
        if runtime and runtime != DEFAULT_RUNTIME:
            pod_spec["runtimeClassName"] = runtime
            runtimes.add(runtime)
        documents.append(_wrap(manifest, pod_spec, workload, unit, losses))
    notes = [
        f"runtimeClassName {r}: the cluster needs a RuntimeClass named {r!r} "
        "whose handler is configured on its nodes"
        for r in sorted(runtimes)
    ]
    return Exported(documents, losses, notes)


def _values_document(values: LoadedValues) -> dict[str, Any]:
    metadata = {"name": values.name, "namespace": values.namespace}
    if values.kind == "ConfigMap":
        return {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": metadata,
            "data": dict(values.data),
        }
    data = {k: base64.b64encode(v.encode()).decode() for k, v in values.data.items()}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "type": values.secret_type or "Opaque",
        "data": data,
    }


def _dump(model: Any) -> dict[str, Any]:
    data: dict[str, Any] = model.model_dump(
        mode="json", by_alias=True, exclude_defaults=True, exclude_none=True
    )
    return data


def _container(
    member: Any, unit: str, at: str, losses: list[Loss], standalone: bool = False
) -> dict[str, Any]:
    data = _dump(member)
    runtime = data.pop("runtime", None)
    if runtime is not None and not standalone:
        losses.append(
            Loss(
                unit,
                f"{at}.runtime",
                f"{runtime!r} for one container: a Kubernetes pod has one runtime "
                "(runtimeClassName) for all its containers; this container gets the pod's",
            )
        )
    resources = data.get("resources")
    for kind in ("limits", "requests"):
        if resources and kind in resources:  # quantities are strings in Kubernetes
            resources[kind] = {k: str(v) for k, v in resources[kind].items()}
    # Kubernetes' default differs (Always for :latest): say ours.
    data["imagePullPolicy"] = member.image_pull_policy
    name = data.pop("name", None)
    return data if name is None else {"name": name, **data}


def _volumes(spec: Any) -> list[dict[str, Any]]:
    volumes = []
    for v in spec.volumes:
        data = _dump(v)
        if v.empty_dir is not None:
            data["emptyDir"] = _dump(v.empty_dir)
            if v.empty_dir.size_limit is not None:
                data["emptyDir"]["sizeLimit"] = str(v.empty_dir.size_limit)
        volumes.append(data)
    return volumes


def _common(spec: Any) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "restartPolicy": spec.restart_policy,
        "terminationGracePeriodSeconds": spec.termination_grace_period_seconds,
    }
    if spec.volumes:
        pod["volumes"] = _volumes(spec)
    dumped = _dump(spec)
    pod |= {k: dumped[k] for k in POD_FIELDS if k in dumped}
    return pod


def _sandbox(spec: SandboxSpec, unit: str, losses: list[Loss]) -> tuple[dict[str, Any], str | None]:
    pod = _common(spec)
    dumped = _dump(spec)
    if "securityContext" in dumped:
        pod["securityContext"] = dumped["securityContext"]
    for key in sorted(set(dumped) - _SANDBOX_MAPPED):
        losses.append(Loss(unit, f"spec.{key}", "export knows no Kubernetes field for it"))
    containers = [
        _container(c, unit, f"spec.containers[{i}]", losses) for i, c in enumerate(spec.containers)
    ]
    if spec.init_containers:
        pod["initContainers"] = [
            _container(c, unit, f"spec.initContainers[{i}]", losses)
            for i, c in enumerate(spec.init_containers)
        ]
    if spec.ports:
        # Kubernetes has no pod-level ports: they belong to the shared network
        # namespace either way, so the first container declares them.
        first = containers[0]
        first["ports"] = [_dump(p) for p in spec.ports] + first.get("ports", [])
    pod["containers"] = containers
    if Namespace.PID in spec.share:
        pod["shareProcessNamespace"] = True
    if Namespace.IPC not in spec.share:
        losses.append(
            Loss(
                unit,
                "spec.share",
                "without ipc: the containers of a Kubernetes pod always share IPC",
            )
        )
    if spec.mode is not None:
        detail = (
            "a pod is always one sandbox"
            if spec.mode is Mode.CONTAINER_IN_SANDBOX
            else "a pod always has a sandbox; the container runs in one"
        )
        losses.append(Loss(unit, "spec.mode", f"{spec.mode.value}: no equivalent ({detail})"))
    return pod, spec.runtime


def _standalone(
    manifest: ContainerManifest, unit: str, losses: list[Loss]
) -> tuple[dict[str, Any], str | None]:
    spec: ContainerSpec = manifest.spec
    pod = _common(spec)
    container = _container(spec, unit, "spec", losses, standalone=True)
    for key in ("restartPolicy", "terminationGracePeriodSeconds", "volumes", *POD_FIELDS):
        container.pop(key, None)  # the pod's (see _common)
    pod["containers"] = [{"name": manifest.metadata.name, **container}]
    return pod, spec.runtime


def _wrap(
    manifest: Manifest, pod_spec: dict[str, Any], workload: Workload, unit: str, losses: list[Loss]
) -> dict[str, Any]:
    meta = manifest.metadata
    metadata: dict[str, Any] = {"name": meta.name, "namespace": meta.namespace}
    if meta.labels:
        metadata["labels"] = dict(meta.labels)
    if meta.annotations:
        metadata["annotations"] = dict(meta.annotations)
    if workload == "pod":
        return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod_spec}
    if pod_spec["restartPolicy"] != "Always":
        losses.append(
            Loss(
                unit,
                "spec.restartPolicy",
                f"{pod_spec['restartPolicy']}: a Deployment's pods must restart Always "
                "(use --workload pod, or a Job, for run-to-completion)",
            )
        )
        pod_spec["restartPolicy"] = "Always"
    selector = {NAME_LABEL: meta.name}
    has_host_port = any("hostPort" in p for c in pod_spec["containers"] for p in c.get("ports", []))
    spec: dict[str, Any] = {
        "replicas": 1,
        "selector": {"matchLabels": selector},
        # A hostPort is held by one pod per node: a rolling update's second pod
        # could not bind it, so the old one goes first, as reconciler does.
        "strategy": {"type": "Recreate" if has_host_port else "RollingUpdate"},
        "template": {
            "metadata": {"labels": {**meta.labels, **selector}},
            "spec": pod_spec,
        },
    }
    if meta.annotations:
        spec["template"]["metadata"]["annotations"] = dict(meta.annotations)
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": spec}
