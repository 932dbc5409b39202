"""The manifest loader: files, directories, documents, and where every problem is."""

from __future__ import annotations

import re
from pathlib import Path
from textwrap import dedent

import pytest

from reconciler.core.errors import Location, ManifestError, Problem
from reconciler.core.manifests import (
    LoadResult,
    discover,
    is_manifest_file,
    load_file,
    load_paths,
    load_text,
)
from reconciler.core.models import ContainerManifest, Kind, Namespace, SandboxManifest

PROBLEM = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+):(?P<column>\d+): (?P<field>[^:]+): .+$")


def load(text: str, path: str = "m.yaml") -> LoadResult:
    return load_text(dedent(text), path)


def messages(problems: list[Problem]) -> list[str]:
    return [str(p) for p in problems]


def only_error(result: LoadResult) -> Problem:
    assert len(result.errors) == 1, messages(result.errors)
    return result.errors[0]


def at(problem: Problem) -> tuple[int | None, int | None, str]:
    return problem.location.line, problem.location.column, problem.field


def sandbox_doc(name: str, namespace: str | None = None) -> str:
    ns = f", namespace: {namespace}" if namespace else ""
    return (
        "apiVersion: reconciler/v1\n"
        "kind: Sandbox\n"
        f"metadata: {{name: {name}{ns}}}\n"
        "spec:\n"
        "  containers: [{name: app, image: busybox:1}]\n"
    )


def container_doc(name: str) -> str:
    return (
        "apiVersion: reconciler/v1\n"
        "kind: Container\n"
        f"metadata: {{name: {name}}}\n"
        "spec: {image: busybox:1}\n"
    )


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def names(result: LoadResult) -> list[str]:
    return sorted(m.manifest.metadata.name for m in result.manifests)


# --- a valid document -------------------------------------------------------


def test_a_sandbox_loads_with_its_location_and_source() -> None:
    result = load(
        """\
        # a comment first
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata:
          name: web
        spec:
          containers:
            - name: app
              image: nginx:1.25
        """
    )
    assert result.ok
    assert result.errors == []
    assert result.warnings == []
    assert result.files == ["m.yaml"]
    (loaded,) = result.manifests
    assert isinstance(loaded.manifest, SandboxManifest)
    assert loaded.manifest.metadata.namespace == "default"
    assert loaded.identity == (Kind.SANDBOX, "default", "web")
    assert str(loaded.location) == "m.yaml:2:1"
    assert loaded.source == "m.yaml"


def test_source_may_differ_from_the_path_in_messages() -> None:
    result = load_text(container_doc("c"), "/abs/dir/c.yaml", source="dir/c.yaml")
    (loaded,) = result.manifests
    assert loaded.source == "dir/c.yaml"
    assert loaded.location.path == "/abs/dir/c.yaml"


def test_metadata_namespace_is_kept_when_given() -> None:
    (loaded,) = load(sandbox_doc("web", "prod")).manifests
    assert loaded.identity == (Kind.SANDBOX, "prod", "web")


def test_a_container_loads() -> None:
    (loaded,) = load(container_doc("cache")).manifests
    assert isinstance(loaded.manifest, ContainerManifest)
    assert loaded.identity == (Kind.CONTAINER, "default", "cache")
    assert loaded.manifest.spec.image == "busybox:1"


# --- where problems are -----------------------------------------------------


def test_every_error_reads_path_line_column_field_message() -> None:
    result = load(
        """\
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata:
          name: Web
        spec:
          share: [ipc]
          containers:
            - name: app
              imag: busybox
        """
    )
    assert not result.ok
    assert result.errors
    for problem in result.errors:
        match = PROBLEM.match(str(problem))
        assert match, str(problem)
        assert match["path"] == "m.yaml"


def test_missing_required_field_points_at_its_parent() -> None:
    result = load(
        """\
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata:
          name: web
        spec:
          containers:
            - name: app
              imagePullPolicy: Always
        """
    )
    problem = only_error(result)
    assert str(problem) == "m.yaml:7:7: spec.containers[0].image: required field is missing"
    assert result.manifests == []


def test_unknown_field_is_an_error_naming_it() -> None:
    result = load(
        """\
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata:
          name: web
        spec:
          containers:
            - name: app
              image: busybox
              imag: busybox
        """
    )
    problem = only_error(result)
    assert str(problem) == "m.yaml:9:7: spec.containers[0].imag: unknown field"


