"""How much disk a directory tree takes, as ``du -sx`` counts it. Does file I/O (reads only).

kubelet measures an emptyDir's usage the same way (``du``, where no project
quota serves): the blocks every entry holds (``st_blocks`` times 512, so a sparse
file counts what it holds, not its length), the directories' own included,
symbolic links not followed, a file with several hard links counted once, and
nothing below a mount point of another file system. What the containers
change while the walk runs is counted as the walk finds it: an entry gone
meanwhile counts nothing. A directory the walk may not read (a container's
user made it private, and the loop runs without CAP_DAC_READ_SEARCH) counts
its own blocks only, and is counted in ``Usage.unreadable``.

The walk stops as soon as the count exceeds ``stop_above``: deciding that a
volume is over its limit never costs more than reading entries worth that
limit, however large the volume has grown.
"""

from __future__ import annotations

import os
import stat
from typing import NamedTuple

BLOCK = 512  # st_blocks is in 512-byte units, whatever the file system's block size


class Usage(NamedTuple):
    bytes: int
    unreadable: int = 0  # directories not read (their own blocks are counted, not more)


def usage(path: str, stop_above: int | None = None) -> Usage:
    """Bytes the tree at ``path`` takes on disk; once the count exceeds ``stop_above``
    it is returned as it is then (more than ``stop_above``, less than the whole).
    Raises OSError when ``path`` itself cannot be read (gone, not permitted)."""
    root = os.lstat(path)
    total = root.st_blocks * BLOCK
    if not stat.S_ISDIR(root.st_mode):
        return Usage(total)
    device = root.st_dev
    linked: set[int] = set()  # inodes with several links, counted once
    unreadable = 0
    pending = [path]
    while pending:
        try:
            entries = os.scandir(pending.pop())
        except PermissionError:
            unreadable += 1
            continue
        except OSError:  # gone meanwhile
            continue
        with entries:
            for entry in entries:
                try:
                    found = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if found.st_dev != device:
                    continue  # a mount point: another file system's (du -x)
                directory = stat.S_ISDIR(found.st_mode)
                if found.st_nlink > 1 and not directory:
                    if found.st_ino in linked:
                        continue
                    linked.add(found.st_ino)
                total += found.st_blocks * BLOCK
                if stop_above is not None and total > stop_above:
                    return Usage(total, unreadable)
                if directory:
                    pending.append(entry.path)
    return Usage(total, unreadable)


__all__ = ["BLOCK", "Usage", "usage"]
