"""`reconciler convert` output applied on a real daemon: a service:X member shares X's network."""

from __future__ import annotations

from textwrap import dedent

from .conftest import Harness, fetch

COMPOSE = """
    services:
      web:
        image: local/busybox:test
        command: sh -c 'mkdir -p /w && echo from-web > /w/index.html && httpd -f -p 8080 -h /w'
        ports: ["127.0.0.1:PORT:8080"]
        stop_grace_period: 1s
        restart: always
      probe:
        image: local/busybox:test
        network_mode: service:web
        command: ["sleep", "3600"]
      cache:
        image: local/busybox:test
        command: ["sleep", "3600"]
        stop_grace_period: 1s
"""


def test_converted_compose_file_applies_and_members_share_the_network(
    h: Harness, free_port: int
) -> None:
    compose = h.root.parent / "compose.yaml"
    compose.write_text(dedent(COMPOSE).replace("PORT", str(free_port)))
    converted = h.cli("convert", str(compose))
    assert converted.returncode == 0, converted.stderr
    h.write("converted.yaml", converted.stdout)
    h.apply()
    assert fetch(f"http://127.0.0.1:{free_port}/") == b"from-web\n"
    code, output = h.exec(
        h.member("web", "probe")["Id"], "wget", "-q", "-O-", "http://127.0.0.1:8080/"
    )
    assert (code, output) == (0, "from-web\n")  # the probe is in web's network namespace
    standalone = h.containers(**{"io.reconciler.sandbox": "cache"})
    assert [c["Labels"]["io.reconciler.kind"] for c in standalone] == ["Container"]