def test_a_misspelt_required_field_gives_both_problems() -> None:
    result = load(
        """\
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata:
          name: web
        spec:
          containers:
            - name: app
              imag: busybox
        """
    )
    assert sorted(messages(result.errors)) == [
        "m.yaml:7:7: spec.containers[0].image: required field is missing",
        "m.yaml:8:7: spec.containers[0].imag: unknown field",
    ]


def test_unknown_top_level_and_metadata_fields() -> None:
    result = load(
        """\
        apiVersion: reconciler/v1
        kind: Container
        metadata:
          name: c
          uid: 1234
        spec:
          image: x
        extra: true
        """
    )
    assert sorted(at(p) for p in result.errors) == [(5, 3, "metadata.uid"), (8, 1, "extra")]
    messages = {p.field: p.message for p in result.errors}
    assert messages["extra"] == "unknown field"
    # A Kubernetes field says what it is; only a v1 document may carry an API server's record.
    assert messages["metadata.uid"] == (
        "not supported by reconciler: uid, because an API server keeps it as its record of "
        "the object"
    )


def test_missing_top_level_field_points_at_the_document() -> None:
    result = load(
        """\

        apiVersion: reconciler/v1
        kind: Container
        spec: {image: x}
        """
    )
    problem = only_error(result)
    assert str(problem) == "m.yaml:2:1: metadata: required field is missing"


def test_missing_containers_points_at_the_spec_key() -> None:
    result = load(
        """\
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {name: web}
        spec:
          runtime: runc
        """
    )
    problem = only_error(result)
    assert str(problem) == "m.yaml:4:1: spec.containers: required field is missing"


def test_a_bad_value_points_at_its_key_with_the_validator_message() -> None:
    result = load(
        """\
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata:
          name: web
        spec:
          share: [ipc]
          containers: [{name: app, image: busybox}]
        """
    )
    problem = only_error(result)
    assert at(problem) == (6, 3, "spec.share")
    assert (
        problem.message
        == "a sandbox always shares its network namespace: the infra holds the ports"
    )


def test_columns_inside_flow_mappings() -> None:
    result = load(
        """\
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {name: Web}
        spec:
          containers: [{name: app, image: ""}]
        """
    )
    assert sorted(at(p) for p in result.errors) == [
        (3, 12, "metadata.name"),
        (5, 28, "spec.containers[0].image"),
    ]
    name_error = next(p for p in result.errors if p.field == "metadata.name")
    assert "'Web' is not a DNS-1123 label" in name_error.message


def test_a_bad_list_item_points_at_the_item() -> None:
    result = load(
        """\
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {name: web}
        spec:
          share:
            - network
            - uts
          containers: [{name: app, image: busybox}]
        """
    )
    problem = only_error(result)
    assert at(problem) == (7, 7, "spec.share[1]")


def test_a_model_rule_points_at_the_object_it_checks() -> None:
    result = load(
        """\
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {name: web}
        spec:
          initContainers:
            - {name: app, image: busybox}
          containers:
            - {name: app, image: busybox}
        """
    )
    problem = only_error(result)
    assert str(problem) == "m.yaml:4:1: spec: duplicate container name 'app'"


def test_a_probe_error_points_at_the_probe() -> None:
    result = load(
        """\
        apiVersion: reconciler/v1
        kind: Container
        metadata: {name: c}
        spec:
          image: x
          livenessProbe:
            exec: {command: ["true"]}
            tcpSocket: {port: 80}
        """
    )
    problem = only_error(result)
    assert at(problem) == (6, 3, "spec.livenessProbe")
    assert problem.message == "a probe needs exactly one of exec, httpGet, tcpSocket, grpc"


def test_a_resource_error_points_at_the_quantity() -> None:
    result = load(
        """\
        apiVersion: reconciler/v1
        kind: Container
        metadata: {name: c}
        spec:
          image: x
          resources:
            limits:
              gpu: 1
        """
    )
    problem = only_error(result)
    assert at(problem) == (7, 5, "spec.resources.limits")
    assert "unsupported resource 'gpu'" in problem.message


