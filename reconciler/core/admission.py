"""Admission: whether each compiled unit may run at all, decided before planning. No I/O.

Every refusal that needs no observed container is made here, in this order,
the first that applies naming the unit's reason:

1. the security policy (policy.py), over the manifest's own fields;
2. the mode: what the driver runs, and what ``spec.mode`` may pick;
3. what the engine lacks: every field of the unit that asks for a feature the
   driver declares it cannot give (``DriverCapabilities.lacks``), named;
4. the runtime profiles against the shared namespaces the driver vouches for (runtimes.py);
5. the operator's ``allowedRuntimes``;
6. a host port another manifest, admitted before it, publishes;
7. the runtimes the engine offers, when they are known.

A runtime the engine lacks comes after the port check: which unit holds a
host port depends on the manifests, never on what the engine has installed.
What needs observed containers (owners, names taken by unmanaged containers,
host ports published by a running container) stays with the planner.
``admit`` is the one entry; `validate`, `apply`, `diff`, `sync` and the
control loop all call it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from reconciler.core import labels as L
from reconciler.core.compile import BuildConfig, Compiled, compile_units
from reconciler.core.manifests import LoadedManifest
from reconciler.core.models import Mode, Namespace, SandboxManifest
from reconciler.core.observed import EngineFacts, FactsWanted
from reconciler.core.policy import check as policy_check
from reconciler.core.policy import refusal as policy_refusal
from reconciler.core.runtimes import (
    DriverCapabilities,
    sharing_notes,
    sharing_problems,
    unavailable,
)
from reconciler.core.spec import (
    Desired,
    DesiredUnit,
    Feature,
    PortSpec,
    UnitKey,
    User,
    ports_overlap,
    published,
)
from reconciler.core.values import LoadedValues, Node


@dataclass(frozen=True, slots=True)
class _Verdict:
    refusal: str | None = None
    notes: tuple[str, ...] = ()


def admit(
    compiled: Sequence[Compiled], config: BuildConfig, offered: frozenset[str] | None
) -> Desired:
    """The units that may run, the refused ones with why, and notes on what admitted ones give up.

    ``config.driver`` is the driver's declared capabilities; ``offered`` the
    runtimes the engine offers (None: not known, e.g. `validate` without a
    daemon, or only runc asked for); ``config.policy`` the security policy.
    """
    admitted: list[DesiredUnit] = []
    refused: list[tuple[UnitKey, str]] = []
    notes: list[tuple[UnitKey, str]] = []
    for candidate in compiled:
        unit = candidate.unit
        verdict = _static(candidate, config)
        refusal = verdict.refusal
        if refusal is None:
            refusal = next((c for u in admitted if (c := port_clash(unit, u)) is not None), None)
        if refusal is None:
            admitted.append(unit)
            notes.extend((unit.key, n) for n in (*verdict.notes, *map(str, candidate.notes)))
        else:
            refused.append((unit.key, refusal))
    # What the engine lacks refuses last: those units still hold their host ports.
    missing = {
        u.key: problems
        for u in admitted
        if offered is not None and (problems := unavailable(u.runtimes, offered, config.driver))
    }
    refused += [(key, "; ".join(problems)) for key, problems in missing.items()]
    order = {c.unit.key: i for i, c in enumerate(compiled)}
    return Desired(
        tuple(u for u in admitted if u.key not in missing),
        tuple(sorted(refused, key=lambda r: order[r[0]])),
        tuple((key, note) for key, note in notes if key not in missing),
        offered,
    )


def compile_and_admit(
    manifests: Sequence[LoadedManifest],
    config: BuildConfig,
    offered: frozenset[str] | None = None,
    values: Iterable[LoadedValues] = (),
) -> Desired:
    """Compile and admit in one step: for callers that have no engine to ask (tests, tools)."""
    return admit(compile_units(manifests, config, values), config, offered)


def _static(candidate: Compiled, config: BuildConfig) -> _Verdict:
    """Why the unit may not run whatever the engine holds (policy, mode, sharing, runtimes)."""
    unit, manifest = candidate.unit, candidate.manifest
    if candidate.problems:  # it reads what the source does not hold
        return _Verdict("; ".join(str(p) for p in candidate.problems))
    violations = policy_check(manifest, config.policy)
    if violations:
        return _Verdict(policy_refusal(violations, unit.source, config.policy))
    verdict = _Verdict()
    if isinstance(manifest, SandboxManifest):
        problem = _mode(unit.mode, candidate.asked_mode, config)
        if problem is not None:
            return _Verdict(problem)
    lacking = lacks(unit, config.driver)
    if lacking is not None:
        return _Verdict(lacking)
    oversized = exceeds(unit, config.node)
    if oversized is not None:
        return _Verdict(oversized)
    if isinstance(manifest, SandboxManifest):
        verdict = _capable(unit, config)
        if verdict.refusal is not None:
            return verdict
    allowed = config.allowed_runtimes
    if allowed is not None and unit.runtimes - allowed:
        return _Verdict(
            f"runtime(s) {', '.join(sorted(unit.runtimes - allowed))} "
            f"not allowed by the operator (allowedRuntimes: {', '.join(sorted(allowed)) or 'none'})"
        )
    return verdict


def _mode(mode: Mode, asked: Mode | None, config: BuildConfig) -> str | None:
    """Why a sandbox may not run in ``mode`` (``asked`` by its spec.mode, or the default)."""
    if mode not in config.driver.modes:
        return f"the {config.driver.name} driver cannot run mode {mode}"
    if asked is None:
        return None
    allowed = config.allowed_modes if config.allowed_modes is not None else {config.mode}
    if asked not in allowed:
        return (
            f"spec.mode {asked} is not allowed by the operator (allowedModes: "
            f"{', '.join(sorted(m.value for m in allowed))})"
        )
    return None


def _capable(unit: DesiredUnit, config: BuildConfig) -> _Verdict:
    """Why a sandbox cannot run as compiled (or None), and notes on what it gives up."""
    if unit.mode is Mode.STANDALONE or unit.infra is None:  # its one container owns them all
        if len(unit.members) != 1:
            return _Verdict(
                f"standalone mode runs a Sandbox with exactly one container, this one has "
                f"{len(unit.members)}: without an infra there is nothing for them to share "
                "(use --mode container-in-sandbox)"
            )
        return _Verdict()
    runtime = unit.infra.spec.runtime
    share = [Namespace(s) for s in unit.infra.spec.share]
    runtimes = [(m.name, m.spec.runtime) for m in unit.members]
    problems = sharing_problems(runtime, runtimes, share, config.driver.profiles)
    if problems:
        return _Verdict(
            "; ".join(problems) + "; what would work: share only what every runtime lends "
            "and joins (e.g. share: [network] with runsc), or run it standalone"
        )
    return _Verdict(notes=tuple(sharing_notes(runtime, runtimes, share, config.driver.profiles)))


def exceeds(unit: DesiredUnit, node: Node) -> str | None:
    """Why the unit's requests could never fit this host, as the scheduler computes a
    pod's: the larger of its running containers' sum and any one init container's.
    Kubernetes leaves such a pod Pending; here it is refused. Only against a host that
    was measured (tests and tools compile against stand-ins)."""
    if not node.measured:
        return None
    running = [m.spec for m in unit.running]
    once = [m.spec for m in unit.init if m.spec.role != L.ROLE_SIDECAR]
    too_much = []
    for what, request, allocatable, show in (
        ("cpu", lambda s: s.cpu_request or s.cpu_limit or 0, node.cpu_millis, _cores),
        ("memory", lambda s: s.memory_request or s.memory_limit or 0, node.memory_bytes, _bytes),
    ):
        asked = max([sum(map(request, running)), *map(request, once)])
        if asked > allocatable:
            too_much.append(f"requests.{what} {show(asked)} over this host's {show(allocatable)}")
    if not too_much:
        return None
    return (
        f"{'; '.join(too_much)}: it could never run here (Kubernetes leaves such a pod "
        "Pending: Insufficient resources)"
    )


def _cores(millis: int) -> str:
    return f"{millis / 1000:g} cores"


def _bytes(amount: int) -> str:
    return f"{amount / 2**30:.1f}Gi"


def lacks(unit: DesiredUnit, driver: DriverCapabilities) -> str | None:
    """Why the engine cannot run the unit as written: each field that asks for a feature
    the driver declares it lacks, with the driver's reason; None when it lacks none."""
    found = [
        f"{use.field}: {use.feature} is not supported by the {driver.name} driver: "
        f"{driver.lacks[use.feature]}"
        for use in unit.uses
        if use.feature in driver.lacks
    ]
    return "; ".join(found) if found else None


