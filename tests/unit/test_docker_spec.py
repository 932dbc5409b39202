"""Effective specs to Docker Engine API create bodies, without a daemon."""

from __future__ import annotations

from textwrap import dedent
from typing import Any

import pytest

from reconciler.core import labels as L
from reconciler.core.admission import compile_and_admit
from reconciler.core.compile import BuildConfig
from reconciler.core.errors import UntranslatableSpec
from reconciler.core.manifests import load_text
from reconciler.core.models import Mode
from reconciler.core.policy import PRIVILEGED
from reconciler.core.spec import DesiredUnit
from reconciler.drivers.docker.capabilities import DOCKER
from reconciler.drivers.docker.spec import infra_body, member_body

INFRA_ID = "f00dfeed" * 8


def unit_of(text: str, mode: Mode = Mode.CONTAINER_IN_SANDBOX) -> DesiredUnit:
    loaded = load_text(dedent(text), "web.yaml")
    assert loaded.ok, [str(p) for p in loaded.errors]
    desired = compile_and_admit(
        loaded.manifests,
        BuildConfig("inst", mode, "pause:test", policy=PRIVILEGED, driver=DOCKER),
        values=loaded.values,
    )
    assert desired.refused == ()
    (unit,) = desired.units
    return unit


def sandbox(spec: str = "", app: str = "{name: app, image: busybox:1}") -> str:
    return f"""
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {{name: web}}
        spec:
          {spec or "runtime: runc"}
          containers:
            - {app}
        """


def infra_of(text: str) -> dict[str, Any]:
    unit = unit_of(text)
    assert unit.infra is not None
    return infra_body(unit.infra)


def app_of(text: str, mode: Mode = Mode.CONTAINER_IN_SANDBOX) -> dict[str, Any]:
    unit = unit_of(text, mode)
    infra_id = INFRA_ID if unit.infra is not None else None
    return member_body(unit.workloads[0], infra_id)


# --- infra ------------------------------------------------------------------


def test_infra_body() -> None:
    unit = unit_of(
        sandbox(
            spec="runtime: crun\n"
            "          ports:\n"
            "            - {containerPort: 80, hostPort: 8080, hostIP: 127.0.0.1}\n"
            "            - {containerPort: 80, hostPort: 8081}\n"
            "            - {containerPort: 53, hostPort: 53, protocol: UDP}\n"
            "            - {containerPort: 9000}",
        )
    )
    assert unit.infra is not None
    assert infra_body(unit.infra) == {
        "Image": "pause:test",
        "Hostname": "web",
        "Labels": unit.infra.labels,
        "ExposedPorts": {"80/tcp": {}, "53/udp": {}, "9000/tcp": {}},
        "HostConfig": {
            "RestartPolicy": {"Name": "no"},
            "Runtime": "crun",
            "PortBindings": {
                "80/tcp": [
                    {"HostIp": "127.0.0.1", "HostPort": "8080"},
                    {"HostIp": "", "HostPort": "8081"},
                ],
                "53/udp": [{"HostIp": "", "HostPort": "53"}],
            },
            "IpcMode": "shareable",
        },
    }


def test_infra_ipc_is_shareable_only_when_ipc_is_shared() -> None:
    assert infra_of(sandbox())["HostConfig"]["IpcMode"] == "shareable"
    assert infra_of(sandbox("share: [network, pid]"))["HostConfig"]["IpcMode"] == "private"


def test_infra_has_no_namespace_modes_of_its_own() -> None:
    host = infra_of(sandbox("share: [network, ipc, pid]"))["HostConfig"]
    assert "NetworkMode" not in host
    assert "PidMode" not in host


def test_infra_publishes_member_host_ports() -> None:
    body = infra_of(
        sandbox(app="{name: app, image: x, ports: [{containerPort: 80, hostPort: 8080}]}")
    )
    assert body["HostConfig"]["PortBindings"] == {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}
    assert body["ExposedPorts"] == {"80/tcp": {}}


