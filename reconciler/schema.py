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

from reconciler.models import ContainerManifest, PodManifest, SandboxManifest

DIALECT = "https://json-schema.org/draft/2020-12/schema"
KINDS: dict[str, type[BaseModel]] = {
    "Sandbox": SandboxManifest,
    "Container": ContainerManifest,
    "Pod": PodManifest,
}

_Any = Annotated[SandboxManifest | ContainerManifest | PodManifest, Field(discriminator="kind")]


def schema(kind: str | None = None) -> dict[str, Any]:
    """The schema of one kind, or of any manifest document when ``kind`` is None.

    Raises KeyError for an unknown kind.
    """
    adapter: TypeAdapter[Any] = TypeAdapter(KINDS[kind] if kind else _Any)
    generated = adapter.json_schema(by_alias=True, mode="validation")
    title = f"reconciler {kind}" if kind else "reconciler manifest (Sandbox, Container or Pod)"
    return {
        "$schema": DIALECT,
        "title": title,
        **{k: v for k, v in generated.items() if k != "title"},
    }
