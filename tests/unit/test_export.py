"""`reconciler export --to kubernetes`: valid Kubernetes manifests (checked offline with
kubernetes-validate against the Kubernetes schemas, strict: no unknown field), and
every field without an equivalent reported."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent
from typing import Any

import kubernetes_validate
import pytest
import yaml
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.core.manifests import load_paths, load_text
from reconciler.core.models import SandboxManifest
from reconciler.formats.export import Exported, export

ROOT = Path(__file__).resolve().parents[2]
K8S = "1.37.0"  # the newest schemas kubernetes-validate ships

RICH = """
    apiVersion: reconciler/v1
    kind: Sandbox
    metadata: {name: web, namespace: shop, labels: {tier: front}, annotations: {team: a}}
    spec:
      runtime: runsc
      mode: container-in-sandbox
      share: [network, ipc, pid]
      ports: [{containerPort: 80, hostPort: 8080, hostIP: 127.0.0.1}]
      restartPolicy: OnFailure
      terminationGracePeriodSeconds: 7
      hostname: www
      hostAliases: [{ip: 10.0.0.5, hostnames: [db.local]}]
      securityContext: {fsGroup: 2000, runAsNonRoot: true, runAsUser: 1000}
      volumes:
        - {name: data, emptyDir: {}}
        - {name: scratch, emptyDir: {medium: Memory, sizeLimit: 64Mi}}
        - {name: host, hostPath: {path: /srv/web, type: DirectoryOrCreate}}
      initContainers:
        - {name: setup, image: busybox, command: [sh, -c, "true"]}
        - {name: proxy, image: busybox, restartPolicy: Always}
      containers:
        - name: app
          image: nginx:1.25
          imagePullPolicy: Always
          command: [nginx]
          args: ["-g", "daemon off;"]
          workingDir: /
          env: [{name: MODE, value: prod}, {name: EMPTY}]
          ports: [{containerPort: 8443, hostPort: 8443, protocol: TCP, name: tls}]
          volumeMounts:
            - {name: data, mountPath: /data}
            - {name: host, mountPath: /h, readOnly: true}
          resources: {limits: {cpu: 500m, memory: 128Mi}, requests: {cpu: 1, memory: 64Mi}}
          securityContext:
            runAsUser: 1000
            runAsGroup: 1000
            readOnlyRootFilesystem: true
            allowPrivilegeEscalation: false
            capabilities: {add: [NET_ADMIN], drop: [ALL]}
          tty: true
          livenessProbe:
            {exec: {command: ["true"]}, periodSeconds: 5, terminationGracePeriodSeconds: 3}
          readinessProbe: {httpGet: {path: /ready, port: 80}, failureThreshold: 2}
          startupProbe: {tcpSocket: {port: 80}}
        - name: side
          image: busybox
          runtime: runc
          volumeMounts: [{name: scratch, mountPath: /tmp}]
        - name: probed
          image: busybox
          livenessProbe: {grpc: {port: 9090, service: probed}}
          readinessProbe:
            httpGet: {port: 80, httpHeaders: [{name: Host, value: probed.test}]}
---
    apiVersion: reconciler/v1
    kind: Container
    metadata: {name: cache}
    spec:
      image: redis:7
      runtime: kata
      ports: [{containerPort: 6379, hostPort: 6379, hostIP: 127.0.0.1}]
      volumes: [{name: data, emptyDir: {}}]
      volumeMounts: [{name: data, mountPath: /data}]
      subdomain: cache
      dnsConfig: {nameservers: [10.0.0.53]}