def test_a_wrong_type_names_the_field() -> None:
    result = load(
        """\
        apiVersion: reconciler/v1
        kind: Container
        metadata: {name: c}
        spec:
          image: x
          env:
            - name: A
              value: 1
        """
    )
    problem = only_error(result)
    assert at(problem) == (8, 7, "spec.env[0].value")
    assert "string" in problem.message


def test_several_problems_of_one_document_are_all_reported() -> None:
    result = load(
        """\
        apiVersion: reconciler/v1
        kind: Container
        metadata: {name: C}
        spec:
          image: ""
          restartPolicy: Sometimes
        """
    )
    assert sorted(p.field for p in result.errors) == [
        "metadata.name",
        "spec.image",
        "spec.restartPolicy",
    ]


def test_errors_raise_as_one_manifest_error() -> None:
    result = load(container_doc("C"))
    error = ManifestError(result.errors)
    assert error.problems == result.errors
    assert str(error).startswith("m.yaml:3:12: metadata.name: 'C' is not a DNS-1123 label")


def test_location_and_problem_formatting() -> None:
    assert str(Location("a.yaml")) == "a.yaml"
    assert str(Location("a.yaml", 3)) == "a.yaml:3"
    assert str(Location("a.yaml", 3, 7)) == "a.yaml:3:7"
    assert str(Problem(Location("a.yaml", 3, 7), "spec.image", "bad")) == (
        "a.yaml:3:7: spec.image: bad"
    )
    assert str(Problem(Location("a.yaml"), "", "cannot read")) == "a.yaml: cannot read"


# --- duplicate keys ---------------------------------------------------------


def test_duplicate_yaml_key_is_an_error_naming_both_lines() -> None:
    result = load(
        """\
        apiVersion: reconciler/v1
        kind: Container
        metadata:
          name: a
          name: b
        spec:
          image: x
        """
    )
    problem = only_error(result)
    assert str(problem) == "m.yaml:5:3: metadata.name: duplicate key (first at line 4)"
    assert result.manifests == []


def test_duplicate_key_inside_a_list_item() -> None:
    result = load(
        """\
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {name: web}
        spec:
          containers:
            - name: app
              image: a
              image: b
        """
    )
    problem = only_error(result)
    assert at(problem) == (8, 7, "spec.containers[0].image")
    assert problem.message == "duplicate key (first at line 7)"


def test_duplicate_top_level_key() -> None:
    result = load(
        """\
        apiVersion: reconciler/v1
        kind: Container
        kind: Container
        metadata: {name: c}
        spec: {image: x}
        """
    )
    assert at(only_error(result)) == (3, 1, "kind")


def test_keys_are_read_as_written_so_1_and_true_are_two_keys() -> None:
    result = load(
        """\
        apiVersion: reconciler/v1
        kind: Container
        metadata:
          name: c
          labels: {1: a, true: b, 1.0: c}
        spec: {image: x}
        """
    )
    assert result.ok, messages(result.errors)
    assert result.manifests[0].manifest.metadata.labels == {"1": "a", "true": "b", "1.0": "c"}


def test_merge_keys_are_resolved() -> None:
    result = load(
        """\
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {name: web}
        spec:
          containers:
            - &app {name: app, image: busybox:1}
            - {<<: {image: busybox:2}, name: sidecar}
        """
    )
    assert result.ok, messages(result.errors)
    (loaded,) = result.manifests
    assert isinstance(loaded.manifest, SandboxManifest)
    assert [(c.name, c.image) for c in loaded.manifest.spec.containers] == [
        ("app", "busybox:1"),
        ("sidecar", "busybox:2"),
    ]


def test_a_key_may_override_a_merged_key() -> None:
    result = load(
        """\
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {name: web}
        spec:
          containers:
            - &app {name: app, image: busybox:1}
            - <<: *app
              name: sidecar
        """
    )
    assert result.ok, messages(result.errors)
    (loaded,) = result.manifests
    assert isinstance(loaded.manifest, SandboxManifest)
    assert [c.name for c in loaded.manifest.spec.containers] == ["app", "sidecar"]


def test_a_non_scalar_key_is_an_error() -> None:
    result = load(
        """\
        apiVersion: reconciler/v1
        kind: Container
        metadata: {name: c}
        spec:
          image: x
          ? [a, b]
          : c
        """
    )
    problem = only_error(result)
    assert at(problem) == (6, 5, "spec")
    assert problem.message == "a mapping key must be a scalar"


# --- documents --------------------------------------------------------------


