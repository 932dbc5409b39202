"""What a plan's actions do under CRI: pods and containers made, stopped, removed. Does I/O.

The infra of a Sandbox is the pod sandbox (``RunPodSandbox`` with the runtime
handler its ``runtime`` names; its id stands where Docker's infra id does); a
``kind: Container`` runs in a one-container pod of its own. A container is
never started again in place: a restart is a new container, its next
``attempt`` (kubelet's counter), and a dead pod is rebuilt by the planner.
"""

from __future__ import annotations

import contextlib
import shutil
import time
import uuid
from pathlib import Path

from reconciler.core import labels as L
from reconciler.core.errors import DriverError, NotFound, ObserveAgain, PermanentDriverError
from reconciler.core.observed import ContainerId
from reconciler.core.spec import DesiredInfra, DesiredMember
from reconciler.drivers.cri.client import CriClient, pb
from reconciler.drivers.cri.files import Files
from reconciler.drivers.cri.images import Images
from reconciler.drivers.cri.observe import Observer
from reconciler.drivers.cri.pods import PodBook
from reconciler.drivers.cri.spec import (
    IMPLICIT,
    LOG_DIRECTORY,
    PodShape,
    bare_shape,
    container_config,
    infra_shape,
    sandbox_config,
    sandbox_config_of,
)

_WAIT_POLL = 0.2


