"""The Kubernetes field table (core/kubefields.py): every field of the API's objects is
there, every one a model lacks has a verdict, and the refusal is one mechanism for
every kind: "not supported by reconciler: <field>, because <reason>"."""

from __future__ import annotations

import json
from pathlib import Path
from textwrap import dedent
from typing import Any

import kubernetes_validate
import pytest

from reconciler.core import kubefields, kubeyaml, models
from reconciler.core.kubefields import FIELDS, HOLDS, VERDICTS, Ignored, Refused
from reconciler.core.manifests import load_text

_OWN = {"Sandbox", "ContainerUnit"}  # reconciler's kinds, not Kubernetes objects
_ROOT_OF = {"ConfigMap": "ConfigMap", "Secret": "Secret"}  # else a Pod's object


def _api_reference() -> dict[str, Any]:
    """The newest Kubernetes API kubernetes-validate carries (its OpenAPI, as JSON Schema)."""
    base = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    newest = max(
        (p for p in base.glob("v*-local") if p.is_dir()),
        key=lambda p: tuple(int(n) for n in p.name[1:].split("-")[0].split(".")),
    )
    raw = json.loads((newest / "_definitions.json").read_text())
    return dict(raw.get("$defs") or raw["definitions"])


def _definition(kind: str) -> str:
    group = "apimachinery.pkg.apis.meta.v1" if kind == "ObjectMeta" else "api.core.v1"
    return f"io.k8s.{group}.{kind}"


@pytest.mark.parametrize("kind", sorted(set(FIELDS) - _OWN))
def test_the_fields_are_the_kubernetes_apis(kind: str) -> None:
    reference = _api_reference()[_definition(kind)]
    assert set(reference["properties"]) == FIELDS[kind], (
        f"Kubernetes' {kind} has other fields than kubefields.FIELDS: update the table "
        f"(and give each new field a verdict)"
    )


def test_the_fields_the_table_walks_into_are_kubernetes_fields() -> None:
    for (kind, name), held in HOLDS.items():
        assert name in FIELDS[kind], (kind, name)
        assert held in FIELDS or held == "ContainerUnitSpec", held
    for kind, name in VERDICTS:
        assert name in FIELDS[kind], (kind, name)


@pytest.mark.parametrize("kind", sorted(set(FIELDS) - _OWN))
def test_every_field_a_model_lacks_has_a_verdict(kind: str) -> None:
    model = kubeyaml.model_of(_ROOT_OF.get(kind, "Pod"), kind)
    if model is None:
        pytest.skip(f"no model reads Kubernetes' {kind} (its field is refused whole)")
    lacking = sorted(FIELDS[kind] - kubeyaml.model_fields(model))
    assert [n for n in lacking if (kind, n) not in VERDICTS] == []


def test_every_verdict_has_a_reason_and_accepts_what_it_lists() -> None:
    for (kind, name), verdict in VERDICTS.items():
        assert verdict.why and not verdict.why.endswith("."), (kind, name)
        if isinstance(verdict, Refused):
            for value in verdict.accepts:  # an accepted value is never what it refuses
                assert kubefields.accepted(verdict, value)


def test_a_value_is_compared_as_json() -> None:
    refused = Refused("x", (False,))
    assert kubefields.accepted(refused, False) and kubefields.accepted(refused, None)
    assert not kubefields.accepted(refused, 0)  # YAML's 0 is no false to the API server
    assert kubefields.accepted(Ignored("x", ([{"a": 1}],)), [{"a": 1}])


# --- one mechanism for every kind ---------------------------------------------------------


def _errors(text: str) -> dict[str, str]:
    return {p.field: p.message for p in load_text(dedent(text), "m.yaml").errors}


def test_a_sandbox_refuses_kubernetes_fields_by_name_and_misspellings_as_unknown() -> None:
    errors = _errors(
        """
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {name: s}
        spec:
          hostNetwork: false
          nodeSelector: {disk: ssd}
          containers:
            - name: a
              image: x
              comand: [sh]
              securityContext: {seLinuxOptions: {level: s0}}
              resources: {claims: [{name: gpu}]}
        """
    )
    assert errors == {
        "spec.hostNetwork": "not supported by reconciler: hostNetwork, because a sandbox's "
        "members share the infra's namespaces, never the host's",
        "spec.nodeSelector": "not supported by reconciler: nodeSelector, because only a "
        "cluster scheduler uses it",
        "spec.containers[0].comand": "unknown field",
        "spec.containers[0].securityContext.seLinuxOptions": "not supported by reconciler: "
        "seLinuxOptions, because SELinux labels are not supported (no SELinux on these Docker "
        "hosts)",
        "spec.containers[0].resources.claims": "not supported by reconciler: claims, because "
        "dynamic resource allocation needs a cluster's DRA drivers",
    }


def test_a_standalone_container_has_a_containers_and_a_pods_kubernetes_fields() -> None:
    errors = _errors(
        """
        apiVersion: reconciler/v1
        kind: Container
        metadata: {name: c}
        spec:
          image: x
          hostPID: true
          volumeDevices: [{name: d, devicePath: /dev/xvda}]
          share: [network]
        """
    )
    assert errors["spec.hostPID"].startswith("not supported by reconciler: hostPID: true, because")
    assert errors["spec.volumeDevices"].startswith("not supported by reconciler: volumeDevices")
    assert errors["spec.share"] == "unknown field"  # a Sandbox's field, not Kubernetes'


def test_a_configmaps_kubernetes_fields() -> None:
    errors = _errors(
        """
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: c, uid: 1a, resourceVersion: "9"}
        data: {A: b}
        binaryData: {B: AAE=}
        """
    )
    assert errors == {
        "binaryData": "not supported by reconciler: binaryData, because a container's "
        "variables are text: put the values in data"
    }


def test_a_field_a_model_gains_is_the_models_whatever_the_table_says(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What another engineer's new field does to the table: its entry stops mattering."""

    class WithHostNetwork(models.PodSpec):
        host_network: bool = False

    found = kubeyaml.model_of
    monkeypatch.setattr(
        kubeyaml,
        "model_of",
        lambda root, kind: WithHostNetwork if kind == "PodSpec" else found(root, kind),
    )
    for value in (True, False):
        data = {"spec": {"hostNetwork": value, "containers": [{"name": "a", "image": "x"}]}}
        assert kubeyaml.read(data, "Pod").data["spec"]["hostNetwork"] is value