def test_multi_document_file_loads_every_document() -> None:
    text = "---\n" + sandbox_doc("a") + "---\n" + container_doc("b") + "--- # third\n"
    text += sandbox_doc("c") + "---\n"
    result = load_text(text, "m.yaml")
    assert result.ok, messages(result.errors)
    assert names(result) == ["a", "b", "c"]
    assert [str(m.location) for m in result.manifests] == [
        "m.yaml:2:1",
        "m.yaml:8:1",
        "m.yaml:13:1",
    ]


def test_empty_and_comment_only_documents_are_skipped() -> None:
    result = load_text("# nothing\n---\n---\n" + container_doc("c") + "---\n# end\n", "m.yaml")
    assert result.ok
    assert names(result) == ["c"]
    assert [str(m.location) for m in result.manifests] == ["m.yaml:4:1"]


def test_a_document_on_the_marker_line_is_not_dropped() -> None:
    text = container_doc("a") + "--- {apiVersion: reconciler/v1, kind: Container,"
    text += " metadata: {name: b}, spec: {image: x}}\n"
    result = load_text(text, "m.yaml")
    # Either it loads, or it is an error on that line; never silently nothing.
    assert names(result) == ["a", "b"] or [p.location.line for p in result.errors] == [5]


def test_a_yaml_directive_is_accepted() -> None:
    result = load_text("%YAML 1.1\n---\n" + container_doc("c"), "m.yaml")
    assert result.ok, messages(result.errors)
    assert names(result) == ["c"]


def test_an_empty_file_loads_nothing_and_is_fine() -> None:
    result = load_text("", "m.yaml")
    assert result.ok
    assert result.manifests == []
    assert result.files == ["m.yaml"]


def test_invalid_yaml_in_one_document_does_not_hide_the_others() -> None:
    text = (
        sandbox_doc("first")  # lines 1-5
        + "---\n"  # 6
        + "apiVersion: reconciler/v1\n"  # 7
        + "kind: Sandbox\n"  # 8
        + "metadata: {name: broken\n"  # 9
        + "spec: {}\n"  # 10
        + "---\n"  # 11
        + container_doc("last")  # 12-15
    )
    result = load_text(text, "m.yaml")
    assert names(result) == ["first", "last"]
    problem = only_error(result)
    assert problem.field == ""
    assert problem.message.startswith("invalid YAML:")
    assert problem.location.path == "m.yaml"
    assert problem.location.line is not None
    assert 9 <= problem.location.line <= 10
    assert [str(m.location) for m in result.manifests] == ["m.yaml:1:1", "m.yaml:12:1"]


def test_invalid_yaml_in_the_first_document_points_at_its_line() -> None:
    text = "apiVersion: reconciler/v1\nkind: [Sandbox\n---\n" + container_doc("ok")
    result = load_text(text, "m.yaml")
    assert names(result) == ["ok"]
    problem = only_error(result)
    assert problem.location.line in (2, 3)
    assert problem.message.startswith("invalid YAML:")


def test_scanner_error_has_line_and_column() -> None:
    text = container_doc("a") + "---\n" + "apiVersion: reconciler/v1\nkind: Container\n\t bad: x\n"
    result = load_text(text, "m.yaml")
    assert names(result) == ["a"]
    problem = only_error(result)
    assert (problem.location.line, problem.location.column) == (8, 1)
    assert "invalid YAML" in problem.message


def test_validation_error_in_a_later_document_has_a_file_line() -> None:
    text = container_doc("a") + "---\n" + container_doc("b") + "---\n" + container_doc("C")
    result = load_text(text, "m.yaml")
    assert names(result) == ["a", "b"]
    assert str(only_error(result)).startswith("m.yaml:13:12: metadata.name:")


def test_crlf_line_endings_keep_line_numbers() -> None:
    text = (container_doc("a") + "---\n" + container_doc("B")).replace("\n", "\r\n")
    result = load_text(text, "m.yaml")
    assert names(result) == ["a"]
    assert at(only_error(result)) == (8, 12, "metadata.name")


def test_a_document_must_be_a_mapping() -> None:
    result = load_text(container_doc("a") + "---\n- a\n- b\n", "m.yaml")
    assert names(result) == ["a"]
    assert str(only_error(result)) == (
        "m.yaml:6:1: a document must be a mapping with apiVersion and kind"
    )


