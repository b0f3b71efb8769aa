"""docs/storage.md's backend guide is the code: its example is frumious.testing.memstore, verbatim,
and what it says is required is what ``Store`` requires."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import EntryPoint
from pathlib import Path

from frumious import storage
from frumious.storage import ENTRY_POINT_GROUP, LocalPaths, Store, local_path, local_paths
from frumious.storage.filesystem import FilesystemStore
from frumious.testing import memstore
from frumious.testing.memstore import MemoryStore

DOC = Path(__file__).resolve().parents[2] / "docs" / "storage.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.MULTILINE | re.DOTALL)
REQUIRED = {"from_settings", "read", "writer", "stat", "set_meta", "delete", "walk", "lock"}


def guide() -> str:
    return DOC.read_text().partition("## Writing a backend")[2]


def blocks(language: str) -> list[str]:
    return [m.group(2) for m in FENCE.finditer(guide()) if m.group(1) == language]


def test_the_guide_shows_memstore_as_it_is() -> None:
    assert blocks("python") == [Path(memstore.__file__).read_text()]


def test_the_guide_table_lists_exactly_the_abstract_verbs() -> None:
    assert Store.__abstractmethods__ == REQUIRED
    table = {m.group(1) for m in re.finditer(r"^\| `(\w+)\(", guide(), re.MULTILINE)}
    assert table == REQUIRED


def test_memstore_implements_only_the_required_verbs() -> None:
    own = {name for name, value in vars(MemoryStore).items() if callable(value) or isinstance(value, classmethod)}
    assert own - {"__init__"} == REQUIRED


def test_the_guide_registration_loads_a_store() -> None:
    (toml,) = blocks("toml")
    entries = tomllib.loads(toml)["project"]["entry-points"][ENTRY_POINT_GROUP]
    for name, value in entries.items():
        loaded = EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP).load()
        assert issubclass(loaded, Store)


def test_pyproject_registers_the_builtin_backends_as_the_code_does() -> None:
    pyproject = tomllib.loads((DOC.parents[1] / "pyproject.toml").read_text())
    assert pyproject["project"]["entry-points"][ENTRY_POINT_GROUP] == storage.BUILTIN_BACKENDS


def test_local_paths_is_a_capability(tmp_path: Path) -> None:
    disk, memory = FilesystemStore(str(tmp_path)), MemoryStore()
    assert isinstance(disk, LocalPaths) and local_paths(disk) is disk
    assert local_path(disk, "web/simple") == f"{tmp_path}/web/simple"
    assert local_paths(memory) is None and local_path(memory, "web/simple") is None
    assert not hasattr(Store, "local_path")
