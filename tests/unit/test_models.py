"""Validation rules of the manifest models, without files or a daemon."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from reconciler.core.models import (
    ContainerManifest,
    ContainerSpec,
    EmptyDirVolume,
    EnvVar,
    Metadata,
    Namespace,
    PodManifest,
    Probe,
    Resources,
    SandboxManifest,
    SandboxSpec,
    Volume,
)


def sandbox_spec(**spec: Any) -> dict[str, Any]:
    spec.setdefault("containers", [{"name": "app", "image": "busybox:1"}])
    return spec


def errors_of(info: pytest.ExceptionInfo[ValidationError]) -> list[tuple[tuple[Any, ...], str]]:
    return [(tuple(e["loc"]), e["msg"]) for e in info.value.errors()]


# --- names ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["a", "web", "web-1", "1web", "0", "a" * 63, "a-b-c", "x9"])
def test_dns_1123_names_are_accepted(name: str) -> None:
    assert Metadata(name=name).name == name


@pytest.mark.parametrize(
    "name",
    ["", "A", "Web", "web_1", "web.1", "-web", "web-", "a" * 64, "we b", "wéb", "web/1"],
)
def test_names_that_are_not_dns_1123_labels_are_refused(name: str) -> None:
    with pytest.raises(ValidationError, match="is not a DNS-1123 label"):
        Metadata(name=name)


@pytest.mark.parametrize("name", ["Prod", "prod_1", "a" * 64])
def test_namespace_is_a_dns_label_too(name: str) -> None:
    with pytest.raises(ValidationError, match="is not a DNS-1123 label"):
        Metadata(name="web", namespace=name)


def test_namespace_defaults_to_default() -> None:
    assert Metadata(name="web").namespace == "default"


@given(st.from_regex(r"\A[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\Z"))
def test_every_dns_label_is_accepted(name: str) -> None:
    assert Metadata(name=name).name == name


def test_a_name_with_a_trailing_newline_is_refused() -> None:
    with pytest.raises(ValidationError, match="is not a DNS-1123 label"):
        Metadata(name="web\n")


@pytest.mark.parametrize("name", ["", "1A", "A B", "A=B", "A\n"])
def test_env_names_are_checked(name: str) -> None:
    with pytest.raises(ValidationError, match=r"name\n  String should match pattern"):
        EnvVar(name=name)


def test_env_names_are_unique() -> None:
    with pytest.raises(ValidationError, match="duplicate env name 'A'"):
        ContainerSpec.model_validate({"image": "x", "env": [{"name": "A"}, {"name": "A"}]})


# --- containers -------------------------------------------------------------


def test_container_names_are_unique_across_init_and_containers() -> None:
    with pytest.raises(ValidationError, match="duplicate container name 'app'") as info:
        SandboxSpec.model_validate(
            sandbox_spec(initContainers=[{"name": "app", "image": "busybox:1"}])
        )
    assert errors_of(info)[0][0] == ()


def test_container_names_are_unique_within_containers() -> None:
    with pytest.raises(ValidationError, match="duplicate container name 'a'"):
        SandboxSpec.model_validate(
            {"containers": [{"name": "a", "image": "x"}, {"name": "a", "image": "y"}]}
        )


def test_container_names_must_be_dns_labels() -> None:
    with pytest.raises(ValidationError, match="is not a DNS-1123 label") as info:
        SandboxSpec.model_validate({"containers": [{"name": "App", "image": "x"}]})
    assert errors_of(info)[0][0] == ("containers", 0, "name")


def test_a_sandbox_needs_a_container() -> None:
    with pytest.raises(ValidationError) as info:
        SandboxSpec.model_validate({"containers": []})
    assert errors_of(info)[0][0] == ("containers",)


def test_image_must_not_be_empty() -> None:
    with pytest.raises(ValidationError) as info:
        ContainerSpec.model_validate({"image": ""})
    assert errors_of(info)[0][0] == ("image",)


def test_unknown_fields_are_forbidden_at_every_level() -> None:
    with pytest.raises(ValidationError) as info:
        SandboxSpec.model_validate(
            {"containers": [{"name": "a", "image": "x", "resizePolicy": []}], "hostNetwork": True}
        )
    locs = {loc for loc, _ in errors_of(info)}
    assert locs == {("containers", 0, "resizePolicy"), ("hostNetwork",)}


def test_models_are_immutable() -> None:
    meta = Metadata(name="web")
    with pytest.raises(ValidationError, match="Instance is frozen"):
        meta.name = "other"  # type: ignore[misc]


def test_camel_case_and_snake_case_both_read() -> None:
    by_alias = ContainerSpec.model_validate({"image": "x", "imagePullPolicy": "Always"})
    by_name = ContainerSpec.model_validate({"image": "x", "image_pull_policy": "Always"})
    assert by_alias == by_name
    assert by_alias.image_pull_policy == "Always"


def test_container_defaults() -> None:
    spec = ContainerSpec.model_validate({"image": "x"})
    assert spec.image_pull_policy == "IfNotPresent"
    assert spec.restart_policy == "Always"
    assert spec.termination_grace_period_seconds == 30
    assert spec.runtime is None  # the operator's default runtime applies
    assert spec.ports == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("imagePullPolicy", "Sometimes"),
        ("restartPolicy", "Maybe"),
        ("terminationGracePeriodSeconds", -1),
        ("runtime", ""),
    ],
)
def test_enumerated_and_bounded_fields(field: str, value: object) -> None:
    with pytest.raises(ValidationError) as info:
        ContainerSpec.model_validate({"image": "x", field: value})
    assert errors_of(info)[0][0] == (field,)


# --- share ------------------------------------------------------------------


def test_share_defaults_to_network_and_ipc() -> None:
    spec = SandboxSpec.model_validate(sandbox_spec())
    assert spec.share == [Namespace.NETWORK, Namespace.IPC]


def test_share_must_include_network() -> None:
    with pytest.raises(ValidationError, match="always shares its network namespace") as info:
        SandboxSpec.model_validate(sandbox_spec(share=["ipc", "pid"]))
    assert errors_of(info)[0][0] == ("share",)


def test_share_of_nothing_is_refused() -> None:
    with pytest.raises(ValidationError, match="always shares its network namespace"):
        SandboxSpec.model_validate(sandbox_spec(share=[]))


def test_share_is_put_in_canonical_order() -> None:
    spec = SandboxSpec.model_validate(sandbox_spec(share=["pid", "ipc", "network"]))
    assert spec.share == [Namespace.NETWORK, Namespace.IPC, Namespace.PID]


def test_share_without_duplicates() -> None:
    with pytest.raises(ValidationError, match="duplicate shared namespace 'network'"):
        SandboxSpec.model_validate(sandbox_spec(share=["network", "network"]))


def test_share_only_known_namespaces() -> None:
    with pytest.raises(ValidationError) as info:
        SandboxSpec.model_validate(sandbox_spec(share=["network", "uts"]))
    assert errors_of(info)[0][0] == ("share", 1)


# --- ports ------------------------------------------------------------------


def test_duplicate_host_ports_across_sandbox_and_containers_are_refused() -> None:
    with pytest.raises(ValidationError, match=r"duplicate host port '0\.0\.0\.0:8080/TCP'"):
        SandboxSpec.model_validate(
            {
                "ports": [{"containerPort": 80, "hostPort": 8080}],
                "containers": [
                    {"name": "a", "image": "x", "ports": [{"containerPort": 81, "hostPort": 8080}]}
                ],
            }
        )


def test_duplicate_host_ports_between_two_members_are_refused() -> None:
    with pytest.raises(ValidationError, match="duplicate host port"):
        SandboxSpec.model_validate(
            {
                "initContainers": [
                    {"name": "i", "image": "x", "ports": [{"containerPort": 1, "hostPort": 9000}]}
                ],
                "containers": [
                    {"name": "a", "image": "x", "ports": [{"containerPort": 2, "hostPort": 9000}]}
                ],
            }
        )


def test_duplicate_host_ports_of_a_standalone_container_are_refused() -> None:
    with pytest.raises(ValidationError, match=r"duplicate host port '127\.0\.0\.1:53/UDP'"):
        ContainerSpec.model_validate(
            {
                "image": "x",
                "ports": [
                    {"containerPort": 53, "hostPort": 53, "hostIP": "127.0.0.1", "protocol": "UDP"},
                    {"containerPort": 54, "hostPort": 53, "hostIP": "127.0.0.1", "protocol": "UDP"},
                ],
            }
        )


def test_same_host_port_on_other_protocol_or_address_is_fine() -> None:
    spec = SandboxSpec.model_validate(
        sandbox_spec(
            ports=[
                {"containerPort": 53, "hostPort": 53, "protocol": "TCP"},
                {"containerPort": 53, "hostPort": 53, "protocol": "UDP"},
                {"containerPort": 80, "hostPort": 8080, "hostIP": "127.0.0.1"},
                {"containerPort": 80, "hostPort": 8080, "hostIP": "127.0.0.2"},
            ]
        )
    )
    assert len(spec.ports) == 4


def test_ports_without_host_port_never_clash() -> None:
    spec = SandboxSpec.model_validate(
        sandbox_spec(ports=[{"containerPort": 80}, {"containerPort": 80}])
    )
    assert [p.host_port for p in spec.ports] == [None, None]


@pytest.mark.parametrize(
    "port",
    [
        {"containerPort": 0},
        {"containerPort": 65536},
        {"containerPort": 80, "hostPort": 0},
        {"containerPort": 80, "protocol": "SCTP"},
        {"hostPort": 80},
    ],
)
def test_port_fields_are_checked(port: dict[str, Any]) -> None:
    with pytest.raises(ValidationError) as info:
        SandboxSpec.model_validate(sandbox_spec(ports=[port]))
    assert errors_of(info)[0][0][:2] == ("ports", 0)


def test_host_ip_alias_is_upper_case_ip() -> None:
    spec = SandboxSpec.model_validate(
        sandbox_spec(ports=[{"containerPort": 80, "hostPort": 80, "hostIP": "127.0.0.1"}])
    )
    assert spec.ports[0].host_ip == "127.0.0.1"
    with pytest.raises(ValidationError, match=r"hostIp\n  Extra inputs are not permitted"):
        SandboxSpec.model_validate(
            sandbox_spec(ports=[{"containerPort": 80, "hostPort": 80, "hostIp": "127.0.0.1"}])
        )


# --- volumes and mounts -----------------------------------------------------


def test_volume_mounts_must_name_declared_volumes() -> None:
    with pytest.raises(ValidationError, match=r"volumeMount 'cache' names no volume.*\['data'\]"):
        SandboxSpec.model_validate(
            {
                "volumes": [{"name": "data", "emptyDir": {}}],
                "containers": [
                    {
                        "name": "a",
                        "image": "x",
                        "volumeMounts": [{"name": "cache", "mountPath": "/cache"}],
                    }
                ],
            }
        )


def test_init_container_mounts_are_checked_too() -> None:
    with pytest.raises(ValidationError, match=r"volumeMount 'data' names no volume.*none"):
        SandboxSpec.model_validate(
            sandbox_spec(
                initContainers=[
                    {
                        "name": "i",
                        "image": "x",
                        "volumeMounts": [{"name": "data", "mountPath": "/d"}],
                    }
                ]
            )
        )


def test_standalone_container_mounts_are_checked() -> None:
    with pytest.raises(ValidationError, match="volumeMount 'data' names no volume"):
        ContainerSpec.model_validate(
            {"image": "x", "volumeMounts": [{"name": "data", "mountPath": "/d"}]}
        )
    ok = ContainerSpec.model_validate(
        {
            "image": "x",
            "volumes": [{"name": "data", "hostPath": {"path": "/srv"}}],
            "volumeMounts": [{"name": "data", "mountPath": "/d"}],
        }
    )
    assert ok.volume_mounts[0].mount_path == "/d"


def test_mount_path_must_be_absolute() -> None:
    with pytest.raises(ValidationError, match=r"mountPath\n  .*'data' is not an absolute path"):
        ContainerSpec.model_validate(
            {
                "image": "x",
                "volumes": [{"name": "d", "emptyDir": {}}],
                "volumeMounts": [{"name": "d", "mountPath": "data"}],
            }
        )


def test_volume_names_are_unique() -> None:
    with pytest.raises(ValidationError, match="duplicate volume name 'd'"):
        SandboxSpec.model_validate(
            sandbox_spec(volumes=[{"name": "d", "emptyDir": {}}, {"name": "d", "emptyDir": {}}])
        )


@pytest.mark.parametrize(
    "volume",
    [
        {"name": "d"},
        {"name": "d", "emptyDir": {}, "hostPath": {"path": "/srv"}},
    ],
)
def test_a_volume_needs_exactly_one_source(volume: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="exactly one of emptyDir, hostPath"):
        Volume.model_validate(volume)


def test_host_path_must_be_absolute_and_typed() -> None:
    with pytest.raises(ValidationError, match=r"hostPath.path\n  .*'srv' is not an absolute path"):
        Volume.model_validate({"name": "d", "hostPath": {"path": "srv"}})
    with pytest.raises(ValidationError, match=r"hostPath.type\n  Input should be ''"):
        Volume.model_validate({"name": "d", "hostPath": {"path": "/srv", "type": "BlockDevice"}})
    volume = Volume.model_validate({"name": "d", "hostPath": {"path": "/srv", "type": "Directory"}})
    assert volume.host_path is not None
    assert volume.host_path.type == "Directory"


def test_empty_dir_size_limit_is_taken_on_disk_and_in_memory() -> None:
    # On disk the loop enforces it (tests/unit/test_eviction.py); in memory it sizes the tmpfs.
    assert EmptyDirVolume.model_validate({"sizeLimit": "64Mi"}).size_limit == "64Mi"
    tmpfs = EmptyDirVolume.model_validate({"medium": "Memory", "sizeLimit": "64Mi"})
    assert tmpfs.size_limit == "64Mi"
    with pytest.raises(ValidationError, match="memory must be positive"):
        EmptyDirVolume.model_validate({"sizeLimit": "0"})


def test_empty_dir_size_limit_must_be_a_quantity() -> None:
    with pytest.raises(ValidationError, match="not a quantity"):
        EmptyDirVolume.model_validate({"medium": "Memory", "sizeLimit": "lots"})


def test_empty_dir_medium_is_memory_or_nothing() -> None:
    with pytest.raises(ValidationError, match=r"medium\n  Input should be '' or 'Memory'"):
        EmptyDirVolume.model_validate({"medium": "Disk"})
    assert EmptyDirVolume.model_validate({"medium": "Memory"}).size_limit is None


# --- probes -----------------------------------------------------------------


@pytest.mark.parametrize(
    "probe",
    [
        {"exec": {"command": ["true"]}},
        {"httpGet": {"port": 80}},
        {"tcpSocket": {"port": 80}},
        {"grpc": {"port": 9090}},
        {"grpc": {"port": 9090, "service": "db"}},
        {"httpGet": {"port": 80, "httpHeaders": [{"name": "X-Token", "value": ""}]}},
    ],
)
def test_a_probe_with_one_handler_is_fine(probe: dict[str, Any]) -> None:
    parsed = Probe.model_validate(probe)
    assert parsed.period_seconds == 10
    assert parsed.failure_threshold == 3


@pytest.mark.parametrize(
    "probe",
    [
        {},
        {"periodSeconds": 5},
        {"exec": {"command": ["true"]}, "httpGet": {"port": 80}},
        {"httpGet": {"port": 80}, "tcpSocket": {"port": 80}},
        {"exec": {"command": ["true"]}, "httpGet": {"port": 80}, "tcpSocket": {"port": 80}},
        {"grpc": {"port": 80}, "tcpSocket": {"port": 80}},
    ],
)
def test_a_probe_needs_exactly_one_handler(probe: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="exactly one of exec, httpGet, tcpSocket, grpc"):
        Probe.model_validate(probe)


def test_probe_exec_needs_a_command_and_period_is_positive() -> None:
    with pytest.raises(ValidationError, match=r"exec.command\n  List should have at least 1"):
        Probe.model_validate({"exec": {"command": []}})
    with pytest.raises(ValidationError, match=r"periodSeconds\n  Input should be greater than"):
        Probe.model_validate({"exec": {"command": ["true"]}, "periodSeconds": 0})


@pytest.mark.parametrize(
    ("handler", "where"),
    [
        ({"grpc": {}}, "grpc.port"),
        ({"grpc": {"port": 0}}, "grpc.port"),
        ({"grpc": {"port": 80, "host": "x"}}, "grpc.host"),  # Kubernetes has none
        ({"httpGet": {"port": 80, "httpHeaders": [{"name": "X"}]}}, "httpHeaders.0.value"),
        ({"httpGet": {"port": 80, "httpHeaders": [{"name": "X Y", "value": ""}]}}, "0.name"),
        ({"httpGet": {"port": 80, "httpHeaders": [{"name": "X", "value": "a\r\nB: c"}]}}, "value"),
    ],
)
def test_grpc_and_http_header_fields_are_checked(handler: dict[str, Any], where: str) -> None:
    with pytest.raises(ValidationError, match=where.replace(".", r"\.")):
        Probe.model_validate(handler)


def test_a_probe_grace_period_is_at_least_one_second() -> None:
    probe = Probe.model_validate(
        {"exec": {"command": ["true"]}, "terminationGracePeriodSeconds": 1}
    )
    assert probe.termination_grace_period_seconds == 1
    assert (
        Probe.model_validate({"exec": {"command": ["true"]}}).termination_grace_period_seconds
        is None
    )
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        Probe.model_validate({"exec": {"command": ["true"]}, "terminationGracePeriodSeconds": 0})


def test_a_readiness_probe_may_not_have_a_grace_period() -> None:
    probe = {"tcpSocket": {"port": 80}, "terminationGracePeriodSeconds": 5}
    for kind in ("livenessProbe", "startupProbe"):
        ContainerSpec.model_validate({"image": "x", kind: probe})
    with pytest.raises(ValidationError) as info:
        ContainerSpec.model_validate({"image": "x", "readinessProbe": probe})
    ((where, message),) = errors_of(info)
    assert where == ("readinessProbe",)
    assert "must not be set for a readiness probe" in message


def test_a_liveness_or_startup_probe_succeeds_once() -> None:
    probe = {"tcpSocket": {"port": 80}, "successThreshold": 2}
    ContainerSpec.model_validate({"image": "x", "readinessProbe": probe})
    for kind in ("livenessProbe", "startupProbe"):
        with pytest.raises(ValidationError, match="successThreshold must be 1") as info:
            ContainerSpec.model_validate({"image": "x", kind: probe})
        assert errors_of(info)[0][0] == (kind,)


def test_probes_are_refused_on_init_containers_that_run_to_completion() -> None:
    probe = {"exec": {"command": ["true"]}}
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        init = {"name": "setup", "image": "x", kind: probe}
        with pytest.raises(ValidationError, match="probes are for containers and native sidecars"):
            SandboxSpec.model_validate(
                {"initContainers": [init], "containers": [{"name": "a", "image": "x"}]}
            )
        sidecar = {**init, "restartPolicy": "Always"}
        SandboxSpec.model_validate(
            {"initContainers": [sidecar], "containers": [{"name": "a", "image": "x"}]}
        )


def test_probe_errors_name_the_probe_field() -> None:
    with pytest.raises(ValidationError) as info:
        ContainerSpec.model_validate({"image": "x", "livenessProbe": {}})
    assert errors_of(info)[0][0] == ("livenessProbe",)


# --- resources --------------------------------------------------------------


def test_resources_accept_cpu_and_memory() -> None:
    resources = Resources.model_validate(
        {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": 0.25, "memory": 1024}}
    )
    assert resources.cpu_limit() == 500
    assert resources.memory_limit() == 128 * 2**20
    assert resources.cpu_request() == 250
    assert resources.memory_request() == 1024


def test_resources_unset_are_none() -> None:
    resources = Resources()
    assert resources.cpu_limit() is None
    assert resources.memory_limit() is None
    assert resources.cpu_request() is None
    assert resources.memory_request() is None


@pytest.mark.parametrize("key", ["limits", "requests"])
@pytest.mark.parametrize("resource", ["nvidia.com/gpu", "hugepages-2Mi"])
def test_resources_only_cpu_memory_and_ephemeral_storage(key: str, resource: str) -> None:
    with pytest.raises(ValidationError, match=f"unsupported resource '{resource}'"):
        Resources.model_validate({key: {resource: "1"}})


def test_ephemeral_storage_is_a_limit_not_a_request() -> None:
    assert Resources.model_validate({"limits": {"ephemeral-storage": "1Gi"}}).storage_limit() == (
        2**30
    )
    with pytest.raises(ValidationError, match="only steers a cluster scheduler"):
        Resources.model_validate({"requests": {"ephemeral-storage": "1Gi"}})


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"cpu": "fast"}, "not a quantity"),
        ({"cpu": "0"}, "at least 10m"),
        ({"memory": "128MB"}, "not a quantity"),
        ({"memory": "0.5"}, "whole number of bytes"),
        ({"memory": -1}, "memory must be positive"),
    ],
)
def test_resource_quantities_are_checked(limits: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Resources.model_validate({"limits": limits})


@pytest.mark.parametrize("limits", [{"cpu": True}, {"memory": True}])
def test_boolean_resource_quantities_are_refused(limits: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match=r"limits\.(cpu|memory)\.str\n  Input should be a"):
        Resources.model_validate({"limits": limits})


# --- manifests and Pods -----------------------------------------------------


def test_manifest_api_version_and_kind_are_fixed() -> None:
    meta = {"name": "web"}
    spec = {"containers": [{"name": "a", "image": "x"}]}  # valid: only apiVersion is wrong
    with pytest.raises(ValidationError, match="1 validation error") as info:
        SandboxManifest.model_validate(
            {"apiVersion": "reconciler/v2", "kind": "Sandbox", "metadata": meta, "spec": spec}
        )
    assert errors_of(info)[0][0] == ("apiVersion",)
    with pytest.raises(ValidationError, match=r"kind\n  Input should be 'Container'"):
        ContainerManifest.model_validate(
            {
                "apiVersion": "reconciler/v1",
                "kind": "Sandbox",
                "metadata": meta,
                "spec": {"image": "x"},
            }
        )


def test_pod_to_sandbox_maps_the_pod_fields() -> None:
    pod = PodManifest.model_validate(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {
                "shareProcessNamespace": True,
                "runtimeClassName": "runsc",
                "restartPolicy": "OnFailure",
                "terminationGracePeriodSeconds": 5,
                "volumes": [{"name": "d", "emptyDir": {}}],
                "initContainers": [{"name": "i", "image": "x"}],
                "containers": [{"name": "a", "image": "y"}],
            },
        }
    )
    sandbox = pod.to_sandbox()
    assert sandbox.kind == "Sandbox"
    assert sandbox.api_version == "reconciler/v1"
    assert sandbox.metadata == pod.metadata
    assert sandbox.spec.share == [Namespace.NETWORK, Namespace.IPC, Namespace.PID]
    assert sandbox.spec.runtime == "runsc"
    assert sandbox.spec.restart_policy == "OnFailure"
    assert sandbox.spec.termination_grace_period_seconds == 5
    assert [c.name for c in sandbox.spec.init_containers] == ["i"]
    assert [c.name for c in sandbox.spec.containers] == ["a"]
    assert [v.name for v in sandbox.spec.volumes] == ["d"]
    assert sandbox.spec.ports == []


def test_pod_defaults_to_the_default_runtime_and_network_ipc() -> None:
    pod = PodManifest.model_validate(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "a", "image": "y"}]},
        }
    )
    sandbox = pod.to_sandbox()
    assert sandbox.spec.runtime is None  # the operator's default runtime applies
    assert sandbox.spec.share == [Namespace.NETWORK, Namespace.IPC]
