"""Storage backends from the frumious.storage.v1 entry-point group, as an installed distribution adds them."""

from __future__ import annotations

import uuid

import pytest

from frumious.config import STORAGE_ENTRY_POINT_GROUP
from frumious.storage import ENTRY_POINT_GROUP, backend_names
from frumious.testing.memstore import VOLUMES

from .helpers import install_backends as install
from .helpers import mirror_dir, run


def test_config_and_storage_name_the_same_group() -> None:
    assert STORAGE_ENTRY_POINT_GROUP == ENTRY_POINT_GROUP


def test_an_installed_backend_is_what_mirror_writes_to(fake_pypi, make_config, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    install(tmp_path / "site", monkeypatch, memory="frumious.testing.memstore:MemoryStore")
    assert "memory" in backend_names()
    volume = f"test-{uuid.uuid4().hex}"
    config = make_config(tmp_path, fake_pypi, storage_backend="memory", sections={"memory": {"volume": volume}})
    try:
        assert run(config, "mirror") == 0
        objects = VOLUMES[volume].objects
        assert "web/simple/index.html" in objects
        assert objects["status"].data.strip().isdigit()
        packages = [key for key in objects if key.startswith("web/packages/")]
        assert len(packages) >= len(list(fake_pypi.index.projects()))
        assert not mirror_dir(config).exists()  # nothing went to the directory
        assert not VOLUMES[volume].locks  # released at the end
        # A second run continues the same volume: nothing left to do, nothing removed.
        before = dict(objects)
        assert run(config, "mirror") == 0
        assert {k: v.data for k, v in objects.items() if k.startswith("web/packages/")} == {
            k: v.data for k, v in before.items() if k.startswith("web/packages/")
        }
    finally:
        VOLUMES.pop(volume, None)


def test_an_unknown_backend_is_a_config_error(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi, storage_backend="memory")
    assert run(config, "mirror") == 2
    err = capsys.readouterr().err
    assert "[mirror] storage-backend:" in err and "filesystem, s3, swift" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("target", "fragment"),
    [("no_such_module_q:Store", "failed to load"), ("frumious.testing.memstore:Volume", "not a Store subclass")],
)
def test_a_broken_backend_is_one_config_error(fake_pypi, make_config, tmp_path, monkeypatch, capsys, target, fragment):
    install(tmp_path / "site", monkeypatch, broken=target)
    config = make_config(tmp_path, fake_pypi, storage_backend="broken")
    assert run(config, "mirror") == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "storage-backend" in line]
    assert len(lines) == 1 and fragment in lines[0], err
    assert "Traceback" not in err