class Actions:
    def __init__(
        self,
        cri: CriClient,
        instance: str,
        book: PodBook,
        observer: Observer,
        images: Images,
        files: Files,
        logs_dir: Path,
    ) -> None:
        self.cri = cri
        self.instance = instance
        self.book = book
        self.observer = observer
        self.images = images
        self.files = files
        self.logs_dir = logs_dir

    def create_infra(self, infra: DesiredInfra) -> ContainerId:
        """Run the pod sandbox with the runtime handler its runtime names."""
        return ContainerId(self._run_pod(infra_shape(infra)))

    def _run_pod(self, shape: PodShape) -> str:
        uid = uuid.uuid4().hex
        log_directory = self.logs_dir / f"{shape.namespace}_{shape.name}_{uid}"
        log_directory.mkdir(parents=True, exist_ok=True)
        config = sandbox_config(shape, uid, str(log_directory))
        try:
            sandbox = self.cri.run_pod_sandbox(config, runtime_handler=shape.runtime)
        except DriverError:
            shutil.rmtree(log_directory, ignore_errors=True)
            raise
        with self.book.lock:
            self.book.configs[sandbox] = config
            self.book.sandboxes.add(sandbox)
            if IMPLICIT in shape.labels:
                self.book.implicit.add(sandbox)
        return sandbox

    def _pod_config(self, sandbox: str) -> pb.PodSandboxConfig:
        with self.book.lock:
            known = self.book.configs.get(sandbox)
        if known is not None:
            return known
        try:
            status = self.cri.pod_sandbox_status(sandbox).status
        except NotFound as exc:
            raise ObserveAgain(f"pod sandbox {sandbox[:12]} is gone: {exc}") from exc
        config = sandbox_config_of(status)
        with self.book.lock:
            self.book.configs[sandbox] = config
        return config

    def create_member(self, member: DesiredMember, infra_id: str | None) -> ContainerId:
        """Create and start ``member`` in the pod ``infra_id`` (its next attempt there); a
        kind: Container gets a one-container pod of its own first."""
        implicit = infra_id is None
        sandbox = infra_id or self._run_pod(bare_shape(member))
        try:
            return self._create_in(member, sandbox, "" if implicit else sandbox)
        except DriverError:
            if implicit:
                self._remove_pod(sandbox)
            raise

    def _create_in(self, member: DesiredMember, sandbox: str, infra_label: str) -> ContainerId:
        pod = self._pod_config(sandbox)
        self.images.ensure(
            member.spec.image,
            member.pull_policy,
            pod,
            of=f"container {member.name}",
            auth=member.pull_auth,
        )
        attempt = self._next_attempt(sandbox, member.name)
        options = pod.linux.security_context.namespace_options
        share = tuple(
            ns
            for ns, mode in (("network", pb.POD), ("ipc", options.ipc), ("pid", options.pid))
            if mode == pb.POD
        )
        volumes = str(self.files.volumes_dir)
        config = container_config(member, attempt, share, volumes, infra_id=infra_label)
        (Path(pod.log_directory) / member.name).mkdir(parents=True, exist_ok=True)
        container = self.cri.create_container(sandbox, config, pod)
        with self.book.lock:
            self.book.pod_of[container] = sandbox
            self.book.attempts[(sandbox, member.name)] = attempt
        try:
            self.cri.start_container(container)
        except PermanentDriverError:
            with contextlib.suppress(DriverError):
                self.cri.remove_container(container)
            raise
        return ContainerId(container)

    def _next_attempt(self, sandbox: str, name: str) -> int:
        """One more than any attempt of ``name`` in the pod this process made, removed or
        still there (kubelet's attempt counter)."""
        rows = self.cri.list_containers(
            {L.MANAGED_BY: self.instance, L.CONTAINER: name}, sandbox_id=sandbox
        )
        seen = [r.metadata.attempt for r in rows]
        with self.book.lock:
            if (sandbox, name) in self.book.attempts:
                seen.append(self.book.attempts[(sandbox, name)])
        return max(seen) + 1 if seen else 0

    def start(self, container_id: str) -> None:
        """Start a created container. A pod sandbox cannot be started again under CRI."""
        if self.observer.is_pod(container_id):
            raise PermanentDriverError(
                f"pod sandbox {container_id[:12]}: a CRI pod cannot be started again (the "
                "planner rebuilds it)"
            )
        try:
            self.cri.start_container(container_id)
        except NotFound as exc:
            raise ObserveAgain(f"{exc} (removed meanwhile)") from exc

    def stop(self, container_id: str, grace_period: int) -> None:
        if self.observer.is_pod(container_id):
            self.cri.stop_pod_sandbox(container_id)
            return
        self.cri.stop_container(container_id, grace_period)

    def wait(self, container_id: str) -> int:
        """Poll its status until it exits: its exit code."""
        while True:
            try:
                status = self.cri.container_status(container_id).status
            except NotFound as exc:
                raise ObserveAgain(f"{exc} (removed meanwhile)") from exc
            if status.state == pb.CONTAINER_EXITED:
                return int(status.exit_code)
            time.sleep(_WAIT_POLL)

    def remove(self, container_id: str, grace_period: int) -> None:
        """Stop and remove a container (and the one-container pod of a kind: Container), or
        a whole pod sandbox with its log directory. Already gone is success."""
        if self.observer.is_pod(container_id):
            self._remove_pod(container_id)
            return
        sandbox = self.observer.sandbox_of(container_id)
        try:
            attempt = self.cri.container_status(container_id).status.metadata
            with self.book.lock:
                key = (sandbox, attempt.name)
                self.book.attempts[key] = max(self.book.attempts.get(key, 0), attempt.attempt)
        except NotFound:
            pass
        self.cri.stop_container(container_id, grace_period)
        self.cri.remove_container(container_id)
        with self.book.lock:
            implicit = sandbox in self.book.implicit
        if implicit:
            self._remove_pod(sandbox)

    def _remove_pod(self, sandbox: str) -> None:
        log_directory = ""
        with contextlib.suppress(NotFound):
            log_directory = self.cri.pod_sandbox_status(sandbox).status.annotations.get(
                LOG_DIRECTORY, ""
            )
        self.cri.stop_pod_sandbox(sandbox)
        self.cri.remove_pod_sandbox(sandbox)
        if log_directory.startswith(str(self.logs_dir) + "/"):
            shutil.rmtree(log_directory, ignore_errors=True)
        with self.book.lock:
            self.book.configs.pop(sandbox, None)
            for key in [k for k in self.book.attempts if k[0] == sandbox]:
                del self.book.attempts[key]


__all__ = ["Actions"]
