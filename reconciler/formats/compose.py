"""docker-compose files to manifests (`reconciler convert`). No I/O: the CLI reads the file.

Services joined with ``network_mode: service:X`` become members of X's sandbox
(X first, as its first workload); every other service becomes a standalone
Container. What a manifest cannot express is reported, one line each, never
dropped silently. Every manifest written is validated by the models.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from reconciler.core.models import API_VERSION, ContainerManifest, SandboxManifest

_RESTART = {
    "no": "Never",
    "always": "Always",
    "on-failure": "OnFailure",
    "unless-stopped": "Always",
}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)")
_UNIT_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
# Service keys with no place in a manifest, and why (the rest are mapped below).
_WHY = {
    "build": "build the image first and name it in image",
    "depends_on": "order between units is not expressed; members of one sandbox start in order",
    "networks": "units use Docker's default bridge; members share the sandbox's network",
    "container_name": "reconciler names containers INSTANCE_NS_NAME",
    "hostname": "no hostname field",
    "labels": "container labels are reconciler's own; use metadata.labels for the unit",
    "logging": "the daemon's log driver applies",
    "deploy": "one host, one copy: no replicas or placement",
    "extra_hosts": "no extra hosts field",
    "dns": "the daemon's DNS applies",
    "devices": "no devices field",
    "ulimits": "no ulimits field",
    "sysctls": "no sysctls field",
    "env_file": "copy the variables into environment",
    "links": "members of one sandbox reach each other on 127.0.0.1",
    "expose": "ports are reachable inside the sandbox without it",
    "profiles": "every unit in the file is converged",
}
_MAPPED = {
    "image", "command", "entrypoint", "environment", "ports", "volumes", "working_dir",
    "user", "privileged", "read_only", "cap_add", "cap_drop", "tty", "restart",
    "stop_grace_period", "runtime", "healthcheck", "network_mode", "mem_limit", "cpus",
    "pid", "ipc", "stdin_open",
}  # fmt: skip


@dataclass(slots=True)
class Converted:
    documents: list[dict[str, Any]] = field(default_factory=list)
    losses: list[str] = field(default_factory=list)  # "service x: key: why"
    errors: list[str] = field(default_factory=list)  # a service that could not be converted


def dns_name(name: str) -> str:
    """A compose name as a DNS-1123 label: lower case, '_' and '.' as '-'."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:63].strip("-") or "service"


def _seconds(value: Any) -> int:
    if isinstance(value, int | float):
        return int(value)
    total = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION.findall(str(value)))
    return round(total)


def _memory(value: Any) -> str:
    """Compose's 512m / 1g / 1024k / bytes as a Kubernetes quantity."""
    match = re.fullmatch(r"(\d+)\s*([bkmg]?)b?", str(value).strip().lower())
    if not match:
        return str(value)  # the model's check names it
    number, unit = match.groups()
    return number + {"": "", "b": "", "k": "Ki", "m": "Mi", "g": "Gi"}[unit]


def _words(value: Any) -> list[str]:
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value or []]


