"""Which container `logs` and `exec` mean, without a daemon."""

from __future__ import annotations

import pytest

from reconciler.core import labels as L
from reconciler.core.errors import UnitNotFound
from reconciler.core.observed import ContainerId, ObservedContainer, State
from reconciler.core.selection import pick


def _c(
    cid: str,
    unit: str,
    role: str,
    name: str,
    position: int,
    kind: str = "Sandbox",
    created: float = 1.0,
    state: State = State.RUNNING,
) -> ObservedContainer:
    labels = {
        L.KIND: kind,
        L.NAMESPACE: "default",
        L.SANDBOX: unit,
        L.ROLE: role,
        L.CONTAINER: name,
        L.POSITION: str(position),
    }
    return ObservedContainer(ContainerId(cid), f"x_{name}", labels, state, created)


WEB = [
    _c("i", "web", L.ROLE_INFRA, "", 0),
    _c("s", "web", L.ROLE_WORKLOAD, "side", 2, created=1.0),
    _c("a", "web", L.ROLE_WORKLOAD, "app", 1, created=5.0),  # recreated later: order holds
    _c("n", "web", L.ROLE_INIT, "setup", 0, state=State.EXITED),
    _c("c", "cache", L.ROLE_WORKLOAD, "cache", 0, kind="Container"),
]


def test_the_default_is_the_first_workload_in_manifest_order() -> None:
    picked = pick(WEB, "web", "default", None)
    assert (picked.container.id, picked.defaulted_out_of) == ("a", ("app", "side"))
    assert picked.unit == "sandbox/web"


def test_a_named_container_may_be_an_init_container() -> None:
    assert pick(WEB, "sandbox/web", "default", "setup").container.id == "n"
    assert pick(WEB, "web", "default", "side").defaulted_out_of == ()


def test_a_standalone_container_has_one_choice() -> None:
    picked = pick(WEB, "container/cache", "default", None)
    assert (picked.container.id, picked.defaulted_out_of) == ("c", ())


def test_the_newest_running_copy_wins() -> None:
    old = _c("old", "web", L.ROLE_WORKLOAD, "app", 1, created=1.0, state=State.EXITED)
    assert pick([*WEB, old], "web", "default", "app").container.id == "a"


@pytest.mark.parametrize(
    ("unit", "namespace", "name", "message"),
    [
        ("web", "default", "nope", "has no container 'nope' (it has: app, side, setup)"),
        ("web", "other", None, "no sandbox or container of that name in namespace other"),
        ("container/web", "default", None, "no sandbox or container"),
        ("pod/web", "default", None, "the kind must be sandbox or container"),
    ],
)
def test_what_is_not_there_is_named(
    unit: str, namespace: str, name: str | None, message: str
) -> None:
    with pytest.raises(UnitNotFound, match=message.replace("(", r"\(").replace(")", r"\)")):
        pick(WEB, unit, namespace, name)


def test_a_name_of_both_kinds_must_be_qualified() -> None:
    both = [*WEB, _c("w", "web", L.ROLE_WORKLOAD, "web", 0, kind="Container")]
    with pytest.raises(UnitNotFound, match="both a sandbox and a container"):
        pick(both, "web", "default", None)
    assert pick(both, "container/web", "default", None).container.id == "w"