"""


def _export(text: str, workload: Any = "pod") -> Exported:
    loaded = load_text(dedent(text), "m.yaml")
    assert loaded.ok, [str(e) for e in loaded.errors]
    return export([m.manifest for m in loaded.manifests], workload)


def _valid(documents: list[dict[str, Any]]) -> None:
    for doc in documents:
        kubernetes_validate.validate(doc, K8S, strict=True)  # raises on any problem


@pytest.mark.parametrize("workload", ["pod", "deployment"])
def test_examples_and_a_unit_with_every_field_export_valid_manifests(workload: str) -> None:
    examples = load_paths([str(ROOT / "manifests" / "examples")])
    _valid(export([m.manifest for m in examples.manifests], workload).documents)  # type: ignore[arg-type]
    _valid(_export(RICH, workload).documents)


def test_runtime_ports_volumes_and_probes_are_mapped() -> None:
    web, cache = _export(RICH).documents
    spec = web["spec"]
    assert web["metadata"] == {
        "name": "web",
        "namespace": "shop",
        "labels": {"tier": "front"},
        "annotations": {"team": "a"},
    }
    assert spec["runtimeClassName"] == "runsc"
    assert spec["shareProcessNamespace"] is True
    assert (spec["restartPolicy"], spec["terminationGracePeriodSeconds"]) == ("OnFailure", 7)
    app = spec["containers"][0]
    assert app["ports"] == [
        {"containerPort": 80, "hostPort": 8080, "hostIP": "127.0.0.1"},  # the sandbox's
        {"containerPort": 8443, "hostPort": 8443, "name": "tls"},
    ]
    assert app["resources"]["requests"]["cpu"] == "1"
    assert app["readinessProbe"] == {
        "httpGet": {"path": "/ready", "port": 80},
        "failureThreshold": 2,
    }
    assert "runtime" not in spec["containers"][1]
    assert app["livenessProbe"]["terminationGracePeriodSeconds"] == 3
    probed = spec["containers"][2]
    assert probed["livenessProbe"] == {"grpc": {"port": 9090, "service": "probed"}}
    assert probed["readinessProbe"]["httpGet"]["httpHeaders"] == [
        {"name": "Host", "value": "probed.test"}
    ]
    assert spec["volumes"][1] == {
        "name": "scratch",
        "emptyDir": {"medium": "Memory", "sizeLimit": "64Mi"},
    }
    assert spec["volumes"][2]["hostPath"] == {"path": "/srv/web", "type": "DirectoryOrCreate"}
    assert spec["initContainers"][0]["name"] == "setup"
    assert (spec["hostname"], spec["hostAliases"][0]["hostnames"]) == ("www", ["db.local"])
    assert spec["securityContext"] == {"runAsUser": 1000, "runAsNonRoot": True, "fsGroup": 2000}
    assert (cache["spec"]["subdomain"], cache["spec"]["dnsConfig"]) == (
        "cache",
        {"nameservers": ["10.0.0.53"]},
    )
    (only,) = cache["spec"]["containers"]
    assert only["name"] == "cache" and cache["spec"]["runtimeClassName"] == "kata"
    assert only["imagePullPolicy"] == "IfNotPresent"  # said, since Kubernetes' default differs


def test_what_has_no_equivalent_is_reported_not_dropped() -> None:
    exported = _export(RICH, "deployment")
    fields = {(loss.unit, loss.field) for loss in exported.losses}
    assert fields == {
        ("sandbox/web", "spec.mode"),
        ("sandbox/web", "spec.containers[1].runtime"),
        ("sandbox/web", "spec.restartPolicy"),
    }
    assert any("RuntimeClass named 'runsc'" in n for n in exported.notes)
    no_ipc = _export(RICH.replace("share: [network, ipc, pid]", "share: [network]"))
    assert any(loss.field == "spec.share" for loss in no_ipc.losses)


def test_a_deployment_with_a_host_port_replaces_its_pod_rather_than_rolls() -> None:
    web = _export(RICH, "deployment").documents[0]
    assert web["spec"]["strategy"] == {"type": "Recreate"}
    assert web["spec"]["selector"]["matchLabels"] == {"app.kubernetes.io/name": "web"}
    assert web["spec"]["template"]["metadata"]["labels"]["tier"] == "front"


def test_an_exported_pod_reads_back_as_the_same_sandbox() -> None:
    text = RICH.partition("\n---\n")[0].replace("      mode: container-in-sandbox\n", "")
    text = text.replace(
        "      ports: [{containerPort: 80, hostPort: 8080, hostIP: 127.0.0.1}]\n", ""
    )
    text = text.replace("          runtime: runc\n", "").replace("cpu: 1,", 'cpu: "1",')
    original = load_text(dedent(text), "m.yaml").manifests[0].manifest
    pod = _export(text).documents[0]
    back = load_text(yaml.safe_dump(pod), "pod.yaml")
    assert back.ok, [str(e) for e in back.errors]
    again = back.manifests[0].manifest
    assert isinstance(again, SandboxManifest) and isinstance(original, SandboxManifest)
    assert again.spec == original.spec.model_copy(update={"runtime": "runsc"})


def test_the_command_writes_yaml_and_reports_on_stderr(tmp_path: Path) -> None:
    (tmp_path / "m.yaml").write_text(dedent(RICH))
    result = CliRunner().invoke(
        cli, ["export", "--to", "kubernetes", "-f", str(tmp_path), "--workload", "deployment"]
    )
    assert result.exit_code == 0, result.output
    documents = list(yaml.safe_load_all(result.stdout))
    assert [d["kind"] for d in documents] == ["Deployment", "Deployment"]
    _valid(documents)
    assert "warning: sandbox/web: spec.mode:" in result.stderr
    assert "note: runtimeClassName kata" in result.stderr


def test_config_maps_and_secrets_are_exported_beside_the_pods_that_read_them(
    tmp_path: Path,
) -> None:
    (tmp_path / "m.yaml").write_text(
        dedent(
            """
            apiVersion: v1
            kind: Secret
            metadata: {name: creds}
            stringData: {TOKEN: s3cret}
            ---
            apiVersion: reconciler/v1
            kind: Container
            metadata: {name: app}
            spec:
              image: busybox
              envFrom: [{secretRef: {name: creds}}]
            """
        )
    )
    result = CliRunner().invoke(cli, ["export", "--to", "kubernetes", "-f", str(tmp_path)])
    assert result.exit_code == 0, result.output
    secret, pod = yaml.safe_load_all(result.stdout)
    # A cluster reads them as reconciler does: the Secret stays a Secret.
    assert secret == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "creds", "namespace": "default"},
        "type": "Opaque",
        "data": {"TOKEN": "czNjcmV0"},
    }
    assert pod["spec"]["containers"][0]["envFrom"] == [{"secretRef": {"name": "creds"}}]
    assert "env" not in pod["spec"]["containers"][0]
