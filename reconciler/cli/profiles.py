"""The operator's seccomp profile directory, read for the compile step (core/seccomp.py).
Reads files.

Every regular file under the directory (``--seccomp-profile-dir``), by its path
relative to it, is read when a command builds its configuration: the core
then takes a Localhost profile's text without doing I/O. A file over
``MAX_BYTES`` or that cannot be read is kept as why, for the refusal of a unit
that names it; a missing directory gives no profiles, and says so. `run` and
`sync` read it when they start: a profile added or changed later counts once
they are restarted.
"""

from __future__ import annotations

import os
from pathlib import Path

from reconciler.core.seccomp import SeccompProfiles

MAX_BYTES = 1 << 20  # a seccomp profile is tens of KiB (Docker's default: ~30 KiB)
MAX_FILES = 1000


def read_profiles(directory: str) -> SeccompProfiles:
    """What ``directory`` holds, as ``SeccompProfiles`` (its path made absolute)."""
    root = Path(os.path.abspath(directory))
    if not root.is_dir():
        why = "the directory does not exist" if not root.exists() else "it is not a directory"
        return SeccompProfiles(str(root), problem=f"{root}: {why}")
    texts: list[tuple[str, str]] = []
    unreadable: list[tuple[str, str]] = []
    for folder, _, names in os.walk(root):
        for name in sorted(names):
            path = Path(folder) / name
            relative = path.relative_to(root).as_posix()
            if len(texts) + len(unreadable) >= MAX_FILES:
                return SeccompProfiles(
                    str(root), tuple(texts), tuple(unreadable), f"read only {MAX_FILES} files"
                )
            try:
                if not path.is_file() or path.stat().st_size > MAX_BYTES:
                    unreadable.append(
                        (relative, f"not a regular file of at most {MAX_BYTES} bytes")
                    )
                    continue
                texts.append((relative, path.read_text(encoding="utf-8")))
            except (OSError, UnicodeDecodeError) as exc:
                unreadable.append((relative, f"cannot read it: {exc}"))
    return SeccompProfiles(str(root), tuple(texts), tuple(unreadable))


__all__ = ["MAX_BYTES", "read_profiles"]
