"""JSON Schema of the manifest kinds, generated from the pydantic models. No I/O.

Editors use it through ``# yaml-language-server: $schema=...``: completion,
hover text (the models' field docstrings) and validation as you type. The
schema says what the loader's field checks say (names, types, enums, unknown
fields); rules across fields (unique names, a mount naming a declared volume)
remain the loader's. A v1 Pod, ConfigMap or Secret is read as Kubernetes reads
it (core/kubeyaml.py), and its schema says so too: null for any field, the
Kubernetes fields the loader ignores, and those it refuses but for an explicit
default (core/kubefields.py), each described; a v1 List holds such documents.
"""

from __future__ import annotations

import ast
import inspect
import threading
from typing import Any

from pydantic import BaseModel, TypeAdapter

from reconciler.core import kubefields, kubeyaml, models
from reconciler.core.kubefields import Ignored, Refused
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

# Read as Kubernetes reads them: their schemas name their own definitions (Pod.Volume).
_KUBERNETES = ("Pod", "ConfigMap", "Secret")
_LIST = {
    "type": "object",
    "description": "What `kubectl get -o yaml` prints for more than one object: each item "
    "is read as a document of its own.",
    "properties": {
        "apiVersion": {"const": "v1"},
        "kind": {"const": "List"},
        "metadata": {"description": "ignored: an API server's record of the list"},
        "items": {"anyOf": [{"type": "array", "items": {"$ref": "#"}}, {"type": "null"}]},
    },
    "required": ["apiVersion", "kind"],
    "additionalProperties": False,
}


def schema(kind: str | None = None) -> dict[str, Any]:
    """The schema of one kind, or of any manifest document when ``kind`` is None.

    Raises KeyError for an unknown kind.
    """
    _describe_fields()
    generated = _of_kind(kind) if kind else _any()
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


def _of_kind(kind: str, prefix: str = "") -> dict[str, Any]:
    """One kind's schema, its definitions named ``prefix`` + the model's name."""
    adapter: TypeAdapter[Any] = TypeAdapter(KINDS[kind])
    template = f"#/$defs/{prefix}{{model}}"
    generated = adapter.json_schema(by_alias=True, mode="validation", ref_template=template)
    generated["$defs"] = {prefix + name: d for name, d in generated.get("$defs", {}).items()}
    if kind in _KUBERNETES:
        _as_kubernetes_reads(generated, kind, prefix)
    return generated


def _any() -> dict[str, Any]:
    """Any document: one of the kinds (the v1 ones with definitions of their own), or a List."""
    branches: list[dict[str, Any]] = []
    defs: dict[str, Any] = {}
    for kind in KINDS:
        one = _of_kind(kind, f"{kind}." if kind in _KUBERNETES else "")
        defs.update(one.pop("$defs"))
        one.pop("title", None)
        branches.append(one)
    return {"$defs": defs, "oneOf": [*branches, _LIST]}


def _as_kubernetes_reads(generated: dict[str, Any], root: str, prefix: str) -> None:
    """Add to each object of a v1 kind's schema what kubeyaml reads beyond its model."""
    kinds = {root: root}  # the model's name (as defined here) -> the Kubernetes object
    for kind in kubefields.FIELDS:
        model = kubeyaml.model_of(root, kind)
        if model is not None:
            kinds.setdefault(prefix + model.__name__, kind)
    for name, definition in [(root, generated), *generated["$defs"].items()]:
        if name in kinds and "properties" in definition:
            _kubernetes_object(definition, kinds[name])


def _kubernetes_object(definition: dict[str, Any], kind: str) -> None:
    properties: dict[str, Any] = definition["properties"]
    required = set(definition.get("required", ()))
    for name, prop in list(properties.items()):
        if kubefields.is_field(kind, name) and name not in required:
            properties[name] = _nullable(prop)
    for name in sorted(kubefields.FIELDS.get(kind, ())):
        found = kubefields.verdict(kind, name)
        if name not in properties and found is not None:
            properties[name] = _unmodeled(kind, name, found)


def _nullable(prop: dict[str, Any]) -> dict[str, Any]:
    """Kubernetes reads null as unset: the property's schema, or null."""
    if {"type": "null"} in prop.get("anyOf", ()):
        return prop
    lifted: dict[str, Any] = {k: prop[k] for k in ("title", "description", "default") if k in prop}
    rest = {k: v for k, v in prop.items() if k not in lifted}
    return {**lifted, "anyOf": [rest, {"type": "null"}]}


def _unmodeled(kind: str, name: str, found: Ignored | Refused) -> dict[str, Any]:
    if isinstance(found, Ignored):
        return {"description": f"ignored: {found.why}"}
    why = kubefields.refusal(kind, (name,), None) or ""
    # Only null when it accepts no value: the loader refuses any other.
    allowed = {"enum": [*found.accepts, None]} if found.accepts else {"type": "null"}
    return {"description": why, **allowed}


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
