"""What env reads besides its own values: ConfigMaps, Secrets, the pod's fields and
its containers' resources, resolved as kubelet resolves them. No I/O.

With no API server, a ConfigMap or Secret is a document of the same source as
the unit that reads it: any file of the watched directory, of one `apply`, or
of the git path (manifests.py loads them as ``LoadedValues``). ``resolve``
turns a manifest's envFrom and valueFrom into plain env entries, in
Kubernetes' order: envFrom sources in order (a later one wins a clash), keys
sorted, then ``env``, each value expanded against what is defined above it.
A value read from elsewhere reaches the container as it is (kubelet never
expands it): the entries are written back escaped (``expansion.escape``), so
the compile step's expansion gives exactly what kubelet would.

Three fields are known only once the pod exists: its address
(``status.podIP``, ``status.podIPs``) and its uid. They resolve to a marker
(``pod_field``) the executor fills in right before the container is created
(``fill_pod_fields``), so a reference to them in a later entry, a command or
args expands to the value too, and the spec hash stays the same across pods.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from reconciler.core.errors import Location
from reconciler.core.expansion import escape, expand, expand_env
from reconciler.core.models import (
    _ENV_NAME,
    ContainerSpec,
    EnvVar,
    Manifest,
    Probe,
    ResourceFieldSelector,
    SandboxManifest,
)
from reconciler.core.quantity import cpu_limit_millis, memory_to_bytes, parse_quantity
from reconciler.core.spec import DesiredMember, MemberSpec
from reconciler.core.spec import EnvVar as SpecEnvVar

ValuesKey = tuple[str, str, str]  # kind, namespace, name
Path = tuple[str | int, ...]

# A pod field known only once the pod exists: NUL never appears in a manifest's text.
_MARK = "\x00"
POD_FIELDS = ("status.podIP", "status.podIPs", "metadata.uid")
_LABEL_OR_ANNOTATION = re.compile(r"metadata\.(labels|annotations)\['([^'\]]+)'\]")
# The divisors Kubernetes accepts (validateContainerResourceDivisor).
_CPU_DIVISORS = ("1m", "1")
_BYTE_DIVISORS = ("1", "1k", "1M", "1G", "1T", "1P", "1E", "1Ki", "1Mi", "1Gi", "1Ti", "1Pi", "1Ei")


@dataclass(frozen=True, slots=True)
class LoadedValues:
    """A ConfigMap or Secret of the source: its decoded data, and where it is written."""

    kind: str  # ConfigMap or Secret
    namespace: str
    name: str
    data: Mapping[str, str]
    location: Location
    secret_type: str = ""  # a Secret's type (Opaque, kubernetes.io/dockerconfigjson, ...)

    @property
    def key(self) -> ValuesKey:
        return self.kind, self.namespace, self.name


@dataclass(frozen=True, slots=True)
class Node:
    """What the host tells a pod of itself: spec.nodeName, status.hostIP, and what an
    unset limit resolves to in resourceFieldRef (the node's allocatable resources)."""

    name: str = "localhost"
    ip: str = "127.0.0.1"
    cpu_millis: int = 1000
    memory_bytes: int = 1 << 30
    storage_bytes: int = 1 << 34
    measured: bool = False  # read from the host (cli/node.py), not these stand-ins


LOCALHOST = Node()  # what tests and tools compile with; the CLI reads the host's (cli/node.py)


class ValueStore:
    """The source's ConfigMaps and Secrets by kind, namespace and name."""

    def __init__(self, values: Iterable[LoadedValues] = ()) -> None:
        self._found: dict[ValuesKey, LoadedValues] = {}
        self._twice: dict[ValuesKey, list[Location]] = {}
        for found in values:
            first = self._found.setdefault(found.key, found)
            if first is not found:
                self._twice.setdefault(found.key, [first.location]).append(found.location)

    def __bool__(self) -> bool:
        return bool(self._found)

    def get(self, kind: str, namespace: str, name: str) -> tuple[Mapping[str, str] | None, str]:
        """The data, or None and why: defined nowhere, or more than once."""
        found, why = self.find(kind, namespace, name)
        return (None, why) if found is None else (found.data, "")

    def find(self, kind: str, namespace: str, name: str) -> tuple[LoadedValues | None, str]:
        """The ConfigMap or Secret (its data and type), or None and why, as ``get``."""
        key = (kind, namespace, name)
        if key in self._twice:
            where = " and ".join(str(at) for at in self._twice[key])
            return None, f"{kind} {namespace}/{name} is defined more than once ({where})"
        found = self._found.get(key)
        if found is None:
            return None, (
                f"{kind} {namespace}/{name} is not defined in the source (with no API server, "
                "a ConfigMap or Secret is a document in the files read with the unit)"
            )
        return found, ""


@dataclass(slots=True)
class Resolved:
    """A manifest with env made plain, and what went wrong, by field path."""

    manifest: Manifest
    errors: list[tuple[Path, str]] = field(default_factory=list)
    warnings: list[tuple[Path, str]] = field(default_factory=list)


def reads_values(manifest: Manifest) -> bool:
    """Whether any container of the manifest reads env from elsewhere, or it has a volume
    of files (configMap, secret, downwardAPI, projected)."""
    return any(v.files for v in manifest.spec.volumes) or any(
        c.env_from or any(e.value_from for e in c.env) for c, _ in _containers(manifest)
    )


def resolve(manifest: Manifest, store: ValueStore, node: Node) -> Resolved:
    """``manifest`` with every envFrom and valueFrom turned into plain env entries."""
    result = Resolved(manifest)
    if not reads_values(manifest):
        return result
    resolver = Resolver(manifest, store, node, result)
    spec = manifest.spec
    if isinstance(spec, ContainerSpec):
        result.manifest = manifest.model_copy(update={"spec": resolver.container(spec, ("spec",))})
        return result
    update = {
        group: [
            resolver.container(c, ("spec", name, i)) for i, c in enumerate(getattr(spec, group))
        ]
        for group, name in (("init_containers", "initContainers"), ("containers", "containers"))
    }
    result.manifest = manifest.model_copy(update={"spec": spec.model_copy(update=update)})
    return result


class Resolver:
    """Reads a manifest's values: env (``container``), and for volumes (projection.py)
    a pod field (``field``) or a container's resource (``resource``)."""

    def __init__(self, manifest: Manifest, store: ValueStore, node: Node, out: Resolved) -> None:
        self.manifest, self.store, self.node, self.out = manifest, store, node, out
        self.by_name = {
            getattr(c, "name", manifest.metadata.name): c for c, _ in _containers(manifest)
        }

    def container(self, container: Any, at: Path) -> Any:
        if not container.env_from and not any(e.value_from for e in container.env):
            return container
        merged = self._env_from(container, at)
        # kubelet takes values read from elsewhere as they are and expands each env
        # value against them and the entries above it; written back escaped, the list
        # alone means to the compiler what envFrom, valueFrom and env meant together.
        entries: list[tuple[str, str]] = []
        for index, entry in enumerate(container.env):
            if entry.value_from is None:
                entries.append((entry.name, entry.value))
                continue
            value = self._value_from(entry, container, (*at, "env", index, "valueFrom"))
            if value is not None:
                entries.append((entry.name, escape(value)))
        final = expand_env(entries, merged)
        own = dict.fromkeys(name for name, _ in entries)  # in the order they first come
        names = [*(n for n in merged if n not in own), *own]
        # Built without validation: a pod field's marker holds NUL, which no manifest may.
        env = [EnvVar.model_construct(name=n, value=escape(final[n])) for n in names]
        probes = _static_probes(container, env)
        return container.model_copy(update={"env": env, "env_from": [], **probes})

    def _env_from(self, container: Any, at: Path) -> dict[str, str]:
        namespace = self.manifest.metadata.namespace
        merged: dict[str, str] = {}
        for index, source in enumerate(container.env_from):
            kind, ref = source.ref
            where = (*at, "envFrom", index, "configMapRef" if kind == "ConfigMap" else "secretRef")
            found, why = self.store.get(kind, namespace, ref.name)
            if found is None:
                if not ref.optional:
                    self.out.errors.append(((*where, "name"), why))
                continue
            for key in sorted(found):
                name = source.prefix + key
                if not re.fullmatch(_ENV_NAME, name):
                    self.out.warnings.append(
                        (where, f"skipped {name!r}: not a valid variable name")
                    )
                    continue
                merged[name] = found[key]
        return merged

    def _value_from(self, entry: EnvVar, container: Any, at: Path) -> str | None:
        """The entry's value; None when it is left unset (an optional key not there)."""
        source = entry.value_from
        assert source is not None
        selector = source.config_map_key_ref or source.secret_key_ref
        if selector is not None:
            kind = "ConfigMap" if source.config_map_key_ref is not None else "Secret"
            where = (*at, "configMapKeyRef" if kind == "ConfigMap" else "secretKeyRef")
            found, why = self.store.get(kind, self.manifest.metadata.namespace, selector.name)
            if found is None or selector.key not in found:
                if not selector.optional:
                    if found is not None:
                        name = f"{self.manifest.metadata.namespace}/{selector.name}"
                        why = f"{kind} {name} has no key {selector.key!r}"
                    self.out.errors.append(((*where, "key" if found else "name"), why))
                return None
            return found[selector.key]
        if source.field_ref is not None:
            return self.field(source.field_ref.field_path)
        assert source.resource_field_ref is not None
        return self.resource(source.resource_field_ref, container, (*at, "resourceFieldRef"))

    def field(self, path: str) -> str:
        meta = self.manifest.metadata
        if path in POD_FIELDS:
            return pod_field(path)
        if matched := _LABEL_OR_ANNOTATION.fullmatch(path):
            kind, key = matched.groups()
            return (meta.labels if kind == "labels" else meta.annotations).get(key, "")
        account = getattr(self.manifest.spec, "service_account_name", "default")
        return {
            "metadata.name": meta.name,
            "metadata.namespace": meta.namespace,
            "spec.nodeName": self.node.name,
            "spec.serviceAccountName": account,
            "status.hostIP": self.node.ip,
            "status.hostIPs": self.node.ip,
        }[path]

    def resource(self, selector: ResourceFieldSelector, container: Any, at: Path) -> str | None:
        target = self.by_name.get(selector.container_name) if selector.container_name else container
        if target is None:
            self.out.errors.append(
                ((*at, "containerName"), f"no container {selector.container_name!r} in this pod")
            )
            return None
        kind, resource = selector.resource.split(".")
        cpu = resource == "cpu"
        divisor_text = str(selector.divisor)
        if divisor_text not in (_CPU_DIVISORS if cpu else _BYTE_DIVISORS):
            allowed = ", ".join(_CPU_DIVISORS if cpu else _BYTE_DIVISORS)
            self.out.errors.append(
                (
                    (*at, "divisor"),
                    f"{divisor_text!r} is not a divisor Kubernetes takes for "
                    f"{resource} (one of {allowed})",
                )
            )
            return None
        amount = self._amount(target.resources, kind, resource)
        divisor = int(parse_quantity(divisor_text) * (1000 if cpu else 1))
        return str(-(-amount // divisor))  # rounded up, as kubelet does

    def _amount(self, resources: Any, kind: str, resource: str) -> int:
        """The container's limit or request in millicores or bytes. An unset limit is the
        node's allocatable amount; an unset request is the limit when that is set (the
        API server's defaulting), else 0."""
        limits, requests = resources.limits, resources.requests
        name = "ephemeral-storage" if resource == "ephemeral-storage" else resource
        node = {
            "cpu": self.node.cpu_millis,
            "memory": self.node.memory_bytes,
            "ephemeral-storage": self.node.storage_bytes,
        }[name]
        value = (limits if kind == "limits" else requests).get(name)
        if value is None and kind == "requests":
            value = limits.get(name)
        if value is None:
            return node if kind == "limits" else 0
        return cpu_limit_millis(value) if name == "cpu" else memory_to_bytes(value)


def _static_probes(container: Any, env: list[EnvVar]) -> dict[str, Probe]:
    """The exec probes of ``container`` rewritten to mean, beside the resolved ``env``, what
    they meant beside the env written: kubelet expands an exec probe's command against
    the `env` values as written only (ExpandContainerCommandOnlyStatic), never envFrom's.
    A command that the resolved list would read differently is written expanded, escaped."""
    written = {e.name: e.value for e in container.env if e.value_from is None}
    resolved = {e.name: e.value for e in env}
    update = {}
    for kind in ("liveness_probe", "readiness_probe", "startup_probe"):
        probe: Probe | None = getattr(container, kind)
        if probe is None or probe.exec is None:
            continue
        command = [
            c if expand(c, written) == expand(c, resolved) else escape(expand(c, written))
            for c in probe.exec.command
        ]
        if command != probe.exec.command:
            action = probe.exec.model_copy(update={"command": command})
            update[kind] = probe.model_copy(update={"exec": action})
    return update


def pod_field(path: str) -> str:
    """The marker of a pod field filled in when the container is created."""
    return f"{_MARK}{path}{_MARK}"


def waits_for_pod(spec: MemberSpec) -> bool:
    """Whether the container's env, command, args or a subPathExpr hold a pod field not
    known yet."""
    texts = (*(e.value for e in spec.env), *spec.command, *spec.args)
    return any(_MARK in text for text in (*texts, *(m.sub_path for m in spec.mounts)))


def pod_uid(infra_id: str) -> str:
    """The pod's uid: stable while its infra lives, new with every new pod."""
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"reconciler.io/pod/{infra_id}"))


def fill_pod_fields(member: DesiredMember, address: str, uid: str) -> DesiredMember:
    """``member`` with the markers of pod fields replaced by their values. Its hash and
    labels stay: they are of the spec as compiled, the same for every pod."""
    known = {"status.podIP": address, "status.podIPs": address, "metadata.uid": uid}

    def fill(text: str) -> str:
        for path, value in known.items():
            text = text.replace(pod_field(path), value)
        return text

    spec = member.spec
    return replace(
        member,
        spec=replace(
            spec,
            env=tuple(SpecEnvVar(e.name, fill(e.value)) for e in spec.env),
            command=tuple(map(fill, spec.command)),
            args=tuple(map(fill, spec.args)),
            mounts=tuple(replace(m, sub_path=fill(m.sub_path)) for m in spec.mounts),
        ),
    )


def _containers(manifest: Manifest) -> list[tuple[Any, Path]]:
    spec = manifest.spec
    if isinstance(spec, ContainerSpec):
        return [(spec, ("spec",))]
    assert isinstance(manifest, SandboxManifest)
    return [
        *((c, ("spec", "initContainers", i)) for i, c in enumerate(spec.init_containers)),
        *((c, ("spec", "containers", i)) for i, c in enumerate(spec.containers)),
    ]
