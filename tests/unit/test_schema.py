"""`reconciler schema`: the JSON Schema accepts what the loader accepts, and rejects
what the loader rejects for a field's name, type or value."""

from __future__ import annotations

import ast
import json
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from jsonschema import Draft202012Validator

from reconciler.cli import cli
from reconciler.core.manifests import load_text
from reconciler.formats.schema import KINDS, schema

ROOT = Path(__file__).resolve().parents[2]
VALIDATOR = Draft202012Validator(schema())


def _documents(text: str) -> list[dict[str, Any]]:
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError:
        return []
    return [d for d in docs if isinstance(d, dict) and "kind" in d and "apiVersion" in d]


def _test_manifests() -> list[tuple[str, dict[str, Any]]]:
    """Every manifest written as a string literal in the test suite."""
    found = []
    for path in sorted((ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and "apiVersion" in text and "kind:" in text:
                for i, doc in enumerate(_documents(dedent(text))):
                    found.append((f"{path.name}:{node.lineno}#{i}", doc))
    return found


def _loader_verdict(doc: dict[str, Any]) -> list[str]:
    return [p.message for p in load_text(yaml.safe_dump(doc), "doc.yaml").errors]


def _schema_errors(doc: dict[str, Any]) -> list[str]:
    return [e.message for e in VALIDATOR.iter_errors(doc)]


def test_the_schema_is_valid_json_schema_for_every_kind() -> None:
    for kind in [None, *KINDS]:
        Draft202012Validator.check_schema(schema(kind))


@pytest.mark.parametrize(
    "path", sorted((ROOT / "manifests" / "examples").glob("*.yaml")), ids=lambda p: p.name
)
def test_every_example_manifest_is_valid(path: Path) -> None:
    text = path.read_text()
    assert load_text(text, str(path)).ok
    docs = _documents(text)
    assert docs
    for doc in docs:
        assert _schema_errors(doc) == []
        assert Draft202012Validator(schema(doc["kind"])).is_valid(doc)


def test_the_schema_agrees_with_the_loader_on_the_test_suites_manifests() -> None:
    manifests = _test_manifests()
    assert len(manifests) > 20  # the harvest found the suite's manifests
    accepted = 0
    for where, doc in manifests:
        loader = _loader_verdict(doc)
        if not loader:
            accepted += 1
            assert _schema_errors(doc) == [], where
        elif any("unknown field" in m or m.startswith("Input should be") for m in loader):
            assert _schema_errors(doc), f"{where}: the loader says {loader}"
    assert accepted > 10


SANDBOX = {
    "apiVersion": "reconciler/v1",
    "kind": "Sandbox",
    "metadata": {"name": "web"},
    "spec": {"containers": [{"name": "app", "image": "busybox"}]},
}


def _with(path: list[str | int], key: str, value: Any) -> dict[str, Any]:
    doc = json.loads(json.dumps(SANDBOX))
    target = doc
    for step in path:
        target = target[step]
    target[key] = value
    return doc


@pytest.mark.parametrize(
    ("path", "key", "value"),
    [
        (["spec", "containers", 0], "comand", ["sh"]),  # unknown field
        (["spec", "containers", 0], "imagePullPolicy", "Sometimes"),  # bad enum
        (["spec"], "restartPolicy", "always"),
        (["spec"], "share", ["network", "uts"]),
        (["metadata"], "name", "Web_1"),  # not a DNS-1123 label
        (["spec"], "terminationGracePeriodSeconds", -1),
        ([], "kind", "Deployment"),
    ],
)
def test_what_the_loader_rejects_the_schema_rejects(
    path: list[str | int], key: str, value: Any
) -> None:
    doc = _with(path, key, value)
    assert _loader_verdict(doc), "the loader accepts it: the case is wrong"
    assert _schema_errors(doc)


def test_descriptions_come_from_the_field_docs() -> None:
    spec = schema("Sandbox")["$defs"]["SandboxSpec"]["properties"]
    assert "network is required" in spec["share"]["description"]
    assert "$schema" in schema("Pod")


def test_the_command_prints_the_schema_of_one_kind() -> None:
    result = CliRunner().invoke(cli, ["schema", "--kind", "Container"])
    assert result.exit_code == 0, result.output
    printed = json.loads(result.output)
    assert printed["properties"]["kind"]["const"] == "Container"
    bad = CliRunner().invoke(cli, ["schema", "--kind", "Deployment"])
    assert bad.exit_code == 2