def test_infra_labels_are_a_copy() -> None:
    unit = unit_of(sandbox())
    assert unit.infra is not None
    body = infra_body(unit.infra)
    body["Labels"]["x"] = "y"
    assert "x" not in unit.infra.labels
    assert body["Labels"][L.ROLE] == L.ROLE_INFRA


# --- members in a sandbox ---------------------------------------------------


@pytest.mark.parametrize(
    ("share", "modes"),
    [
        ("[network]", {"NetworkMode"}),
        ("[network, ipc]", {"NetworkMode", "IpcMode"}),
        ("[network, pid]", {"NetworkMode", "PidMode"}),
        ("[network, ipc, pid]", {"NetworkMode", "IpcMode", "PidMode"}),
    ],
)
def test_member_joins_the_infra_namespaces(share: str, modes: set[str]) -> None:
    host = app_of(sandbox(f"share: {share}"))["HostConfig"]
    joined = {key for key in ("NetworkMode", "IpcMode", "PidMode") if key in host}
    assert joined == modes
    assert all(host[key] == f"container:{INFRA_ID}" for key in modes)


def test_member_carries_the_infra_id_label_and_no_hostname_or_ports() -> None:
    unit = unit_of(
        sandbox(app="{name: app, image: x, ports: [{containerPort: 80, hostPort: 8080}]}")
    )
    member = unit.workloads[0]
    body = member_body(member, INFRA_ID)
    assert body["Labels"] == member.labels | {L.INFRA_ID: INFRA_ID}
    assert L.INFRA_ID not in member.labels  # the desired labels are not changed
    assert "Hostname" not in body
    assert "ExposedPorts" not in body
    assert "PortBindings" not in body["HostConfig"]


def test_minimal_member_body() -> None:
    unit = unit_of(sandbox())
    member = unit.workloads[0]
    assert member_body(member, INFRA_ID) == {
        "Image": "busybox:1",
        "Labels": member.labels | {L.INFRA_ID: INFRA_ID},
        "Tty": False,
        "HostConfig": {
            "RestartPolicy": {"Name": "no"},
            "Runtime": "runc",
            "NetworkMode": f"container:{INFRA_ID}",
            "IpcMode": f"container:{INFRA_ID}",
            "CpuShares": 2,  # no request: a BestEffort container's weight, as under kubelet
        },
    }


def test_init_members_join_too() -> None:
    unit = unit_of(
        """
        apiVersion: reconciler/v1
        kind: Sandbox
        metadata: {name: web}
        spec:
          initContainers: [{name: setup, image: busybox:1}]
          containers: [{name: app, image: busybox:1}]
        """
    )
    (setup,) = unit.init
    body = member_body(setup, INFRA_ID)
    assert body["HostConfig"]["NetworkMode"] == f"container:{INFRA_ID}"
    assert body["Labels"][L.ROLE] == L.ROLE_INIT


def test_a_joining_member_needs_an_infra_id() -> None:
    unit = unit_of(sandbox())
    with pytest.raises(UntranslatableSpec, match="app joins an infra but none is known"):
        member_body(unit.workloads[0], None)


def test_command_is_entrypoint_and_args_are_cmd() -> None:
    body = app_of(sandbox(app="{name: app, image: x, command: [nginx], args: [-g, 'daemon off;']}"))
    assert body["Entrypoint"] == ["nginx"]
    assert body["Cmd"] == ["-g", "daemon off;"]


def test_args_alone_keep_the_image_entrypoint() -> None:
    body = app_of(sandbox(app="{name: app, image: x, args: [serve]}"))
    assert "Entrypoint" not in body
    assert body["Cmd"] == ["serve"]


def test_command_alone_drops_the_image_cmd_by_docker_merge() -> None:
    body = app_of(sandbox(app="{name: app, image: x, command: [sleep, '1']}"))
    assert body["Entrypoint"] == ["sleep", "1"]
    assert "Cmd" not in body