def facts_wanted(desired: Desired, only: UnitKey | None = None) -> FactsWanted:
    """What the engine must tell before the admitted units (``only``'s) may run: the users
    of the images of runAsNonRoot containers that set none (pulled, where they are, with
    the credentials of those containers' imagePullSecrets), and whether a writable
    layer can be size-limited, where the driver does not refuse that outright."""
    units = [u for u in desired.units if only is None or u.key == only]
    checked = [m for u in units for m in u.members if m.run_as_non_root and m.spec.user.uid is None]
    images = {m.spec.image: m.pull_policy for m in checked}
    # A pull here uses the credentials the container's own pull would (the first
    # unit's that has any, when units share an image).
    auth = {m.spec.image: m.pull_auth for m in reversed(checked) if m.pull_auth}
    storage = any(use.feature is Feature.STORAGE_LIMIT for u in units for use in u.uses)
    return FactsWanted(images, storage, auth)


def admit_facts(desired: Desired, facts: EngineFacts, dry_run: bool = False) -> Desired:
    """``desired`` with the units the engine's facts refuse moved to ``refused``: a
    runAsNonRoot container whose image runs as root, by a name or unknown (kubelet's
    check at container start, made here before anything of the unit is created),
    and a storage limit the engine cannot enforce. An image whose user could not be
    read refuses its unit, except in a dry run, which pulls nothing: there it is a note.
    """
    admitted: list[DesiredUnit] = []
    refused = list(desired.refused)
    notes = list(desired.notes)
    for unit in desired.units:
        problems: list[str] = []
        for member in unit.members:
            if not member.run_as_non_root or member.spec.user.uid is not None:
                continue
            image = member.spec.image
            if image in facts.unknown:
                why = (
                    f"container {member.name} has runAsNonRoot and the user of its image "
                    f"{image} cannot be read: {facts.unknown[image]}"
                )
                if dry_run:
                    notes.append((unit.key, f"{why} (checked when applied)"))
                else:
                    problems.append(why)
            elif image in facts.users:
                problem = non_root_problem(member.name, member.spec.user, facts.users[image])
                if problem is not None:
                    problems.append(problem)
        if facts.storage is not None:
            problems += [
                f"{use.field}: {facts.storage}"
                for use in unit.uses
                if use.feature is Feature.STORAGE_LIMIT
            ]
        if problems:
            refused.append((unit.key, "; ".join(problems)))
        else:
            admitted.append(unit)
    return Desired(tuple(admitted), tuple(refused), tuple(notes), desired.offered)


