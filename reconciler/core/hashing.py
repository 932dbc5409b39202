"""The spec hash: what tells a container's configuration from the desired one. No I/O.

``"1:" + sha256(canonical JSON)`` of the *desired* effective spec: pydantic's
JSON dump with sorted keys, compact separators and fields at their default
left out, so a field added by a later version of reconciler does not change
the hash of a manifest that does not use it. The hash never includes daemon
data (image ids, container ids). A change of the hash's meaning gets a new
version, and the old version stays here so an upgrade of reconciler can
still compare the labels it finds instead of recreating healthy containers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from pydantic import BaseModel

CURRENT_VERSION = "1"


def _v1(spec: BaseModel) -> str:
    data = spec.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


_HASHERS: dict[str, Callable[[BaseModel], str]] = {"1": _v1}


def spec_hash(spec: BaseModel) -> str:
    """The label value for ``spec`` under the current hash version."""
    return f"{CURRENT_VERSION}:{_HASHERS[CURRENT_VERSION](spec)}"


def hash_matches(label: str | None, desired: str, spec: BaseModel) -> bool | None:
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
