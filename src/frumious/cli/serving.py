"""``frumious serve``: the server processes, each opening the store this module hands them.

Apart from ``compose`` so that serving does not import the sync core, the upstream and the filters
(a third of serve's start-up CPU; benchmarks/README.md, "Issue 12 (session 5): startup").
"""

from __future__ import annotations

import os

from frumious.errors import ServeError
from frumious.settings import Settings
from frumious.storage import open_store


def run_serve(settings: Settings, host: str, port: int, root_path: str, workers: int) -> int:
    """``frumious serve``: the server processes, each opening the store this root builds."""
    from frumious.serve.workers import serve_main  # aiohttp loads only for ``serve``

    directory = settings.mirror.directory
    if settings.mirror.storage_backend == "filesystem" and not os.path.isdir(directory):
        # Serving an empty answer for every page would look like a broken index to pip.
        raise ServeError(f"there is no mirror at {directory}: run frumious mirror first, or fix [mirror] directory")
    return serve_main(settings, host, port, root_path, workers, open_store=open_store)
