"""Effective specs to Docker Engine API bodies (``POST /containers/create``). Pure, no I/O.

Kept apart from the driver so the translation is tested without a daemon. The
specs are typed (core/spec.py); Docker's strings are made here and only
here: ``NAME=value`` environment, ``name:ip`` extra hosts, ``uid:gid`` users,
NanoCpus and cgroup v1 CpuShares from millicores.
Docker's own restart policy is always ``no``: restarts are reconciler's job,
and a daemon that restarts an infra behind our back strands its members.
"""

from __future__ import annotations

from typing import Any

from reconciler.core import labels as L
from reconciler.core.errors import UntranslatableSpec
from reconciler.core.spec import (
    DesiredInfra,
    DesiredMember,
    MemberSpec,
    MountSpec,
    NetSpec,
    PortSpec,
    Seccomp,
    Sysctl,
    User,
)


def _ports(ports: tuple[PortSpec, ...]) -> tuple[dict[str, Any], dict[str, list[dict[str, str]]]]:
    exposed: dict[str, Any] = {}
    bindings: dict[str, list[dict[str, str]]] = {}
    for p in ports:
        key = f"{p.container_port}/{p.protocol}"
        exposed[key] = {}
        if p.host_port:
            bindings.setdefault(key, []).append({"HostIp": p.host_ip, "HostPort": str(p.host_port)})
    return exposed, bindings


def infra_body(infra: DesiredInfra) -> dict[str, Any]:
    spec = infra.spec
    exposed, bindings = _ports(spec.ports)
    host: dict[str, Any] = {
        "RestartPolicy": {"Name": "no"},
        "Runtime": spec.runtime,
        "PortBindings": bindings,
        # Without "shareable" a member's IpcMode container:<infra> fails.
        "IpcMode": "shareable" if "ipc" in spec.share else "private",
    }
    if spec.sysctls:
        host["Sysctls"] = _sysctls(spec.sysctls)
    body = {
        "Image": infra.image,
        "Hostname": spec.hostname,
        "Labels": dict(infra.labels),
        "ExposedPorts": exposed,
        "HostConfig": host,
    }
    _net(spec.net, body, host)
    return body


def _net(net: NetSpec, body: dict[str, Any], host: dict[str, Any]) -> None:
    """What the owner of a network namespace gets (Docker refuses it on a joined member)."""
    if net.domainname:
        body["Domainname"] = net.domainname
    for value, key in (
        ([f"{name}:{a.ip}" for a in net.host_aliases for name in a.hostnames], "ExtraHosts"),
        (list(net.nameservers), "Dns"),
        (list(net.searches), "DnsSearch"),
        ([o.name if o.value is None else f"{o.name}:{o.value}" for o in net.options], "DnsOptions"),
    ):
        if value:
            host[key] = value


def _sysctls(pairs: tuple[Sysctl, ...]) -> dict[str, str]:
    return {s.name: s.value for s in pairs}


def user(spec: User) -> str:
    """Docker's ``User``: ``uid[:gid]``; "" leaves the image's. Docker takes no group
    without a user (the compiler never asks for one)."""
    if spec.uid is None:
        if spec.gid is not None:
            raise UntranslatableSpec(
                f"a group ({spec.gid}) without a user cannot be given to Docker"
            )
        return ""
    return str(spec.uid) if spec.gid is None else f"{spec.uid}:{spec.gid}"


MIN_SHARES = 2  # kubelet's MinShares


