"""JSON Schema of the manifest kinds, generated from the pydantic models. No I/O.

Editors use it through ``# yaml-language-server: $schema=...``: completion,
hover text (the models' field docstrings) and validation as you type. The
schema says what the loader's field checks say (names, types, enums, unknown
fields); rules across fields (unique names, a mount naming a declared volume)
remain the loader's.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, TypeAdapter

from reconciler.core.models import (
    ConfigMapManifest,
    ContainerManifest,
    PodManifest,
    SandboxManifest,
    SecretManifest,
)

DIALECT = "https://json-schema.org/draft/2020-12/schema"
KINDS: dict[str, type[BaseModel]] = {
    "Sandbox": SandboxManifest,
    "Container": ContainerManifest,
    "Pod": PodManifest,
    # Not units: the values envFrom reads from the same file.
    "ConfigMap": ConfigMapManifest,
    "Secret": SecretManifest,
}

_Any = Annotated[
    SandboxManifest | ContainerManifest | PodManifest | ConfigMapManifest | SecretManifest,
    Field(discriminator="kind"),
]


def schema(kind: str | None = None) -> dict[str, Any]:
    """The schema of one kind, or of any manifest document when ``kind`` is None.

    Raises KeyError for an unknown kind.
    """
    adapter: TypeAdapter[Any] = TypeAdapter(KINDS[kind] if kind else _Any)
    generated = adapter.json_schema(by_alias=True, mode="validation")
    title = (
        f"reconciler {kind}"
        if kind
        else "reconciler manifest (Sandbox, Container, Pod, ConfigMap or Secret)"
    )
    return {
        "$schema": DIALECT,
        "title": title,
        **{k: v for k, v in generated.items() if k != "title"},
    }