def non_root_problem(name: str, user: User, image_user: str) -> str | None:
    """Why a runAsNonRoot container must not start (kubelet's rule), or None.

    ``user`` is the container's own (unset: uid None); ``image_user`` the image's
    user ("" when it sets none), which counts when ``user`` has no uid. Root, an
    unset user and a user name (which could map to uid 0) are refused.
    """
    if user.uid is not None:
        if user.uid == 0:
            return f"container {name} has runAsNonRoot and its runAsUser is root (uid 0)"
        return None
    uid = image_user.split(":", 1)[0]
    source = f"its image's user ({image_user or 'unset: root'})"
    if not uid:
        return f"container {name} has runAsNonRoot and its image runs as root (no USER set)"
    if not uid.isdigit():
        return (
            f"container {name} has runAsNonRoot and {source} is not numeric, so it cannot be "
            "verified to be non-root (set runAsUser)"
        )
    if int(uid) == 0:
        return f"container {name} has runAsNonRoot and {source} is root (uid 0)"
    return None


def port_clash(unit: DesiredUnit, other: DesiredUnit) -> str | None:
    """Why ``unit`` cannot publish its ports beside ``other`` (admitted before it), or None."""
    for mine in published(unit):
        for theirs in published(other):
            assert theirs.host_port is not None
            if ports_overlap(mine, theirs.host_ip, theirs.host_port, theirs.protocol):
                return (
                    f"host port {_binding(mine)} ({unit.source}) is also published by "
                    f"{other.key} ({other.source}); one host port takes one unit"
                )
    return None


def _binding(port: PortSpec) -> str:
    return f"{port.host_ip or '0.0.0.0'}:{port.host_port}/{port.protocol}"


__all__ = ["admit", "compile_and_admit", "lacks", "non_root_problem", "port_clash"]
