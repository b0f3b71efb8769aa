"""The mirror's SQLite record: kept current by mirror, rebuilt from the tree, feeding the root index."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from fakepypi import FakePyPI, make_wheel

from .helpers import install_backends, mirror_dir, read, record_rows, run, tree


def index_rows(root: Path) -> tuple[set[tuple[object, ...]], set[tuple[object, ...]]]:
    """(projects without the sync time, files) as stored in frumious.sqlite."""
    return record_rows(root)


def expected_files(pypi: FakePyPI) -> set[tuple[object, ...]]:
    rows = set()
    for project in pypi.index.projects():
        for f in project.files():
            key = "web" + f.path
            uploaded = f.upload_time.timestamp()
            digest = f.artifact.digests["sha256"]
            rows.add((key, project.canonical, f.version, f.artifact.size, "sha256", digest, uploaded, 0))
            if f.core_metadata:
                sidecar = f.core_metadata["sha256"]
                rows.add((key + ".metadata", project.canonical, f.version, None, "sha256", sidecar, uploaded, 1))
    return rows


def test_mirror_records_every_project_and_file(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    projects, files = index_rows(root)
    assert projects == {(p.canonical, p.name, p.last_serial, 1) for p in fake_pypi.index.projects()}
    assert files == expected_files(fake_pypi)
    assert not (root / "frumious.sqlite-wal").exists()  # closed cleanly: the WAL is folded in


def test_root_index_comes_from_the_index_with_per_project_serials(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    page = json.loads(read(root, "web/simple/index.v1_json"))
    assert page["meta"]["_last-serial"] == fake_pypi.index.serial
    assert page["projects"] == [
        {"name": p.canonical, "_last-serial": p.last_serial}
        for p in sorted(fake_pypi.index.projects(), key=lambda p: p.canonical)
    ]
    # A stray directory is not a project: the root lists what the index holds.
    (root / "web/simple/not-a-project").mkdir()
    fake_pypi.index.add("dep-lib", "0.2", make_wheel("dep-lib", "0.2"))
    assert run(config, "mirror") == 0
    assert "not-a-project" not in read(root, "web/simple/index.html")


def test_index_follows_file_and_project_removals(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi, max_delete_share=0.5, confirm_removal_after=0)
    assert run(config, "mirror") == 0
    fake_pypi.index.remove_file("foo-bar", "foo_bar-1.0.tar.gz")
    fake_pypi.index.remove_project("yanky")
    # A project leaves on the second run that confirms its absence.
    assert run(config, "mirror") == 0
    assert run(config, "mirror") == 0
    projects, files = index_rows(mirror_dir(config))
    assert {p[0] for p in projects} == {"foo-bar", "dep-lib"}
    assert files == expected_files(fake_pypi)


@pytest.mark.parametrize(
    "keys",
    [{}, {"json": True}, {"hash_index": True, "simple_format": "JSON"}, {"simple_format": "HTML", "json": True}],
    ids=["default", "json", "hash-index-json-pages", "html-pages+json"],
)
def test_a_lost_index_is_rebuilt_from_the_tree_with_the_same_rows(fake_pypi, make_config, tmp_path, keys) -> None:
    config = make_config(tmp_path, fake_pypi, **keys)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    made_by_sync = index_rows(root)
    (root / "frumious.sqlite").unlink()
    fake_pypi.reset_log()
    assert run(config, "mirror") == 0
    assert fake_pypi.downloads == []
    projects, files = index_rows(root)
    assert files == made_by_sync[1]
    if keys.get("simple_format") == "JSON" and not keys.get("json"):
        # Nothing in the tree holds the display name: the canonical name stands in for it.
        made_by_sync = ({(name, name, serial, parsed) for name, _, serial, parsed in made_by_sync[0]}, files)
    assert projects == made_by_sync[0]


def test_html_only_pages_rebuild_the_same_record(fake_pypi, make_config, tmp_path) -> None:
    # The HTML pages carry data-size and data-upload-time (PEP 700, as uv reads them), so a record
    # rebuilt from them alone loses nothing.
    config = make_config(tmp_path, fake_pypi, simple_format="HTML")
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    projects, files = index_rows(root)
    (root / "frumious.sqlite").unlink()
    assert run(config, "reindex") == 0
    rebuilt_projects, rebuilt = index_rows(root)
    assert rebuilt_projects == projects
    assert set(files) == set(rebuilt)
    assert any(size is not None for *_, size, _a, _d, _u, _m in rebuilt)


def test_a_tree_changed_by_another_tool_is_reindexed(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi, max_delete_share=0.5)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    # As if bandersnatch had run: a project gone from the tree, web/last-modified rewritten.
    for page in (root / "web/simple/yanky").iterdir():
        page.unlink()
    (root / "web/simple/yanky").rmdir()
    (root / "web/last-modified").write_text("20300101T00:00:00\n")
    fake_pypi.index.add("dep-lib", "0.2", make_wheel("dep-lib", "0.2"))
    capsys.readouterr()
    assert run(config, "mirror") == 0
    assert "the tree was synced by another tool" in capsys.readouterr().err
    projects, _files = index_rows(root)
    assert {p[0] for p in projects} == {"foo-bar", "dep-lib"}
    assert "yanky" not in read(root, "web/simple/index.html")


def test_an_unclean_close_leads_to_a_rebuild(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    with closing(sqlite3.connect(root / "frumious.sqlite")) as db, db:
        db.execute("UPDATE meta SET value = '1' WHERE key = 'open'")
    capsys.readouterr()
    assert run(config, "mirror") == 0
    assert "did not close the record cleanly" in capsys.readouterr().err


def test_object_stores_keep_a_cached_copy_and_upload_it(fake_pypi, make_config, tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    # An object store as the core sees it: a tree without local paths, chosen by config as any backend is.
    install_backends(tmp_path / "site", monkeypatch, pathless="frumious.testing.fsvariants:PathlessStore")
    config = make_config(tmp_path, fake_pypi, storage_backend="pathless")
    root = mirror_dir(config)
    assert run(config, "mirror") == 0
    cached = list((tmp_path / "cache" / "frumious").glob("*.sqlite"))
    assert len(cached) == 1
    assert (root / "frumious.sqlite").read_bytes() == cached[0].read_bytes()
    token = read(root, ".frumious/index-token")
    assert token != "in-use"
    uploaded = index_rows(root)
    assert uploaded[1] == expected_files(fake_pypi)

    # Another machine: no cached copy, so the store's copy is fetched, not rebuilt.
    cached[0].unlink()
    capsys.readouterr()
    assert run(config, "verify") == 0
    err = capsys.readouterr().err
    assert "Fetched the mirror's record" in err and "Rebuilding the mirror's record" not in err
    assert read(root, ".frumious/index-token") == token  # nothing changed, nothing uploaded
    fake_pypi.index.add("dep-lib", "0.2", make_wheel("dep-lib", "0.2"))
    assert run(config, "mirror") == 0
    assert read(root, ".frumious/index-token") != token  # changed: uploaded
    assert index_rows(root)[1] == expected_files(fake_pypi)

    # A command that died before uploading leaves "in-use": the next one rebuilds.
    (root / ".frumious/index-token").write_text("in-use")
    capsys.readouterr()
    assert run(config, "mirror") == 0
    assert "did not close the record cleanly" in capsys.readouterr().err
    assert "frumious.sqlite" in tree(root)


def test_an_unusable_index_file_is_set_aside_and_rebuilt(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    (root / "frumious.sqlite").write_bytes(b"garbage" * 1000)
    assert run(config, "verify") == 0
    assert "moving it to" in capsys.readouterr().err
    assert (root / "frumious.sqlite.unusable").exists()
    assert index_rows(root)[1] == expected_files(fake_pypi)
