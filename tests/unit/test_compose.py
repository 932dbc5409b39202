"""`reconciler convert`: compose services to manifests, and what cannot be said reported."""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent
from typing import Any

import yaml
from click.testing import CliRunner

from reconciler.cli import cli
from reconciler.core.manifests import load_text
from reconciler.core.models import ContainerManifest, SandboxManifest
from reconciler.formats.compose import convert, dns_name

COMPOSE = """
    version: "3.8"
    services:
      web:
        image: local/busybox:test
        command: httpd -f -p 8080 -h /www
        ports: ["127.0.0.1:18080:8080", {target: 9000, published: 19000, protocol: udp}]
        volumes: ["data:/www", "./conf:/conf:ro", {type: tmpfs, target: /run}]
        restart: unless-stopped
        stop_grace_period: 1m30s
        healthcheck: {test: "wget -q -O- localhost:8080", interval: 5s, retries: 2}
        environment: [MODE=prod, FROM_SHELL]
        mem_limit: 1g
        cpus: 0.5
        depends_on: [db]
      probe:
        image: local/busybox:test
        network_mode: service:web
        pid: service:web
        command: ["sleep", "3600"]
      logger:
        image: local/busybox:test
        network_mode: service:probe
      db_main:
        build: ./db
        image: local/busybox:test
        entrypoint: ["sleep"]
        command: ["3600"]
        user: "1000:1000"
        volumes: ["data:/var/lib/db"]
        network_mode: host
        restart: always
    volumes: {data: {}}
    networks: {back: {}}
"""


def _convert(text: str = COMPOSE) -> tuple[list[Any], list[str], list[str]]:
    out = convert(yaml.safe_load(dedent(text)), "/srv/app")
    loaded = load_text(yaml.safe_dump_all(out.documents), "converted.yaml")
    assert loaded.ok, [str(e) for e in loaded.errors]
    return [m.manifest for m in loaded.manifests], out.losses, out.errors


def test_network_mode_service_members_join_the_root_services_sandbox() -> None:
    (web, db), _, errors = _convert()
    assert errors == []
    assert isinstance(web, SandboxManifest) and isinstance(db, ContainerManifest)
    assert [c.name for c in web.spec.containers] == ["web", "probe", "logger"]  # chains follow
    assert [s.value for s in web.spec.share] == ["network", "ipc", "pid"]
    assert db.metadata.name == "db-main"
    assert (db.spec.command, db.spec.args) == (["sleep"], ["3600"])
    assert db.spec.security_context is not None and db.spec.security_context.run_as_group == 1000


def test_ports_volumes_and_the_rest_are_mapped() -> None:
    (web, db), _, _ = _convert()
    assert isinstance(web, SandboxManifest)
    app = web.spec.containers[0]
    assert app.args == ["httpd", "-f", "-p", "8080", "-h", "/www"]
    assert [(p.host_ip, p.host_port, p.container_port, p.protocol) for p in app.ports] == [
        ("127.0.0.1", 18080, 8080, "TCP"),
        (None, 19000, 9000, "UDP"),
    ]
    volumes = {v.name: v for v in web.spec.volumes}
    assert volumes["host-conf"].host_path is not None
    assert volumes["host-conf"].host_path.path == "/srv/app/conf"
    assert volumes["tmpfs-run"].empty_dir is not None
    assert volumes["tmpfs-run"].empty_dir.medium == "Memory"
    assert [m.read_only for m in app.volume_mounts] == [False, True, False]
    assert (web.spec.restart_policy, web.spec.termination_grace_period_seconds) == ("Always", 90)
    assert [e.name for e in app.env] == ["MODE"]
    assert app.resources.limits == {"memory": "1Gi", "cpu": "0.5"}
    assert app.readiness_probe is not None and app.readiness_probe.exec is not None
    assert app.readiness_probe.exec.command == ["sh", "-c", "wget -q -O- localhost:8080"]
    assert app.readiness_probe.failure_threshold == 2
    assert db.spec.restart_policy == "Always"


def test_what_a_manifest_cannot_express_is_reported() -> None:
    _, losses, _ = _convert()
    expected = [
        "top-level networks",
        "service web: depends_on",
        "service web: environment.FROM_SHELL",
        "service web: restart: unless-stopped",
        "service web: healthcheck: became a readinessProbe",
        "service db_main: build",
        "service db_main: network_mode: host",
        "volume data: shared by db-main, web",
    ]
    for start in expected:
        assert any(loss.startswith(start) for loss in losses), (start, losses)
    assert len(losses) == len(expected)


def test_a_service_that_cannot_become_a_manifest_is_an_error_not_a_guess() -> None:
    out = convert({"services": {"x": {"image": "a", "ports": ["99999:80"]}}}, "/")
    assert out.documents == [] and "service x" in out.errors[0]
    assert convert({"version": "2"}, "/").errors
    assert dns_name("My_App.v2") == "my-app-v2"


def test_the_command_writes_manifests_and_reports_on_stderr(tmp_path: Path) -> None:
    path = tmp_path / "compose.yaml"
    path.write_text(dedent(COMPOSE))
    result = CliRunner().invoke(cli, ["convert", str(path)])
    assert result.exit_code == 0, result.output
    assert [d["kind"] for d in yaml.safe_load_all(result.stdout)] == ["Sandbox", "Container"]
    assert f"warning: {path}: service db_main: build:" in result.stderr
    path.write_text("services: {x: {image: a, ports: ['99999:80']}}")
    assert CliRunner().invoke(cli, ["convert", str(path)]).exit_code == 1
