"""Host-port clashes are refused before anything is created (desired.py, planner.py)."""

from __future__ import annotations

from dataclasses import replace
from textwrap import dedent

from reconciler.core.admission import compile_and_admit
from reconciler.core.compile import BuildConfig
from reconciler.core.manifests import load_text
from reconciler.core.planner import plan
from reconciler.core.spec import Desired
from reconciler.drivers.docker.capabilities import DOCKER

from .planning import INSTANCE, config, converge, sandbox


def two(first_ports: str, second_ports: str) -> Desired:
    texts = [
        (dedent(sandbox("a", ports=first_ports)), "a.yaml"),
        (dedent(sandbox("b", ports=second_ports)), "b.yaml"),
    ]
    pairs = []
    for text, path in texts:
        loaded = load_text(text, path)
        assert loaded.ok
        pairs += loaded.manifests
    return compile_and_admit(pairs, BuildConfig(INSTANCE, infra_image="pause:test", driver=DOCKER))


LOCAL = "[{containerPort: 80, hostPort: 8080, hostIP: 127.0.0.1}]"
ANY = "[{containerPort: 81, hostPort: 8080}]"
UDP = "[{containerPort: 80, hostPort: 8080, hostIP: 127.0.0.1, protocol: UDP}]"
OTHER_IP = "[{containerPort: 80, hostPort: 8080, hostIP: 127.0.0.2}]"


def test_two_manifests_publishing_one_host_port_refuse_the_second_naming_both_files() -> None:
    want = two(LOCAL, LOCAL)
    assert [u.key.name for u in want.units] == ["a"]
    ((key, reason),) = want.refused
    assert key.name == "b"
    assert "127.0.0.1:8080/tcp (b.yaml)" in reason
    assert "sandbox/a (a.yaml)" in reason


def test_any_address_takes_every_address() -> None:
    assert [k.name for k, _ in two(LOCAL, ANY).refused] == ["b"]
    assert [k.name for k, _ in two(ANY, LOCAL).refused] == ["b"]


def test_other_protocol_or_address_is_no_clash() -> None:
    assert not two(LOCAL, UDP).refused
    assert not two(LOCAL, OTHER_IP).refused


def test_a_port_another_unit_of_the_instance_publishes_refuses_the_newcomer() -> None:
    engine = converge(two(LOCAL, "[]"))
    (infra,) = [c for c in engine.containers.values() if c.name.endswith("_a_infra")]
    engine.containers[infra.id] = replace(infra, ports=(("127.0.0.1", 8080, "tcp"),))
    # The manifests no longer clash (a moved to another port), but a still holds
    # 8080 until it is recreated: b is refused, nothing of it created.
    p = plan(two(OTHER_IP, LOCAL), engine.observe(), config())
    by_name = {u.key.name: u for u in p.units}
    assert by_name["b"].actions == ()
    assert by_name["b"].error is not None
    assert "127.0.0.1:8080/tcp is already published by sandbox/a" in by_name["b"].error
    assert by_name["a"].error is None
