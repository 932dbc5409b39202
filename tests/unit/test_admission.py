"""Admission (runtimes.py, desired.py's refusals): what mutation testing found untested."""

from __future__ import annotations

from reconciler.core.effective import UnitKey
from reconciler.core.models import Kind, Namespace
from reconciler.core.runtimes import sharing_problems, unavailable

from .planning import desired, sandbox


def test_a_runtime_without_a_profile_that_the_daemon_lacks_is_named_without_a_hint() -> None:
    (problem,) = unavailable(["my-vm"], frozenset({"runc"}))
    assert problem == "runtime 'my-vm' is not offered by the Docker daemon; it offers: runc"
    (problem,) = unavailable(["runsc"], frozenset())
    assert problem == "runtime 'runsc' is not offered by the Docker daemon; it offers: none"
    assert unavailable(["runc", "runsc"], frozenset({"runc", "runsc"})) == []


def test_every_member_that_cannot_share_is_named() -> None:
    problems = sharing_problems(
        "runc",
        [("odd", "my-vm"), ("gvisor", "runsc"), ("vm", "kata")],
        [Namespace.NETWORK, Namespace.IPC],
    )
    assert any("container odd: no capability profile for runtime 'my-vm'" in p for p in problems)
    assert any(p.startswith("container gvisor (runsc) cannot join the ipc") for p in problems)
    assert any(p.startswith("container vm (kata) cannot join the network") for p in problems)


def test_a_refused_unit_never_hides_the_units_after_it() -> None:
    bad = sandbox(name="api", share="[network, ipc]").replace(
        "restartPolicy: Always", "restartPolicy: Always\n          runtime: runsc"
    )
    want = desired(bad + "---" + sandbox(name="web"))
    assert [key.name for key, _ in want.refused] == ["api"]
    assert [u.key.name for u in want.units] == ["web"]
    web = want.unit(UnitKey(Kind.SANDBOX, "default", "web"))
    assert web is not None and web.key.name == "web"
    assert want.unit(UnitKey(Kind.SANDBOX, "default", "api")) is None