def test_env_working_dir_user_and_tty() -> None:
    body = app_of(
        sandbox(
            app="{name: app, image: x, tty: true, workingDir: /srv,"
            " env: [{name: B, value: '2'}, {name: A, value: 'x=y'}],"
            " securityContext: {runAsUser: 1000, runAsGroup: 1000}}"
        )
    )
    assert body["Env"] == ["B=2", "A=x=y"]
    assert body["WorkingDir"] == "/srv"
    assert body["User"] == "1000:1000"
    assert body["Tty"] is True


def test_unset_optional_fields_are_left_out() -> None:
    body = app_of(sandbox())
    for key in ("Entrypoint", "Cmd", "Env", "WorkingDir", "User", "Hostname"):
        assert key not in body
    for key in (
        "Mounts",
        "Binds",
        "NanoCpus",
        "Memory",
        "MemoryReservation",
        "Privileged",
        "ReadonlyRootfs",
        "CapAdd",
        "CapDrop",
        "SecurityOpt",
    ):
        assert key not in body["HostConfig"]


def test_resources() -> None:
    host = app_of(
        sandbox(
            app="{name: app, image: x, resources: "
            "{limits: {cpu: '1.5', memory: 256Mi}, requests: {cpu: 100m, memory: 1G}}}"
        )
    )["HostConfig"]
    assert host["NanoCpus"] == 1_500_000_000
    assert host["Memory"] == 256 * 2**20
    assert host["CpuShares"] == 102
    assert "MemoryReservation" not in host  # kubelet sets no soft limit for a request


def test_security_context() -> None:
    host = app_of(
        sandbox(
            app="{name: app, image: x, securityContext: {privileged: true,"
            " readOnlyRootFilesystem: true, allowPrivilegeEscalation: false,"
            " capabilities: {add: [NET_ADMIN, SYS_TIME], drop: [ALL]}}}"
        )
    )["HostConfig"]
    assert host["Privileged"] is True
    assert host["ReadonlyRootfs"] is True
    assert host["CapAdd"] == ["NET_ADMIN", "SYS_TIME"]
    assert host["CapDrop"] == ["ALL"]
    assert host["SecurityOpt"] == ["no-new-privileges"]


def test_member_runtime_and_restart_policy() -> None:
    host = app_of(sandbox("runtime: crun\n          restartPolicy: Always"))["HostConfig"]
    assert host["Runtime"] == "crun"
    assert host["RestartPolicy"] == {"Name": "no"}  # restarts are the reconciler's job


# --- volumes ----------------------------------------------------------------

VOLUMES = """volumes:
            - {name: data, emptyDir: {}}
            - {name: shm, emptyDir: {medium: Memory, sizeLimit: 64Mi}}
            - {name: tmp, emptyDir: {medium: Memory}}
            - {name: create, hostPath: {path: /srv/create, type: DirectoryOrCreate}}
            - {name: plain, hostPath: {path: /srv/plain}}
            - {name: dir, hostPath: {path: /srv/dir, type: Directory}}
            - {name: file, hostPath: {path: /etc/hosts, type: File}}
            - {name: sock, hostPath: {path: /run/x.sock, type: Socket}}"""


def mounts_app(*mounts: str) -> str:
    return "{name: app, image: x, volumeMounts: [" + ", ".join(mounts) + "]}"


def test_host_path_directory_or_create_goes_to_binds() -> None:
    host = app_of(
        sandbox(
            VOLUMES,
            mounts_app(
                "{name: create, mountPath: /c}",
                "{name: plain, mountPath: /p, readOnly: true}",
            ),
        )
    )["HostConfig"]
    assert host["Binds"] == ["/srv/create:/c", "/srv/plain:/p:ro"]
    assert host["Mounts"] == []


@pytest.mark.parametrize(
    ("volume", "source"),
    [("dir", "/srv/dir"), ("file", "/etc/hosts"), ("sock", "/run/x.sock")],
)
def test_host_path_that_must_exist_goes_to_mounts(volume: str, source: str) -> None:
    host = app_of(
        sandbox(VOLUMES, mounts_app(f"{{name: {volume}, mountPath: /m, readOnly: true}}"))
    )["HostConfig"]
    assert host["Mounts"] == [{"Type": "bind", "Source": source, "Target": "/m", "ReadOnly": True}]
    assert "Binds" not in host


