"""A sync makes no system call it knows will fail (issue 12, item 5).

Counted by wrapping ``os`` in this process: a new release file's directory is made before its
rename (no failed rename, no failed mkdir of a leaf inside a new bucket), and a project the
record has never seen gets no stat per file and no read of pages it cannot have.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fakepypi import make_wheel
from frumious.errors import ObjectMissing
from frumious.storage.filesystem import FilesystemStore

from .helpers import mirror_dir, packages, run


def per_project(path: str) -> bool:
    """Under a project's part of the tree (not ``web/packages`` itself, made or checked once a run)."""
    return path.startswith(("packages/", "simple/", "json/", "pypi/"))


def count_failures(monkeypatch: pytest.MonkeyPatch, root: Path) -> Counter[str]:
    """Failed os.mkdir/os.replace/os.stat and page reads in projects' parts of ``root/web``, by call and path."""
    failed: Counter[str] = Counter()
    web = f"{root}/web/"

    def counting(name: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return real(*args, **kwargs)
            except OSError:
                path = os.fspath(args[1] if name == "replace" else args[0])
                if path.startswith(web) and per_project(path[len(web) :]):
                    failed[f"{name} {path[len(web) :]}"] += 1
                raise

        return call

    for name in ("mkdir", "replace", "stat"):
        monkeypatch.setattr(os, name, counting(name, getattr(os, name)))
    read = FilesystemStore.read

    async def counted_read(self: FilesystemStore, key: str) -> bytes:
        try:
            return await read(self, key)
        except ObjectMissing:
            if key.startswith("web/") and per_project(key[4:]):  # not the state files, each read once a run
                failed[f"read {key[4:]}"] += 1
            raise

    monkeypatch.setattr(FilesystemStore, "read", counted_read)
    return failed


def test_a_full_sync_makes_no_call_known_to_fail(fake_pypi, make_config, tmp_path, monkeypatch) -> None:
    config = make_config(tmp_path, fake_pypi)
    failed = count_failures(monkeypatch, mirror_dir(config))
    assert run(config, "mirror") == 0
    assert len(packages(mirror_dir(config))) >= 7  # files and .metadata sidecars, each in a new directory
    # Nor a failed rename of a new project's first page: its directory is made first (write_alike's new_dir).
    assert failed == {}


def test_a_new_release_of_a_known_project_makes_its_directory_first(
    fake_pypi, make_config, tmp_path, monkeypatch
) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    fake_pypi.index.add("yanky", "1.2", make_wheel("yanky", "1.2"))
    failed = count_failures(monkeypatch, mirror_dir(config))
    assert run(config, "mirror") == 0
    assert "yanky-1.2-py3-none-any.whl" in packages(mirror_dir(config))
    # The record knows yanky, so its new file is still looked for once (a stat) before the download.
    assert {kind: n for kind, n in failed.items() if not kind.startswith("stat")} == {}