class _Service:
    """One compose service turned into a container's fields (manifest shape)."""

    def __init__(self, name: str, data: dict[str, Any], base: str, out: Converted) -> None:
        self.name = name
        self.data = data
        self.base = base
        self.out = out
        self.volumes: dict[str, dict[str, Any]] = {}  # volume name -> manifest volume

    def lose(self, key: str, why: str) -> None:
        self.out.losses.append(f"service {self.name}: {key}: {why}")

    def container(self) -> dict[str, Any]:
        d = self.data
        c: dict[str, Any] = {"name": dns_name(self.name), "image": d.get("image", "")}
        for key in sorted(set(d) - _MAPPED):
            self.lose(key, _WHY.get(key, "no equivalent"))
        if "entrypoint" in d:
            c["command"] = _words(d["entrypoint"])
        if "command" in d:
            c["args"] = _words(d["command"])
        if "working_dir" in d:
            c["workingDir"] = d["working_dir"]
        c["env"] = self.env()
        c["ports"] = [p for p in (self.port(p) for p in d.get("ports") or []) if p]
        c["volumeMounts"] = [m for m in (self.mount(v) for v in d.get("volumes") or []) if m]
        security = self.security()
        if security:
            c["securityContext"] = security
        if d.get("tty"):
            c["tty"] = True
        if d.get("stdin_open"):
            self.lose("stdin_open", "no stdin is kept open; use `reconciler exec -i`")
        limits: dict[str, Any] = {}
        if "mem_limit" in d:
            limits["memory"] = _memory(d["mem_limit"])
        if "cpus" in d:
            limits["cpu"] = str(d["cpus"])
        if limits:
            c["resources"] = {"limits": limits}
        if "healthcheck" in d:
            probe = self.probe(d["healthcheck"])
            if probe:
                c["readinessProbe"] = probe
        return c

    def env(self) -> list[dict[str, str]]:
        env = self.data.get("environment") or {}
        if isinstance(env, list):
            env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
        for key, value in env.items():
            if value is None:
                self.lose(
                    f"environment.{key}", "taken from the shell at compose time: give a value"
                )
        return [{"name": k, "value": str(v)} for k, v in env.items() if v is not None]

    def security(self) -> dict[str, Any]:
        d = self.data
        security: dict[str, Any] = {}
        if "user" in d:
            user, _, group = str(d["user"]).partition(":")
            if user.isdigit() and (not group or group.isdigit()):
                security["runAsUser"] = int(user)
                if group:
                    security["runAsGroup"] = int(group)
            else:
                self.lose("user", f"{d['user']!r}: only numeric uid[:gid] is supported")
        for key, target in (("privileged", "privileged"), ("read_only", "readOnlyRootFilesystem")):
            if key in d:
                security[target] = bool(d[key])
        caps = {k: list(d[f"cap_{k}"]) for k in ("add", "drop") if f"cap_{k}" in d}
        if caps:
            security["capabilities"] = caps
        return security

    def port(self, spec: Any) -> dict[str, Any] | None:
        if isinstance(spec, dict):
            port: dict[str, Any] = {"containerPort": int(spec["target"])}
            if spec.get("published"):
                port["hostPort"] = int(spec["published"])
            if spec.get("host_ip"):
                port["hostIP"] = spec["host_ip"]
            if spec.get("protocol"):
                port["protocol"] = str(spec["protocol"]).upper()
            return port
        text, _, protocol = str(spec).partition("/")
        parts = text.rsplit(":", 2) if text.count(":") <= 2 else None
        if parts is None or any("-" in p for p in parts):
            self.lose("ports", f"{spec!r}: ranges and IPv6 forms are not supported")
            return None
        port = {"containerPort": int(parts[-1])}
        if len(parts) >= 2 and parts[-2]:
            port["hostPort"] = int(parts[-2])
        if len(parts) == 3:
            port["hostIP"] = parts[0]
        if protocol:
            port["protocol"] = protocol.upper()
        return port

    def mount(self, spec: Any) -> dict[str, Any] | None:
        if isinstance(spec, dict):
            kind, source, target = spec.get("type", "volume"), spec.get("source"), spec["target"]
            read_only = bool(spec.get("read_only"))
        else:
            parts = str(spec).split(":")
            if len(parts) == 1:
                kind, source, target, read_only = "volume", None, parts[0], False
            else:
                source, target = parts[0], parts[1]
                read_only = len(parts) > 2 and "ro" in parts[2].split(",")
                is_path = source.startswith((".", "/", "~"))
                kind = "bind" if is_path else "volume"
        if kind == "tmpfs":
            name = dns_name(f"tmpfs-{target}")
            self.volumes[name] = {"name": name, "emptyDir": {"medium": "Memory"}}
        elif kind == "bind":
            if str(source).startswith("~"):
                self.lose("volumes", f"{spec!r}: ~ is the compose user's home; give a path")
                return None
            path = posixpath.normpath(posixpath.join(self.base, str(source)))
            name = dns_name(f"host-{posixpath.basename(path) or 'root'}")
            self.volumes[name] = {"name": name, "hostPath": {"path": path}}
        elif kind == "volume":
            name = dns_name(source or f"anon-{target}")
            self.volumes[name] = {"name": name, "emptyDir": {}}
        else:
            self.lose("volumes", f"{spec!r}: type {kind} is not supported")
            return None
        return {"name": name, "mountPath": target, "readOnly": read_only}

    def probe(self, check: dict[str, Any]) -> dict[str, Any] | None:
        if check.get("disable"):
            return None
        test = check.get("test")
        words = _words(test)
        if words[:1] == ["NONE"]:
            return None
        command = ["sh", "-c", words[1]] if words[:1] == ["CMD-SHELL"] else words[1:]
        if words[:1] not in (["CMD"], ["CMD-SHELL"]):
            command = ["sh", "-c", str(test)]
        probe: dict[str, Any] = {"exec": {"command": command}}
        for key, target in (("interval", "periodSeconds"), ("timeout", "timeoutSeconds")):
            if key in check:
                probe[target] = max(1, _seconds(check[key]))
        if "retries" in check:
            probe["failureThreshold"] = max(1, int(check["retries"]))
        if "start_period" in check:
            probe["initialDelaySeconds"] = _seconds(check["start_period"])
        self.lose(
            "healthcheck",
            "became a readinessProbe (READY in `get`); compose only marks health, "
            "add a livenessProbe if failures should restart it",
        )
        return probe


def _root(name: str, services: dict[str, Any], seen: tuple[str, ...] = ()) -> str:
    """The service whose namespaces ``name`` ends up in (following service:X chains)."""
    mode = str((services.get(name) or {}).get("network_mode") or "")
    if not mode.startswith("service:") or name in seen:
        return name
    target = mode.removeprefix("service:")
    return _root(target, services, (*seen, name)) if target in services else name


