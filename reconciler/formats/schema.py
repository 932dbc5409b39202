"""JSON Schema of the manifest kinds, generated from the pydantic models. No I/O.

Editors use it through ``# yaml-language-server: $schema=...``: completion,
hover text (the models' field docstrings) and validation as you type. The
schema says what the loader's field checks say (names, types, enums, unknown
fields); rules across fields (unique names, a mount naming a declared volume)
remain the loader's.
"""

from __future__ import annotations

import ast
import inspect
import threading
from typing import Annotated, Any

from pydantic import BaseModel, Field, TypeAdapter

from reconciler.core import models
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
    _describe_fields()
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


_described = threading.Lock()
_DONE: list[bool] = []


def _describe_fields() -> None:
    """Give the models' fields their attribute docstrings as descriptions (once).

    What pydantic's ``use_attribute_docstrings`` does, done here, when a
    schema is asked for, rather than at every import of the models: a
    string right after a field's annotation describes it; a field a class
    inherits keeps its base's description. Models already built are rebuilt.
    """
    with _described:
        if _DONE:
            return
        docs: dict[str, dict[str, str]] = {}
        for node in ast.parse(inspect.getsource(models)).body:
            if isinstance(node, ast.ClassDef):
                docs[node.name] = _attribute_docs(node)
        classes = [
            c
            for c in vars(models).values()
            if isinstance(c, type)
            and issubclass(c, models.Model)
            and c.__module__ == models.__name__
        ]
        for cls in classes:  # bases before subclasses: the module defines them so
            own = docs.get(cls.__name__, {})
            for name, field in cls.model_fields.items():
                if field.description is not None:
                    continue
                if name in cls.__annotations__:
                    field.description = own.get(name)
                else:
                    field.description = next(
                        (
                            b.model_fields[name].description
                            for b in cls.__mro__[1:]
                            if isinstance(b, type)
                            and issubclass(b, BaseModel)
                            and name in b.model_fields
                        ),
                        None,
                    )
        for cls in classes:
            if cls.__pydantic_complete__:
                cls.model_rebuild(force=True)
        _DONE.append(True)


def _attribute_docs(node: ast.ClassDef) -> dict[str, str]:
    found = {}
    for annotated, after in zip(node.body, node.body[1:], strict=False):
        if (
            isinstance(annotated, ast.AnnAssign)
            and isinstance(annotated.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            found[annotated.target.id] = inspect.cleandoc(after.value.value)
    return found
