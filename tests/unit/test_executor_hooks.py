"""The executor runs the lifecycle hooks a plan carries, through a recording driver."""

from __future__ import annotations

from dataclasses import dataclass, field

from reconciler.converge.executor import execute
from reconciler.core.actions import Action, CreateMember, Ref, Remove, Restart, Start
from reconciler.core.errors import DriverError
from reconciler.core.models import Kind
from reconciler.core.observed import ContainerId
from reconciler.core.ownership import Owner
from reconciler.core.planner import Plan, UnitPlan
from reconciler.core.spec import DesiredInfra, DesiredMember, DesiredVolume, UnitKey

from .planning import desired

KEY = UnitKey(Kind.SANDBOX, "default", "web")


@dataclass
class Recorder:
    """A driver that records calls; exec answers from ``codes`` (or raises)."""

    codes: dict[str, int | Exception] = field(default_factory=dict)
    calls: list[tuple[object, ...]] = field(default_factory=list)

    def create_infra(self, infra: DesiredInfra) -> ContainerId:
        self.calls.append(("create_infra",))
        return ContainerId("infra")

    def create_member(self, member: DesiredMember, infra_id: str | None) -> ContainerId:
        self.calls.append(("create", member.name))
        return ContainerId(f"id-{member.name}")

    def start(self, container_id: str) -> None:
        self.calls.append(("start", container_id))

    def exec(self, container_id: str, command: list[str], timeout: float) -> int:
        self.calls.append(("exec", container_id, command[0]))
        answer = self.codes.get(command[0], 0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def restart(self, container_id: str, grace_period: int) -> None:
        self.calls.append(("restart", container_id, grace_period))

    def stop(self, container_id: str, grace_period: int) -> None:
        self.calls.append(("stop", container_id, grace_period))

    def wait(self, container_id: str) -> int:
        return 0

    def remove(self, container_id: str, grace_period: int) -> None:
        self.calls.append(("remove", container_id, grace_period))

    def ensure_volume(self, volume: DesiredVolume) -> None:
        self.calls.append(("volume", volume.name))

    def remove_volumes(self, unit: UnitKey) -> None:
        self.calls.append(("remove_volumes",))

    def record_owner(self, unit: UnitKey, owner: Owner) -> None:
        self.calls.append(("record_owner",))


def run(driver: Recorder, *actions: Action) -> str | None:
    result = execute(Plan((UnitPlan(KEY, actions, ContainerId("infra")),)), driver)
    return result.units[0].error


def member_with_hooks() -> DesiredMember:
    unit = desired(
        """
        apiVersion: v1
        kind: Pod
        metadata: {name: web}
        spec:
          containers:
            - name: app
              image: busybox:1
              lifecycle:
                postStart: {exec: {command: [post]}}
                preStop: {exec: {command: [pre]}}
        """
    ).units[0]
    return unit.workloads[0]


def ref(post: tuple[str, ...] = (), pre: tuple[str, ...] = ()) -> Ref:
    return Ref(ContainerId("c1"), "web.app", "workload", "app", post, pre)


def test_post_start_runs_right_after_create_and_start() -> None:
    driver = Recorder()
    assert run(driver, CreateMember(member_with_hooks(), "does not exist")) is None
    assert driver.calls == [("create", "app"), ("exec", "id-app", "post")]
    driver.calls.clear()
    assert run(driver, Start(ref(post=("post",)), "exited", restart=True)) is None
    assert driver.calls == [("start", "c1"), ("exec", "c1", "post")]


def test_a_failing_post_start_stops_the_container_and_fails_the_action() -> None:
    driver = Recorder(codes={"post": 3})
    error = run(driver, CreateMember(member_with_hooks(), "does not exist"))
    assert error == "postStart hook of app failed (exited with code 3): the container is stopped"
    assert driver.calls[-1] == ("stop", "id-app", 0)


def test_pre_stop_runs_before_stopping_and_a_failure_does_not_hold_it_back() -> None:
    for answer in (0, 1, DriverError("is not running"), TimeoutError("too slow")):
        driver = Recorder(codes={"pre": answer})
        assert run(driver, Remove(ref(pre=("pre",)), 30, "deleted")) is None
        assert [c[0] for c in driver.calls] == ["exec", "remove"]
        assert driver.calls[1] == ("remove", "c1", 30)  # the hook took no time here


def test_a_rejoin_runs_both_hooks_around_the_restart() -> None:
    driver = Recorder()
    assert run(driver, Restart(ref(("post",), ("pre",)), 5, "rejoin")) is None
    assert driver.calls == [("exec", "c1", "pre"), ("restart", "c1", 5), ("exec", "c1", "post")]


def test_no_hook_no_exec() -> None:
    driver = Recorder()
    assert run(driver, Remove(ref(), 5, "deleted"), Start(ref(), "created")) is None
    assert driver.calls == [("remove", "c1", 5), ("start", "c1")]
