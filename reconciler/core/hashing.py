"""The spec hash: what tells a container's configuration from the desired one. No I/O.

``"1:" + sha256(canonical JSON)`` of the *desired* effective spec (spec.py):
its fields as a JSON object with sorted keys, compact separators and fields
at their default left out, so a field added by a later version of
reconciler does not change the hash of a manifest that does not use it. The
hash never includes daemon data (image ids, container ids).

Version 1 was defined when the specs held some values as strings (an
environment variable as ``NAME=value``, a CPU limit as nanocores). Its
canonical form keeps those encodings, written out below, so that the typed
specs hash exactly as before: tests/unit/test_hash_golden.py pins 227
containers' hashes from before the change. A change of the hash's meaning
gets a new version, and the old version stays here so an upgrade of
reconciler can still compare the labels it finds instead of recreating
healthy containers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from enum import Enum
from typing import Any

from reconciler.core.spec import InfraSpec, MemberSpec, NetSpec, User

CURRENT_VERSION = "1"
Spec = InfraSpec | MemberSpec


def _plain(value: Any) -> Any:
    """JSON of a value: a dataclass without its fields at their default, tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _plain(v)
            for f in dataclasses.fields(value)
            if (v := getattr(value, f.name)) != f.default
        }
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    return value


def _v1_net(net: NetSpec) -> dict[str, Any]:
    form = {
        "domainname": net.domainname,
        "extra_hosts": [f"{name}:{a.ip}" for a in net.host_aliases for name in a.hostnames],
        "dns": list(net.nameservers),
        "dns_search": list(net.searches),
        "dns_options": [o.name if o.value is None else f"{o.name}:{o.value}" for o in net.options],
    }
    return {k: v for k, v in form.items() if v}


def _v1_user(user: User) -> str:
    if user.uid is not None:
        return str(user.uid) + ("" if user.gid is None else f":{user.gid}")
    return "" if user.gid is None else f"0:{user.gid}"


def _v1_shares(millicores: int) -> int:
    """cgroup v1 shares as version 1 hashed a request (1 core = 1024, at least 2)."""
    return max(2, millicores * 1024 // 1000)


# MemberSpec fields whose version-1 name or encoding differs from the typed field.
_V1_MEMBER: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "env": ("env", lambda env: [f"{e.name}={e.value}" for e in env]),
    "cpu_limit": ("nano_cpus", lambda millicores: millicores * 1_000_000),
    "memory_limit": ("memory", lambda amount: amount),
    "cpu_request": ("cpu_shares", _v1_shares),
    "memory_request": ("memory_reservation", lambda amount: amount),
    "storage_limit": ("storage_size", lambda amount: amount),
    "user": ("user", _v1_user),
    "sysctls": ("sysctls", lambda pairs: [f"{s.name}={s.value}" for s in pairs]),
    "net": ("net", _v1_net),
    # A Localhost seccomp profile by its content: where it is read from changes nothing.
    "seccomp_localhost": ("seccomp_profile", lambda profile: profile.content),
}


def _v1_form(spec: Spec) -> dict[str, Any]:
    form: dict[str, Any] = {}
    renames = _V1_MEMBER if isinstance(spec, MemberSpec) else _V1_MEMBER_INFRA
    for f in dataclasses.fields(spec):
        value = getattr(spec, f.name)
        if value == f.default:
            continue
        if f.name in renames:
            name, encode = renames[f.name]
            form[name] = encode(value)
        else:
            form[f.name] = _plain(value)
    return form


_V1_MEMBER_INFRA = {key: _V1_MEMBER[key] for key in ("sysctls", "net")}


def _v1(spec: Spec) -> str:
    canonical = json.dumps(
        _v1_form(spec), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


_HASHERS: dict[str, Callable[[Spec], str]] = {"1": _v1}


def spec_hash(spec: Spec) -> str:
    """The label value for ``spec`` under the current hash version."""
    return f"{CURRENT_VERSION}:{_HASHERS[CURRENT_VERSION](spec)}"


def hash_matches(label: str | None, desired: str, spec: Spec) -> bool | None:
    """Whether a container's hash label describes ``spec`` (whose current hash is ``desired``).

    A label of an older version is compared with that version's hasher. None
    when the version is unknown (written by a newer reconciler): the caller
    must not take that as a change.
    """
    if label == desired:
        return True
    if not label or ":" not in label:
        return False
    version, digest = label.split(":", 1)
    if version == CURRENT_VERSION or not version.isdigit():
        return False
    hasher = _HASHERS.get(version)
    if hasher is None:
        return None
    return hasher(spec) == digest