def test_empty_dir_memory_is_tmpfs() -> None:
    host = app_of(
        sandbox(VOLUMES, mounts_app("{name: shm, mountPath: /shm}", "{name: tmp, mountPath: /tmp}"))
    )["HostConfig"]
    assert host["Mounts"] == [
        {
            "Type": "tmpfs",
            "Target": "/shm",
            "ReadOnly": False,
            "TmpfsOptions": {"SizeBytes": 64 * 2**20},
        },
        {"Type": "tmpfs", "Target": "/tmp", "ReadOnly": False, "TmpfsOptions": {}},
    ]


def test_empty_dir_on_disk_is_a_named_volume() -> None:
    host = app_of(sandbox(VOLUMES, mounts_app("{name: data, mountPath: /data}")))["HostConfig"]
    assert host["Mounts"] == [
        {
            "Type": "volume",
            "Source": "inst_default_web.data",
            "Target": "/data",
            "ReadOnly": False,
            "VolumeOptions": {"NoCopy": True},  # an emptyDir starts empty, as under kubelet
        }
    ]


def test_mixed_mounts_keep_their_order_within_each_form() -> None:
    host = app_of(
        sandbox(
            VOLUMES,
            mounts_app(
                "{name: dir, mountPath: /1}",
                "{name: create, mountPath: /2}",
                "{name: data, mountPath: /3}",
                "{name: plain, mountPath: /4}",
                "{name: shm, mountPath: /5}",
            ),
        )
    )["HostConfig"]
    assert [m["Target"] for m in host["Mounts"]] == ["/1", "/3", "/5"]
    assert host["Binds"] == ["/srv/create:/2", "/srv/plain:/4"]


# --- standalone -------------------------------------------------------------


def test_standalone_member_publishes_its_own_ports_and_has_a_hostname() -> None:
    text = sandbox(
        "ports: [{containerPort: 80, hostPort: 8080, hostIP: 127.0.0.1}]",
        "{name: app, image: x, ports: [{containerPort: 53, hostPort: 5353, protocol: UDP}]}",
    )
    unit = unit_of(text, Mode.STANDALONE)
    assert unit.infra is None
    member = unit.workloads[0]
    body = member_body(member, None)
    assert body["Hostname"] == "web"
    assert body["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}}
    host = body["HostConfig"]
    assert host["PortBindings"] == {
        "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
        "53/udp": [{"HostIp": "", "HostPort": "5353"}],
    }
    for key in ("NetworkMode", "IpcMode", "PidMode"):
        assert key not in host
    assert L.INFRA_ID not in body["Labels"]
    assert body["Labels"] == member.labels


def test_standalone_member_ignores_an_infra_id() -> None:
    unit = unit_of(sandbox(), Mode.STANDALONE)
    body = member_body(unit.workloads[0], INFRA_ID)
    assert "NetworkMode" not in body["HostConfig"]
    assert L.INFRA_ID not in body["Labels"]


def test_container_kind_body() -> None:
    unit = unit_of(
        """
        apiVersion: reconciler/v1
        kind: Container
        metadata: {name: cache}
        spec:
          image: redis:7
          runtime: runsc
          ports: [{containerPort: 6379, hostPort: 6379, hostIP: 127.0.0.1}, {containerPort: 9121}]
        """
    )
    (workload,) = unit.workloads
    assert member_body(workload, None) == {
        "Image": "redis:7",
        "Labels": workload.labels,
        "Tty": False,
        "Hostname": "cache",
        "ExposedPorts": {"6379/tcp": {}, "9121/tcp": {}},
        "HostConfig": {
            "RestartPolicy": {"Name": "no"},
            "Runtime": "runsc",
            "PortBindings": {"6379/tcp": [{"HostIp": "127.0.0.1", "HostPort": "6379"}]},
            "CpuShares": 2,
        },
    }