def convert(compose: dict[str, Any], base: str) -> Converted:
    """``compose`` as parsed from YAML; ``base`` the directory relative bind paths start at."""
    out = Converted()
    services: dict[str, Any] = compose.get("services") or {}
    if not isinstance(services, dict) or not services:
        out.errors.append("no services: only the compose file format with services: is read")
        return out
    for key in sorted(set(compose) - {"services", "volumes", "version", "name"}):
        out.losses.append(f"top-level {key}: no equivalent")
    groups: dict[str, list[str]] = {}
    for name in services:
        groups.setdefault(_root(name, services), []).append(name)
    named_by_unit: dict[str, set[str]] = {}
    for root, members in groups.items():
        members.sort(key=lambda n: n != root)  # the root first: the sandbox's first workload
        converted = [_Service(n, services[n] or {}, base, out) for n in members]
        document, volumes = _unit(root, converted, services[root] or {})
        named_by_unit[document["metadata"]["name"]] = {
            v["name"] for v in volumes if "emptyDir" in v and "medium" not in v["emptyDir"]
        }
        dumped = _validated(document, root, out)
        if dumped is not None:
            out.documents.append(dumped)
    _shared_volume_losses(named_by_unit, compose.get("volumes") or {}, out)
    return out


def _unit(
    root: str, converted: list[_Service], head: dict[str, Any]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The manifest document for one group of services, and the volumes it defines."""
    containers = [s.container() for s in converted]
    volumes: dict[str, dict[str, Any]] = {}
    for s in converted:
        volumes |= s.volumes
        mode = str(s.data.get("network_mode") or "")
        if mode and not mode.startswith("service:"):
            s.lose("network_mode", f"{mode}: units get their own network namespace")
        for key in ("pid", "ipc"):
            value = str(s.data.get(key) or "")
            if value and value not in (f"service:{root}", "shareable"):
                s.lose(key, f"{value}: only service:{root} (the sandbox) is expressed")
    spec = _unit_spec(root, converted, head) | {"volumes": list(volumes.values())}
    metadata = {"name": dns_name(root)}
    if len(containers) == 1:
        body = {k: v for k, v in containers[0].items() if k != "name"}
        document = {"kind": "Container", "metadata": metadata, "spec": {**body, **spec}}
    else:
        share = ["network", "ipc"]
        if any(str(s.data.get("pid", "")) == f"service:{root}" for s in converted[1:]):
            share.append("pid")
        document = {
            "kind": "Sandbox",
            "metadata": metadata,
            "spec": {**spec, "share": share, "containers": containers},
        }
    return {"apiVersion": API_VERSION, **document}, list(volumes.values())


def _unit_spec(root: str, converted: list[_Service], head: dict[str, Any]) -> dict[str, Any]:
    """What the unit's first service (``head``) says for the whole unit."""
    spec: dict[str, Any] = {
        "restartPolicy": _RESTART.get(str(head.get("restart", "no")), "Always"),
    }
    if head.get("restart") == "unless-stopped":
        converted[0].lose("restart", "unless-stopped: restarted Always (a stop is undone)")
    if "stop_grace_period" in head:
        spec["terminationGracePeriodSeconds"] = _seconds(head["stop_grace_period"])
    if head.get("runtime"):
        spec["runtime"] = str(head["runtime"])
    for s in converted[1:]:
        for key in ("restart", "stop_grace_period", "runtime"):
            if key in s.data and s.data[key] != head.get(key):
                s.lose(key, f"the sandbox takes {root}'s ({head.get(key)!r})")
    return spec


def _validated(document: dict[str, Any], service: str, out: Converted) -> dict[str, Any] | None:
    """``document`` as the loader would read it back, or None (the problem said in ``out``)."""
    model: Any = ContainerManifest if document["kind"] == "Container" else SandboxManifest
    try:
        validated = model.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        out.errors.append(f"service {service}: {problems}")
        return None
    dumped: dict[str, Any] = validated.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    if "containers" in dumped["spec"]:  # the name first, as people write it
        dumped["spec"]["containers"] = [
            {"name": c.pop("name"), **c} for c in dumped["spec"]["containers"]
        ]
    return dumped | {"apiVersion": API_VERSION, "kind": document["kind"]}


def _shared_volume_losses(
    named_by_unit: dict[str, set[str]], declared: dict[str, Any], out: Converted
) -> None:
    shared: dict[str, list[str]] = {}
    for unit, names in named_by_unit.items():
        for name in names:
            shared.setdefault(name, []).append(unit)
    for name, units in sorted(shared.items()):
        if len(units) > 1 and name in declared:
            out.losses.append(
                f"volume {name}: shared by {', '.join(sorted(units))} in compose; "
                "each unit gets an emptyDir of its own (use a hostPath to share)"
            )
