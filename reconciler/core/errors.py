"""The one exception hierarchy of reconciler. No I/O.

    ReconcilerError
    ├── ManifestError            a document failed to read or validate (file, line, field)
    ├── InitContainerFailed      an init container exited non-zero
    ├── UnitNotFound             logs / exec name no such unit or container
    ├── HookFailed               a postStart hook failed (the container is stopped)
    ├── ProbeNotRun              a probe gave no result: it cannot run here, or its answer broke off
    └── DriverError              the container engine refused or failed
        ├── ObserveAgain             the engine changed under the plan (a concurrent apply)
        ├── ExecFailed               a command started in a container failed to run to its end
        ├── TransientDriverError     worth retrying: daemon unreachable, overloaded, 5xx
        │   └── DaemonUnavailable        the daemon does not answer at all
        └── PermanentDriverError     retrying the same call gives the same answer
            ├── NotFound                 the container, pod, image or volume does not exist
            ├── ImageUnavailable         neither local nor pullable
            ├── NameConflict             the name belongs to a container we do not manage
            ├── InvalidSpec              the engine rejected the configuration
            └── UntranslatableSpec       the driver cannot express the spec for its engine

Only ``reconciler.drivers`` maps engine errors onto this tree, most specific
first, and re-raises with ``from``. A unit the planner refuses (a name clash,
an impossible runtime combination) is not an exception: it is a value, the
``error`` of its ``UnitPlan``, so one refusal never stops another unit.
"""

from __future__ import annotations

from dataclasses import dataclass


class ReconcilerError(Exception):
    """Root of every error reconciler raises on purpose."""


@dataclass(frozen=True, slots=True)
class Location:
    """Where in a manifest a problem is: ``path:line:column`` (1-based)."""

    path: str
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        if self.line is None:
            return self.path
        if self.column is None:
            return f"{self.path}:{self.line}"
        return f"{self.path}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class Problem:
    """One finding in a manifest: an error, or a warning that is not fatal."""

    location: Location
    field: str
    message: str

    def __str__(self) -> str:
        field = f"{self.field}: " if self.field else ""
        return f"{self.location}: {field}{self.message}"


class ManifestError(ReconcilerError):
    """One or more documents of a manifest are invalid; each problem has its location."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class DriverError(ReconcilerError):
    """The container engine refused or failed an operation."""


class ObserveAgain(DriverError):
    """What the plan was made from has changed (another process created or removed
    this container meanwhile): not a failure; observe and plan again."""


class ExecFailed(DriverError):
    """A command was set up in a container but the engine failed it before it exited (the
    container stopped, the daemon failed): a probe or hook that cannot run fails."""


class TransientDriverError(DriverError):
    """Worth retrying with backoff: the same call may succeed later."""


class DaemonUnavailable(TransientDriverError):
    """The engine does not answer (socket missing, connection refused, timeout)."""


class PermanentDriverError(DriverError):
    """Retrying gives the same answer; report it and back off."""


class NotFound(PermanentDriverError):
    """The container, pod sandbox, image or volume does not exist (any more). Every
    engine's "no such object" becomes this one error; removing what is gone is success."""


class ImageUnavailable(PermanentDriverError):
    """The image is neither present locally nor pullable under its pull policy."""


class NameConflict(PermanentDriverError):
    """A container of that name exists and is not managed by this instance."""


class InvalidSpec(PermanentDriverError):
    """The engine rejected the container configuration."""


class UntranslatableSpec(PermanentDriverError):
    """The driver cannot turn the effective spec into its engine's configuration (a member
    that joins an infra, with none known): that unit fails, nothing is created."""


class InitContainerFailed(ReconcilerError):
    """An init container exited non-zero: the unit's workloads are not started."""


class UnitNotFound(ReconcilerError):
    """`logs` or `exec` named no such unit or container; the message says what exists."""


class HookFailed(ReconcilerError):
    """A postStart hook failed or timed out: the container is stopped, as kubelet kills it."""


class ProbeNotRun(ReconcilerError):
    """A probe gave no result: it cannot run in this installation, or its answer broke off
    midway. kubelet discards such a result (its prober's "errored"), and so does the loop."""
