"""Writing a volume of files (configMap, secret, downwardAPI, projected) into a host
directory, as kubelet's atomic writer does. Does I/O.

The files go into a new hidden directory (``..<time>.<random>``); ``..data``
is a symlink to it, swapped in one rename; each top-level name is a symlink
through ``..data``. A container reading the volume sees the old set or the
new one, never half of each. Both engines' drivers use it: Docker writes into
a volume's mount point, CRI into the unit's volume directory.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import time
from collections.abc import Iterable
from pathlib import Path

from reconciler.core.spec import ProjectedFile

DATA = "..data"


def write_files(root: Path, files: Iterable[ProjectedFile], group: int | None = None) -> None:
    """Make ``root`` hold exactly ``files``; with ``group`` (fsGroup) they are
    root:group and group-readable, as kubelet makes them."""
    files = list(files)
    if _holds(root, files):
        # The same set again (another container of the unit is being created): kept, so a
        # subPath bind of one of its files (drivers resolve the symlinks) stays valid.
        return
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)  # the volume's root, as the container sees it
    stamp = root / f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{secrets.token_hex(4)}"
    stamp.mkdir(mode=0o755)
    for file in files:
        target = stamp / file.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(file.content, encoding="utf-8")
        mode = file.mode | (0o040 if group is not None else 0)
        os.chmod(target, mode)
        if group is not None:
            os.chown(target, 0, group)
    link = root / f"{DATA}_tmp"
    with contextlib.suppress(FileNotFoundError):
        link.unlink()
    link.symlink_to(stamp.name)
    os.replace(link, root / DATA)
    names = {file.path.split("/", 1)[0] for file in files}
    for name in names:
        entry = root / name
        if not entry.is_symlink():
            entry.symlink_to(f"{DATA}/{name}")
    for entry in root.iterdir():  # what the previous set held and this one does not
        if entry.name.startswith(".."):
            if entry.name not in (DATA, stamp.name) and entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
        elif entry.is_symlink() and entry.name not in names:
            entry.unlink()


def _holds(root: Path, files: list[ProjectedFile]) -> bool:
    """Whether ``root`` holds exactly ``files`` through its ``..data``."""
    data = root / DATA
    if not data.is_symlink():
        return False
    present = {p.relative_to(data).as_posix() for p in data.rglob("*") if p.is_file()}
    if present != {f.path for f in files}:
        return False
    for file in files:
        path = data / file.path
        if (
            path.read_text(encoding="utf-8") != file.content
            or (path.stat().st_mode & 0o777) & ~0o040 != file.mode & ~0o040
        ):
            return False
    return True


def inside(root: Path, sub_path: str) -> Path:
    """``root/sub_path`` with symlinks resolved, refused if it leads out of ``root`` (as
    kubelet refuses a subPath that escapes its volume)."""
    real_root = root.resolve()
    target = (root / sub_path).resolve()
    if target != real_root and real_root not in target.parents:
        raise ValueError(f"subPath {sub_path!r} leads out of its volume")
    return target
