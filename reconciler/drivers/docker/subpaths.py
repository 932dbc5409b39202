"""subPath on Docker 20.10: its Engine API has no volume subpath (API 1.45 does), so a
mount of part of a volume or host path is a bind mount of that part. Does I/O."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from reconciler.core.errors import UntranslatableSpec
from reconciler.core.spec import DesiredMember, MountSpec
from reconciler.drivers.projection import inside


def resolve_sub_paths(member: DesiredMember, mountpoint: Callable[[str], Path]) -> DesiredMember:
    """``member`` with each subPath mount made a bind of its host path, created when it is
    missing in an emptyDir (as kubelet does); ``mountpoint(name)`` is a volume's."""
    if not any(m.sub_path for m in member.spec.mounts):
        return member
    mounts = tuple(_resolved(m, mountpoint) if m.sub_path else m for m in member.spec.mounts)
    return replace(member, spec=replace(member.spec, mounts=mounts))


def _resolved(mount: MountSpec, mountpoint: Callable[[str], Path]) -> MountSpec:
    if mount.type == "tmpfs":
        raise UntranslatableSpec(f"the mount at {mount.target}: subPath of a memory emptyDir")
    root = Path(mount.source) if mount.type == "bind" else mountpoint(mount.source)
    try:
        target = inside(root, mount.sub_path)
    except ValueError as exc:
        raise UntranslatableSpec(f"the mount at {mount.target}: {exc}") from None
    if mount.type == "volume" and not mount.content and not target.exists():
        target.mkdir(parents=True, mode=0o755)  # an emptyDir's subPath, made on first use
    return replace(mount, type="bind", source=str(target), sub_path="", must_exist=True)
