"""The names reconciler gives what it makes, for people: labels are the truth. No I/O.

Engines that name containers in one flat space (Docker) use ``container_name``;
both engines name a unit's volumes with ``volume_name``. Parts are DNS
labels, so '_' and '.' cannot occur inside them.
"""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.core import labels as L
from reconciler.core.models import Kind
from reconciler.core.spec import UnitKey


def container_name(instance: str, key: UnitKey, container: str | None) -> str:
    """``i_ns_web_infra`` (infra, ``container`` None), ``i_ns_web.app`` (member),
    ``i_ns_cache`` (a standalone Container)."""
    base = f"{instance}_{key.namespace}_{key.name}"
    if key.kind is Kind.CONTAINER:
        return base
    return f"{base}_infra" if container is None else f"{base}.{container}"


def volume_name(instance: str, key: UnitKey, volume: str) -> str:
    sep = "." if key.kind is Kind.SANDBOX else "_"
    return f"{instance}_{key.namespace}_{key.name}{sep}{volume}"


def eviction_name(instance: str, key: UnitKey) -> str:
    """The name of a unit's eviction record (Docker: a volume; CRI: a file), which no
    emptyDir can take ('--' never occurs in a DNS label's join)."""
    return f"{instance}_{key.namespace}_{key.name}--{key.kind.lower()}-evicted"


def name_of(labels: Mapping[str, str]) -> str:
    """The container name of a desired infra or member, from the labels it is created with."""
    key = UnitKey(Kind(labels[L.KIND]), labels[L.NAMESPACE], labels[L.SANDBOX])
    container = None if labels.get(L.ROLE) == L.ROLE_INFRA else labels[L.CONTAINER]
    return container_name(labels[L.MANAGED_BY], key, container)
