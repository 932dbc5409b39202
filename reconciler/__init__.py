"""reconciler: keep sandboxed containers on a Docker host as YAML manifests describe them.

The pure core (``models``, ``hashing``, ``observed``, ``actions``, ``planner``)
takes values and returns values; the imperative shell (``manifests``,
``drivers``, ``executor``, ``cli``) does the I/O around it.
"""

__version__ = "0.1.0"