def test_a_plain_scalar_document_is_not_a_manifest() -> None:
    result = load_text("hello\n", "m.yaml")
    assert only_error(result).message == "a document must be a mapping with apiVersion and kind"


# --- apiVersion and kind ----------------------------------------------------


def test_unsupported_kind_is_an_error_at_kind() -> None:
    result = load(
        """\
        apiVersion: v1
        kind: Service
        metadata: {name: s}
        """
    )
    problem = only_error(result)
    assert at(problem) == (2, 1, "kind")
    assert "unsupported apiVersion/kind 'v1'/'Service'" in problem.message
    assert "reconciler/v1/Sandbox" in problem.message
    assert "v1/Pod" in problem.message


def test_unsupported_api_version_is_an_error() -> None:
    result = load(
        """\
        apiVersion: reconciler/v2
        kind: Sandbox
        metadata: {name: s}
        """
    )
    problem = only_error(result)
    assert "'reconciler/v2'/'Sandbox'" in problem.message
    assert problem.field in ("apiVersion", "kind")


def test_missing_api_version_is_named() -> None:
    result = load(
        """\
        kind: Sandbox
        metadata: {name: s}
        """
    )
    assert at(only_error(result)) == (1, 1, "apiVersion")


def test_missing_kind_is_named() -> None:
    result = load(
        """\
        metadata: {name: s}
        apiVersion: reconciler/v1
        """
    )
    assert at(only_error(result)) == (1, 1, "kind")


def test_kubernetes_api_version_with_reconciler_kind_is_refused() -> None:
    result = load(
        """\
        apiVersion: v1
        kind: Sandbox
        metadata: {name: s}
        spec: {containers: [{name: a, image: x}]}
        """
    )
    assert "unsupported apiVersion/kind 'v1'/'Sandbox'" in only_error(result).message


# --- Kubernetes Pods --------------------------------------------------------


POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  shareProcessNamespace: true
  runtimeClassName: runsc
  restartPolicy: OnFailure
  terminationGracePeriodSeconds: 3
  containers:
    - name: app
      image: nginx
      ports: [{containerPort: 80, hostPort: 8080}]
