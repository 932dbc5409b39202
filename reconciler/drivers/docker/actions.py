"""What a plan's actions do to containers on the Docker daemon. Does I/O.

Create (pulling per pull policy), start, restart in place, stop, wait and
remove; the bodies come from spec.py. A start the daemon refuses removes
what was just created, so a failed attempt leaves nothing half-made; a name
another process of this instance took, or an infra removed meanwhile, means
observe again. Transient failures are retried here (drivers/retrying.py).
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from reconciler.core import labels as L
from reconciler.core.errors import (
    DriverError,
    ImageUnavailable,
    NameConflict,
    NotFound,
    ObserveAgain,
    PermanentDriverError,
)
from reconciler.core.models import PullPolicy
from reconciler.core.naming import name_of
from reconciler.core.observed import ContainerId
from reconciler.core.spec import DesiredInfra, DesiredMember, PullAuth
from reconciler.drivers.docker.connection import Connection
from reconciler.drivers.docker.errors import calling, gone_means_observe_again
from reconciler.drivers.docker.images import Images
from reconciler.drivers.docker.spec import infra_body, member_body
from reconciler.drivers.docker.starts import run_key, run_label
from reconciler.drivers.retrying import retried


class Actions:
    def __init__(self, connection: Connection, images: Images) -> None:
        self._engine = connection
        self._images = images
        self._lock = threading.Lock()
        self._infra_runs: dict[str, str] = {}  # by infra id: see _infra_run

    def create_infra(self, infra: DesiredInfra) -> ContainerId:
        """Create and start the infra. Raises ImageUnavailable, NameConflict, DriverError."""
        container_id = self.create(infra_body(infra), name_of(infra.labels), "IfNotPresent")
        self._start_new(container_id)
        return container_id

    def create_member(self, member: DesiredMember, infra_id: str | None) -> ContainerId:
        """Create and start a member joined to ``infra_id``. Raises as ``create_infra``."""
        body = member_body(member, infra_id)
        if infra_id is not None and member.spec.joins:
            run = self._infra_run(infra_id)
            if run:
                body["Labels"][L.INFRA_RUN] = run
        container_id = self.create(
            body, name_of(member.labels), member.pull_policy, member.pull_auth
        )
        self._start_new(container_id)
        return container_id

    def _infra_run(self, infra_id: str) -> str:
        """The label ``L.INFRA_RUN`` for a member joining ``infra_id`` now ("" if unknown).

        Read once per infra: if the infra restarts after that, a later member names a
        run already over, which only costs it inspects (starts.py).
        """
        with self._lock:
            known = self._infra_runs.get(infra_id)
        if known is None:
            try:
                with calling(f"inspecting infra {infra_id[:12]}"):
                    info = self._engine.calls.inspect_container(infra_id)
            except DriverError:
                # Only a shortcut is lost: the member is inspected when observed. If the
                # infra is gone, creating the member fails on its own, with its own message.
                return ""
            known = run_label(run_key(info.get("NetworkSettings")))
            with self._lock:
                self._infra_runs[infra_id] = known
        return known

    def _start_new(self, container_id: ContainerId) -> None:
        """Start what was just created; if the daemon refuses (a port taken, a bad mount),
        remove it again, so a failed attempt leaves nothing half-made behind."""
        try:
            self.start(container_id)
        except PermanentDriverError:
            with contextlib.suppress(DriverError):
                self.remove(container_id, 0)
            raise

    def create(
        self,
        body: dict[str, Any],
        name: str,
        pull_policy: PullPolicy,
        auth: tuple[PullAuth, ...] = (),
    ) -> ContainerId:
        """Create (not start) a container, pulling its image as ``pull_policy`` says
        (with ``auth``, its imagePullSecrets' credentials)."""
        image = body["Image"]
        if pull_policy == "Always":
            self._images.pull(image, once=True, auth=auth)
        try:
            return self._create_once(body, name)
        except ImageUnavailable:
            if pull_policy == "Never":
                raise ImageUnavailable(
                    f"image {image} is not present and imagePullPolicy is Never"
                ) from None
        self._images.pull(image, once=False, auth=auth)
        return self._create_once(body, name)

    @retried
    def _create_once(self, body: dict[str, Any], name: str) -> ContainerId:
        """Create; a name taken by this instance, or a joined infra gone, means observe again.

        Names are deterministic, so two processes converging the same unit at
        once collide here (409): the second learns the first was faster.
        """
        try:
            with calling(f"creating {name}"):
                return ContainerId(
                    self._engine.calls.create_container_from_config(body, name)["Id"]
                )
        except NameConflict:
            if self._managed_name(name):
                raise ObserveAgain(
                    f"creating {name}: this instance already has a container of that name "
                    "(made meanwhile by another process)"
                ) from None
            raise
        except NotFound as exc:  # the infra it joins was removed meanwhile
            raise ObserveAgain(f"creating {name}: {exc}") from exc

    def _managed_name(self, name: str) -> bool:
        try:
            with calling(f"inspecting {name}"):
                info = self._engine.calls.inspect_container(name)
        except NotFound:
            return True  # taken a moment ago, gone now: observing again sorts it out
        labels = (info.get("Config") or {}).get("Labels") or {}
        return labels.get(L.MANAGED_BY) == self._engine.instance

    @retried
    def start(self, container_id: str) -> None:
        """Start a container (a running one stays as it is). ObserveAgain when it is gone."""
        with gone_means_observe_again(), calling(f"starting {container_id[:12]}"):
            self._engine.calls.start(container_id)

    @retried
    def restart(self, container_id: str, grace_period: int) -> None:
        """Stop (SIGTERM, grace, SIGKILL) and start again in place: same id."""
        with gone_means_observe_again(), calling(f"restarting {container_id[:12]}"):
            self._engine.calls.restart(container_id, timeout=grace_period)

    @retried
    def stop(self, container_id: str, grace_period: int) -> None:
        """Stop (SIGTERM, grace, SIGKILL) and keep the container. Already gone is success."""
        try:
            with calling(f"stopping {container_id[:12]}"):
                self._engine.calls.stop(container_id, timeout=grace_period)
        except NotFound:
            return

    @retried
    def wait(self, container_id: str) -> int:
        """Block until the container exits; return its exit code. ObserveAgain when gone."""
        with gone_means_observe_again(), calling(f"waiting for {container_id[:12]}"):
            result = self._engine.calls.wait(container_id, timeout=None)
        return int(result.get("StatusCode", -1))

    @retried
    def remove(self, container_id: str, grace_period: int) -> None:
        """Stop (SIGTERM, grace, SIGKILL) and remove. Already gone is success.

        Another process removing it at the same time (Docker answers 409
        "removal ... is already in progress") is success too, once it is gone.
        """
        calls = self._engine.calls
        try:
            with calling(f"stopping {container_id[:12]}"):
                calls.stop(container_id, timeout=grace_period)
            with calling(f"removing {container_id[:12]}"):
                calls.remove_container(container_id, force=True)
        except NotFound:
            return
        except PermanentDriverError as exc:
            if "already in progress" not in str(exc):
                raise
            try:
                with calling(f"waiting for {container_id[:12]} to be removed"):
                    calls.wait(container_id, timeout=None, condition="removed")
            except NotFound:
                return


__all__ = ["Actions"]
