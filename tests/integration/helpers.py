"""Helpers for whole-command tests: run the CLI in-process and look at the tree."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from frumious.cli import main
from frumious.record.db import MirrorRecord
from frumious.storage import ENTRY_POINT_GROUP

if TYPE_CHECKING:
    from fakepypi import FakePyPI


def run(config: Path, *args: str) -> int:
    """Run ``frumious -c config ARGS`` in this process and return its exit code."""
    return main(["-c", str(config), *args])


def mirror_dir(config: Path) -> Path:
    return config.parent / "mirror"


def tree(root: Path) -> set[str]:
    """Every file and symlink under ``root``, as posix paths relative to it."""
    found = set()
    for top, dirs, files in os.walk(root):
        for name in files + [d for d in dirs if (Path(top) / d).is_symlink()]:
            found.add((Path(top) / name).relative_to(root).as_posix())
    return found


def temp_files(root: Path) -> list[str]:
    """Leftover temp files (dot-prefixed names under web/)."""
    return sorted(p for p in tree(root) if Path(p).name.startswith(".") and p.startswith("web/"))


def packages(root: Path) -> set[str]:
    return {Path(p).name for p in tree(root / "web" / "packages")} if (root / "web" / "packages").exists() else set()


def read(root: Path, key: str) -> str:
    return (root / key).read_text(encoding="utf-8")


def failed_names(root: Path) -> set[str]:
    """The projects a finished run carried by name to the next (``.frumious/failed``)."""
    path = root / ".frumious" / "failed"
    return {line.split()[0] for line in path.read_text().splitlines()} if path.exists() else set()


def install_backends(site: Path, monkeypatch: pytest.MonkeyPatch, **backends: str) -> None:
    """A distribution on sys.path whose ``frumious.storage.v1`` entry points name ``backends`` (name -> module:attr)."""
    info = site / "frumious_extra_backend-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: frumious-extra-backend\nVersion: 1.0\n")
    lines = "".join(f"{name} = {target}\n" for name, target in backends.items())
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{lines}")
    monkeypatch.syspath_prepend(str(site))


def first_page(server: subprocess.Popen[Any], port: int, name: str, limit: float = 30.0) -> Any:
    """A project's PEP 691 page from a ``frumious serve`` just started, once it answers."""
    deadline = time.monotonic() + limit
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/simple/{name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
    )
    while True:
        try:
            with urllib.request.urlopen(request, timeout=2) as response:
                return json.loads(response.read())
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                raise
            time.sleep(0.2)


def record_rows(root: Path) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    """(projects as (name, display, serial, parsed), files as StoredFile's first eight fields) in frumious.sqlite."""
    record = MirrorRecord(str(root / "frumious.sqlite"))
    try:
        projects = {(p.name, p.display, p.serial, int(p.parsed)) for p in record.projects()}
        files = {
            (f.key, f.project, f.version, f.size, f.algorithm, f.digest, f.uploaded, int(f.metadata))
            for p in projects
            for f in record.files(p[0])
        }
    finally:
        record.close()
    return projects, files


def require(path: str, why: str) -> None:
    """Skip when a tool is missing; in CI (``CI=true``) its absence is a failure."""
    if os.access(path, os.X_OK):
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(why)
    pytest.skip(why)


def unit_settings(path: Path) -> dict[str, list[str]]:
    """A systemd unit file's settings: key -> every value it is given."""
    settings: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def assert_mirrored_whole(pypi: FakePyPI, config: Path) -> None:
    """Every file of the fake index (and each advertised .metadata) stored with its exact bytes, no temp
    file left, no project failed, and the status at the index's serial."""
    root = mirror_dir(config)
    for fake in pypi.index.all_files():
        stored = root / "web" / fake.path.lstrip("/")
        assert stored.read_bytes() == fake.artifact.content, fake.filename
        if fake.core_metadata and fake.artifact.metadata is not None:
            assert stored.with_name(stored.name + ".metadata").read_bytes() == fake.artifact.metadata
    assert temp_files(root) == [] and failed_names(root) == set()
    assert read(root, "status") == str(pypi.index.serial)