def cpu_shares(millicores: int) -> int:
    """A CPU request as cgroup v1 shares, as kubelet makes them (1 core = 1024, at least 2)."""
    return max(2, millicores * 1024 // 1000)


def _tmpfs_options(m: MountSpec) -> str:
    """HostConfig.Tmpfs options: the Mounts API has no gid before API 1.46."""
    options = ["ro" if m.read_only else "rw"]
    if m.size:
        options.append(f"size={m.size}")
    options += ["mode=2777", f"gid={m.group}"]
    return ",".join(options)


def _mount(m: MountSpec) -> dict[str, Any]:
    if m.type == "tmpfs":
        options: dict[str, Any] = {"SizeBytes": m.size} if m.size else {}
        return {
            "Type": "tmpfs",
            "Target": m.target,
            "ReadOnly": m.read_only,
            "TmpfsOptions": options,
        }
    mount = {"Type": m.type, "Source": m.source, "Target": m.target, "ReadOnly": m.read_only}
    if m.type == "volume":
        # Docker copies the image's files at the target into a new volume; an emptyDir
        # starts empty under kubelet, and a volume of files holds its files only.
        mount["VolumeOptions"] = {"NoCopy": True}
    return mount


def member_body(member: DesiredMember, infra_id: str | None) -> dict[str, Any]:
    """The create body of a workload or init container joined to ``infra_id`` (if any).

    Raises UntranslatableSpec when it joins an infra and ``infra_id`` is None.
    """
    spec = member.spec
    labels = dict(member.labels)
    host: dict[str, Any] = {"RestartPolicy": {"Name": "no"}, "Runtime": spec.runtime}
    body: dict[str, Any] = {"Image": spec.image, "Labels": labels, "Tty": spec.tty}
    if spec.stdin:
        body["OpenStdin"] = True
        body["StdinOnce"] = spec.stdin_once
    if spec.joins:
        if infra_id is None:
            raise UntranslatableSpec(f"{member.name} joins an infra but none is known")
        labels[L.INFRA_ID] = infra_id
        _joined(spec.joins, infra_id, host)
    else:
        exposed, bindings = _ports(spec.ports)
        body["ExposedPorts"] = exposed
        host["PortBindings"] = bindings
        if spec.hostname:
            body["Hostname"] = spec.hostname
        _net(spec.net, body, host)
    _process(spec, body)
    _mounts(spec.mounts, host)
    _resources(spec, host)
    _security(spec, host)
    body["HostConfig"] = host
    return body


def _joined(joins: tuple[str, ...], infra_id: str, host: dict[str, Any]) -> None:
    """The infra's namespaces a member joins: its network always, IPC and PID if shared."""
    mode = f"container:{infra_id}"
    host["NetworkMode"] = mode
    if "ipc" in joins:
        host["IpcMode"] = mode
    if "pid" in joins:
        host["PidMode"] = mode


def _process(spec: MemberSpec, body: dict[str, Any]) -> None:
    """What runs, where and as whom."""
    # Kubernetes semantics: command replaces ENTRYPOINT (and drops the image's
    # CMD), args replace CMD; Docker's merge does exactly that when Entrypoint is set.
    if spec.command:
        body["Entrypoint"] = list(spec.command)
    if spec.args:
        body["Cmd"] = list(spec.args)
    if spec.working_dir:
        body["WorkingDir"] = spec.working_dir
    if spec.env:
        body["Env"] = [f"{e.name}={e.value}" for e in spec.env]
    if user(spec.user):
        body["User"] = user(spec.user)
    if spec.stop_signal:
        # What `docker stop` (and so every stop reconciler makes) sends first.
        body["StopSignal"] = spec.stop_signal


def _mounts(mounts: tuple[MountSpec, ...], host: dict[str, Any]) -> None:
    if not mounts:
        return
    # The Mounts API refuses a missing bind source (hostPath Directory, File,
    # Socket); the legacy Binds form creates it (hostPath DirectoryOrCreate).
    # An fsGroup-owned tmpfs needs gid=, which only the older Tmpfs form takes.
    tmpfs = {m.target: _tmpfs_options(m) for m in mounts if _owned_tmpfs(m)}
    if tmpfs:
        host["Tmpfs"] = tmpfs
    host["Mounts"] = [
        _mount(m) for m in mounts if (m.type != "bind" or m.must_exist) and not _owned_tmpfs(m)
    ]
    binds = [m for m in mounts if m.type == "bind" and not m.must_exist]
    if binds:
        host["Binds"] = [f"{m.source}:{m.target}{':ro' if m.read_only else ''}" for m in binds]


def _resources(spec: MemberSpec, host: dict[str, Any]) -> None:
    if spec.cpu_limit is not None:
        host["NanoCpus"] = spec.cpu_limit * 1_000_000
    if spec.memory_limit is not None:
        host["Memory"] = spec.memory_limit
    # kubelet's weights: the request (the API server makes a limit alone the request
    # too), else the minimum (a BestEffort container's). A memory request sets no soft
    # limit under kubelet: it steers scheduling and eviction only, so none here either.
    request = spec.cpu_request if spec.cpu_request is not None else spec.cpu_limit
    host["CpuShares"] = cpu_shares(request) if request is not None else MIN_SHARES
    if spec.storage_limit is not None:
        host["StorageOpt"] = {"size": str(spec.storage_limit)}


def _security(spec: MemberSpec, host: dict[str, Any]) -> None:
    if spec.privileged:
        host["Privileged"] = True
    if spec.read_only_root:
        host["ReadonlyRootfs"] = True
    if spec.cap_add:
        host["CapAdd"] = list(spec.cap_add)
    if spec.cap_drop:
        host["CapDrop"] = list(spec.cap_drop)
    security_opt = []
    if spec.no_new_privileges:
        security_opt.append("no-new-privileges")
    if spec.seccomp is Seccomp.UNCONFINED:
        security_opt.append("seccomp=unconfined")
    elif spec.seccomp is Seccomp.LOCALHOST:
        # The Engine API takes the profile's JSON itself, never a path (the docker CLI
        # reads a --security-opt seccomp=FILE into this form too).
        if spec.seccomp_localhost is None:
            raise UntranslatableSpec("a Localhost seccomp profile without its content")
        security_opt.append(f"seccomp={spec.seccomp_localhost.content}")
    if security_opt:
        host["SecurityOpt"] = security_opt
    if spec.group_add:
        host["GroupAdd"] = [str(g) for g in spec.group_add]
    if spec.sysctls:
        host["Sysctls"] = _sysctls(spec.sysctls)


def _owned_tmpfs(m: MountSpec) -> bool:
    return m.type == "tmpfs" and m.group is not None
