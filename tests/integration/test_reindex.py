"""`frumious reindex`: the index rebuilt from the tree alone, for frumious and bandersnatch trees."""

from __future__ import annotations

import shutil
from pathlib import Path

import filelock
import pytest

from fakepypi import FakeIndex, default_index, make_sdist, make_wheel

from .bandersnatch_venv import BandersnatchUnavailable, ensure_bandersnatch, run_bandersnatch
from .helpers import mirror_dir, record_rows, run, tree


def rows(root: Path) -> tuple[set[tuple[object, ...]], set[tuple[object, ...]]]:
    """(projects without the sync time, files) as stored in frumious.sqlite."""
    return record_rows(root)


def as_bandersnatch_left_it(root: Path) -> None:
    """What frumious adds to a bandersnatch tree, taken away again."""
    for name in ("frumious.sqlite", "frumious.sqlite-wal", "frumious.sqlite-shm"):
        (root / name).unlink(missing_ok=True)
    shutil.rmtree(root / ".frumious", ignore_errors=True)


@pytest.fixture
def fake_index() -> FakeIndex:
    index = default_index()
    index.add("Zed_Thing", "1.10", make_wheel("Zed_Thing", "1.10"), make_sdist("Zed_Thing", "1.10"))
    return index


@pytest.mark.parametrize(
    "keys",
    [{}, {"json": True, "hash_index": True}, {"keep_index_versions": 2}, {"root_uri": "https://mirror.example"}],
    ids=["default", "json+hash-index", "versions", "root-uri"],
)
def test_reindex_reproduces_the_rows_sync_wrote(fake_pypi, make_config, tmp_path, keys) -> None:
    config = make_config(tmp_path, fake_pypi, **keys)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    written = rows(root)
    as_bandersnatch_left_it(root)
    before = {p: (root / p).read_bytes() for p in tree(root)}
    fake_pypi.reset_log()
    assert run(config, "reindex") == 0
    assert fake_pypi.requests == []
    assert rows(root) == written
    assert {p: (root / p).read_bytes() for p in tree(root) if not p.startswith("frumious.sqlite")} == before


def test_unreadable_pages_are_named_and_fail_the_reindex(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    for page in ("index.html", "index.v1_json"):
        (root / "web/simple/yanky" / page).write_bytes(b"\xff not a page")
    assert run(config, "reindex") == 1
    assert "  yanky" in capsys.readouterr().out
    projects, files = rows(root)
    assert ("yanky", "yanky", 0, 0) in projects
    assert not any(row[1] == "yanky" for row in files)


def test_reindex_holds_the_lock(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi)
    root = mirror_dir(config)
    root.mkdir()
    with filelock.FileLock(str(root / ".lock")):
        assert run(config, "reindex") == 1
    assert "another run holds" in capsys.readouterr().err


@pytest.fixture(scope="session")
def bandersnatch() -> Path:
    try:
        return ensure_bandersnatch()
    except BandersnatchUnavailable as exc:
        pytest.fail(f"could not install bandersnatch 6.8.0:\n{exc}", pytrace=False)


@pytest.mark.slow
@pytest.mark.parametrize("keys", [{"json": True}, {}, {"hash_index": True}], ids=["json", "pages-only", "hash-index"])
def test_reindex_of_a_bandersnatch_tree_matches_a_frumious_tree(
    bandersnatch, fake_pypi, make_config, tmp_path, keys
) -> None:
    # bandersnatch 6.8.0 knows nothing of PEP 658, so compare with a frumious run without sidecars.
    keys = {**keys, "core_metadata": False}
    (tmp_path / "bs").mkdir()
    (tmp_path / "fr").mkdir()
    bs_config = make_config(tmp_path / "bs", fake_pypi, **keys)
    fr_config = make_config(tmp_path / "fr", fake_pypi, **keys)
    done = run_bandersnatch(bandersnatch, bs_config, "mirror")
    assert done.returncode == 0, done.stderr[-3000:]
    assert run(fr_config, "mirror") == 0
    bs_root = mirror_dir(bs_config)
    assert not (bs_root / "frumious.sqlite").exists()
    fake_pypi.reset_log()
    assert run(bs_config, "reindex") == 0
    assert fake_pypi.requests == []
    expected = rows(mirror_dir(fr_config))
    assert len(expected[0]) == 4 and len(expected[1]) == len(fake_pypi.index.all_files())
    assert rows(bs_root) == expected