"""


def test_a_pod_reads_as_a_sandbox() -> None:
    result = load_text(POD, "pod.yaml")
    assert result.ok, messages(result.errors)
    assert result.warnings == []
    (loaded,) = result.manifests
    sandbox = loaded.manifest
    assert isinstance(sandbox, SandboxManifest)
    assert sandbox.kind == "Sandbox"
    assert loaded.identity == (Kind.SANDBOX, "default", "web")
    assert sandbox.spec.share == [Namespace.NETWORK, Namespace.IPC, Namespace.PID]
    assert sandbox.spec.runtime == "runsc"
    assert sandbox.spec.restart_policy == "OnFailure"
    assert sandbox.spec.termination_grace_period_seconds == 3
    assert sandbox.spec.containers[0].ports[0].host_port == 8080


def test_a_plain_pod_shares_network_and_ipc_on_runc() -> None:
    result = load(
        """\
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          containers: [{name: app, image: nginx}]
        """
    )
    (loaded,) = result.manifests
    assert isinstance(loaded.manifest, SandboxManifest)
    assert loaded.manifest.spec.share == [Namespace.NETWORK, Namespace.IPC]
    assert loaded.manifest.spec.runtime is None  # the operator's default runtime applies


def test_scheduler_only_pod_fields_are_warnings_naming_them() -> None:
    result = load(
        """\
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          nodeSelector: {disk: ssd}
          affinity: {nodeAffinity: {}}
          tolerations: [{key: a, operator: Exists}]
          schedulingGates: [{name: g}]
          dnsPolicy: None
          containers: [{name: app, image: nginx}]
        """
    )
    assert result.ok, messages(result.errors)
    assert len(result.manifests) == 1
    assert [at(w) for w in result.warnings] == [
        (5, 3, "spec.nodeSelector"),
        (6, 3, "spec.affinity"),
        (7, 3, "spec.tolerations"),
        (8, 3, "spec.schedulingGates"),
        (9, 3, "spec.dnsPolicy"),
    ]
    assert all(w.message.startswith("ignored: ") for w in result.warnings)
    assert "only a cluster scheduler uses it" in result.warnings[0].message
    assert "the host's resolver" in result.warnings[4].message


def test_pod_status_is_a_warning() -> None:
    result = load(
        """\
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          containers: [{name: app, image: nginx}]
        status:
          phase: Running
        """
    )
    assert result.ok
    (warning,) = result.warnings
    assert at(warning) == (6, 1, "status")


def test_unsupported_pod_fields_are_errors_naming_them() -> None:
    result = load(
        """\
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          hostNetwork: true
          containers:
            - name: app
              image: nginx
              lifecycle:
                preStop: {httpGet: {port: 80}}
              volumeDevices: [{name: d, devicePath: /dev/xvda}]
        """
    )
    assert result.manifests == []
    assert sorted(at(p) for p in result.errors) == [
        (5, 3, "spec.hostNetwork"),
        (10, 9, "spec.containers[0].lifecycle.preStop.exec"),
        (10, 19, "spec.containers[0].lifecycle.preStop.httpGet"),
        (11, 7, "spec.containers[0].volumeDevices"),
    ]
    messages = {p.field: p.message for p in result.errors}
    assert messages["spec.hostNetwork"] == (
        "not supported by reconciler: hostNetwork: true, because a sandbox's members share "
        "the infra's namespaces, never the host's"
    )
    assert "only exec lifecycle hooks" in messages["spec.containers[0].lifecycle.preStop.httpGet"]
    assert "raw block devices" in messages["spec.containers[0].volumeDevices"]


def test_pod_sandbox_only_fields_are_not_pod_fields() -> None:
    result = load(
        """\
        apiVersion: v1
        kind: Pod
        metadata: {name: p}
        spec:
          share: [network]
          containers: [{name: app, image: nginx}]
        """
    )
    assert at(only_error(result)) == (5, 3, "spec.share")


def test_pod_and_sandbox_of_one_name_are_the_same_identity(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", sandbox_doc("web"))
    write(tmp_path, "b.yaml", POD)
    result = load_paths([str(tmp_path)])
    problem = only_error(result)
    assert problem.field == "metadata.name"
    assert f"first defined at {tmp_path / 'a.yaml'}:1:1" in problem.message


@pytest.mark.parametrize(
    "spec",
    [
        "  initContainers: [{name: app, image: x}]\n  containers: [{name: app, image: x}]\n",
        "  containers: [{name: app, image: x, volumeMounts: [{name: d, mountPath: /d}]}]\n",
        "  containers:\n"
        "    - {name: a, image: x, ports: [{containerPort: 1, hostPort: 80}]}\n"
        "    - {name: b, image: x, ports: [{containerPort: 2, hostPort: 80}]}\n",
    ],
)
def test_a_pod_breaking_a_sandbox_rule_is_a_problem(spec: str) -> None:
    text = container_doc("ok") + "---\napiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n"
    result = load_text(text + spec, "m.yaml")
    assert names(result) == ["ok"]
    problem = only_error(result)
    assert problem.location.line is not None
    assert 9 <= problem.location.line <= 12  # the Pod's spec, not the first document
    assert problem.field.startswith("spec")


def test_infinite_memory_is_a_problem_not_a_crash() -> None:
    result = load(
        """\
        apiVersion: reconciler/v1
        kind: Container
        metadata: {name: c}
        spec:
          image: x
          resources: {limits: {memory: .inf}}
        """
    )
    assert only_error(result).field == "spec.resources.limits"


# --- JSON -------------------------------------------------------------------


def test_a_json_file_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "c.json",
        '{\n  "apiVersion": "reconciler/v1",\n  "kind": "Container",\n'
        '  "metadata": {"name": "c"},\n  "spec": {"image": "busybox:1", "command": ["a\\/b"]}\n}\n',
    )
    result = load_paths([str(path)])
    assert result.ok, messages(result.errors)
    (loaded,) = result.manifests
    assert isinstance(loaded.manifest, ContainerManifest)
    assert loaded.manifest.spec.command == ["a/b"]
    assert loaded.source == "c.json"


def test_a_json_file_indented_with_tabs_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "c.json",
        '{\n\t"apiVersion": "reconciler/v1",\n\t"kind": "Container",\n'
        '\t"metadata": {"name": "c"},\n\t"spec": {"image": "busybox:1"}\n}\n',
    )
    result = load_paths([str(path)])
    assert result.ok, messages(result.errors)
    assert names(result) == ["c"]


def test_json_errors_have_lines_too(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "c.json",
        '{\n  "apiVersion": "reconciler/v1",\n  "kind": "Container",\n'
        '  "metadata": {"name": "c"},\n  "spec": {"image": "x", "tty": "often"}\n}\n',
    )
    result = load_paths([str(path)])
    problem = only_error(result)
    assert at(problem) == (5, 26, "spec.tty")
    assert problem.location.path == str(path)


# --- files and directories --------------------------------------------------

LEFTOVERS = [
    "notes.txt",
    "README.md",
    ".hidden.yaml",
    "foo.yaml~",
    ".foo.yaml.swp",
    "#foo.yaml#",
    "foo.yaml.bak",
    "foo.yml.orig",
    ".#foo.yaml",
    "~foo.yaml",
]


def populate(root: Path) -> None:
    write(root, "a.yaml", sandbox_doc("a"))
    write(root, "b.yml", container_doc("b"))
    write(
        root,
        "c.json",
        '{"apiVersion": "reconciler/v1", "kind": "Container",'
        ' "metadata": {"name": "c"}, "spec": {"image": "x"}}',
    )
    for index, leftover in enumerate(LEFTOVERS):
        # Each would load (and clash with "a") if it were read.
        write(root, leftover, container_doc(f"leftover-{index}") + "---\n" + sandbox_doc("a"))
    write(root, "sub/d.yaml", container_doc("d"))
    write(root, "sub/deeper/e.yml", container_doc("e"))
    write(root, ".git/f.yaml", container_doc("f"))
    write(root, "sub/.cache/g.yaml", container_doc("g"))
    (root / "dir.yaml").mkdir()


def test_directory_reads_only_manifest_suffixes_and_skips_leftovers(tmp_path: Path) -> None:
    populate(tmp_path)
    result = load_paths([str(tmp_path)])
    assert result.ok, messages(result.errors)
    assert names(result) == ["a", "b", "c"]
    assert sorted(Path(f).name for f in result.files) == ["a.yaml", "b.yml", "c.json"]
    assert sorted(m.source for m in result.manifests) == ["a.yaml", "b.yml", "c.json"]


def test_directory_recurses_only_when_asked(tmp_path: Path) -> None:
    populate(tmp_path)
    result = load_paths([str(tmp_path)], recursive=True)
    assert result.ok, messages(result.errors)
    assert names(result) == ["a", "b", "c", "d", "e"]
    assert {m.manifest.metadata.name: m.source for m in result.manifests} == {
        "a": "a.yaml",
        "b": "b.yml",
        "c": "c.json",
        "d": "sub/d.yaml",
        "e": "sub/deeper/e.yml",
    }


def test_discover_is_sorted_and_pairs_files_with_their_root(tmp_path: Path) -> None:
    populate(tmp_path)
    found = discover(tmp_path, recursive=True)
    assert [f.relative_to(tmp_path).as_posix() for f, _ in found] == [
        "a.yaml",
        "b.yml",
        "c.json",
        "sub/d.yaml",
        "sub/deeper/e.yml",
    ]
    assert {root for _, root in found} == {tmp_path}


@pytest.mark.parametrize("name", LEFTOVERS)
def test_is_manifest_file_refuses_leftovers(tmp_path: Path, name: str) -> None:
    assert not is_manifest_file(write(tmp_path, name, "x"))


@pytest.mark.parametrize("name", ["a.yaml", "a.yml", "a.json", "a.b.yaml", "a-b_c.yml"])
def test_is_manifest_file_accepts_manifests(tmp_path: Path, name: str) -> None:
    assert is_manifest_file(write(tmp_path, name, "x"))


def test_is_manifest_file_refuses_directories(tmp_path: Path) -> None:
    (tmp_path / "d.yaml").mkdir()
    assert not is_manifest_file(tmp_path / "d.yaml")


@pytest.mark.parametrize("name", ["manifest.txt", "foo.yaml~", "foo.yaml.bak", ".hidden.yaml"])
def test_a_file_named_explicitly_is_read_whatever_its_name(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, name, container_doc("c"))
    result = load_paths([str(path)])
    assert result.ok, messages(result.errors)
    assert names(result) == ["c"]
    assert result.manifests[0].source == name
    assert result.files == [str(path)]


def test_explicit_file_in_a_subdirectory_has_its_name_as_source(tmp_path: Path) -> None:
    path = write(tmp_path, "sub/deep/c.yaml", container_doc("c"))
    (loaded,) = load_paths([str(path)]).manifests
    assert loaded.source == "c.yaml"
    assert loaded.location.path == str(path)


def test_load_file_source_is_relative_to_the_root(tmp_path: Path) -> None:
    path = write(tmp_path, "x/y/c.yaml", container_doc("c"))
    assert load_file(path, tmp_path).manifests[0].source == "x/y/c.yaml"
    elsewhere = load_file(path, tmp_path / "elsewhere", confined=False)
    assert elsewhere.manifests[0].source == path.as_posix()


def test_a_missing_path_is_an_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.yaml")
    result = load_paths([missing])
    assert str(only_error(result)) == f"{missing}: no such file or directory"


def test_an_empty_directory_is_a_warning(tmp_path: Path) -> None:
    result = load_paths([str(tmp_path)])
    assert result.ok
    assert result.manifests == []
    (warning,) = result.warnings
    assert warning.location.path == str(tmp_path)
    assert "no *.yaml" in warning.message


def test_a_file_that_is_not_utf8_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(b"apiVersion: reconciler/v1\nkind: \xff\xfe\n")
    write(tmp_path, "good.yaml", container_doc("good"))
    result = load_paths([str(tmp_path)])
    assert names(result) == ["good"]
    problem = only_error(result)
    assert problem.location == Location(str(path))
    assert problem.message.startswith("cannot read:")


def test_one_bad_file_does_not_hide_the_others(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", container_doc("a"))
    write(tmp_path, "b.yaml", "apiVersion: [\n")
    write(tmp_path, "c.yaml", container_doc("c"))
    result = load_paths([str(tmp_path)])
    assert names(result) == ["a", "c"]
    assert only_error(result).location.path == str(tmp_path / "b.yaml")


def test_several_paths_are_read_in_order(tmp_path: Path) -> None:
    first = write(tmp_path, "one/a.yaml", container_doc("a"))
    write(tmp_path, "two/b.yaml", container_doc("b"))
    result = load_paths([str(first), str(tmp_path / "two")])
    assert result.ok
    assert [m.manifest.metadata.name for m in result.manifests] == ["a", "b"]
    assert [m.source for m in result.manifests] == ["a.yaml", "b.yaml"]


# --- identities -------------------------------------------------------------


def test_duplicate_identity_across_files_names_the_first(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", sandbox_doc("web"))
    write(tmp_path, "b.yaml", container_doc("other") + "---\n" + sandbox_doc("web"))
    result = load_paths([str(tmp_path)])
    problem = only_error(result)
    assert problem.location == Location(str(tmp_path / "b.yaml"), 6, 1)
    assert problem.field == "metadata.name"
    assert problem.message == (
        f"duplicate Sandbox default/web (first defined at {tmp_path / 'a.yaml'}:1:1)"
    )
    # The first definition is kept, the second dropped; the rest is untouched.
    assert names(result) == ["other", "web"]
    (web,) = [m for m in result.manifests if m.manifest.metadata.name == "web"]
    assert web.source == "a.yaml"


def test_duplicate_identity_within_one_file_via_load_paths(tmp_path: Path) -> None:
    path = write(tmp_path, "a.yaml", container_doc("c") + "---\n" + container_doc("c"))
    result = load_paths([str(path)])
    problem = only_error(result)
    assert problem.location.line == 6
    assert f"first defined at {path}:1:1" in problem.message


def test_same_name_in_another_kind_or_namespace_is_no_duplicate(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", sandbox_doc("web"))
    write(tmp_path, "b.yaml", container_doc("web"))
    write(tmp_path, "c.yaml", sandbox_doc("web", "prod"))
    result = load_paths([str(tmp_path)])
    assert result.ok, messages(result.errors)
    assert sorted(m.identity for m in result.manifests) == [
        (Kind.CONTAINER, "default", "web"),
        (Kind.SANDBOX, "default", "web"),
        (Kind.SANDBOX, "prod", "web"),
    ]


def test_explicit_default_namespace_is_the_same_identity(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", sandbox_doc("web"))
    write(tmp_path, "b.yaml", sandbox_doc("web", "default"))
    result = load_paths([str(tmp_path)])
    assert "duplicate Sandbox default/web" in only_error(result).message
