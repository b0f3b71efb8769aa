"""`frumious verify`: check every indexed file, repair what is bad, delete orphans, resume."""

from __future__ import annotations

import os
import sqlite3
from contextlib import closing
from pathlib import Path

import pytest

from fakepypi import FakePyPI

from .helpers import install_backends, mirror_dir, read, run, tree

FOO_WHEEL = "foo_bar-1.0-py3-none-any.whl"
DEP_WHEEL = "dep_lib-0.1-py3-none-any.whl"
YANKY_WHEEL = "yanky-1.1-py3-none-any.whl"


def stored(root: Path, pypi: FakePyPI, name: str, filename: str) -> Path:
    return root / "web" / pypi.file_path(name, filename).lstrip("/")


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file of the tree but the index: bytes and mtime."""
    found = {}
    for rel in tree(root):
        if not rel.startswith("frumious.sqlite"):
            path = root / rel
            found[rel] = (path.read_bytes(), path.stat().st_mtime_ns)
    return found


def damage(root: Path, pypi: FakePyPI) -> dict[str, Path]:
    """A truncated wheel, a flipped byte, a missing .metadata (mtimes kept, so stat mode is fooled too)."""
    truncated = stored(root, pypi, "foo-bar", FOO_WHEEL)
    flipped = stored(root, pypi, "dep-lib", DEP_WHEEL)
    sidecar = Path(str(stored(root, pypi, "yanky", YANKY_WHEEL)) + ".metadata")
    for path, change in ((truncated, lambda b: b[:10]), (flipped, lambda b: bytes([b[0] ^ 1]) + b[1:])):
        stat = path.stat()
        path.write_bytes(change(path.read_bytes()))
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    sidecar.unlink()
    return {"truncated": truncated, "flipped": flipped, "sidecar": sidecar}


def test_a_healthy_mirror_verifies_without_a_request(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    before = snapshot(mirror_dir(config))
    fake_pypi.reset_log()
    assert run(config, "verify") == 0
    assert fake_pypi.requests == []
    assert snapshot(mirror_dir(config)) == before
    out = capsys.readouterr().out
    assert "Checked: 3 project(s), 12 file(s)" in out and "Bad or missing: 0" in out


def test_verify_repairs_a_truncated_file_a_flipped_byte_and_a_lost_metadata(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    before = snapshot(root)
    damaged = damage(root, fake_pypi)
    fake_pypi.reset_log()
    assert run(config, "verify") == 0
    assert snapshot(root) == before  # same bytes and the upload times as mtimes
    wanted = {fake_pypi.file_path(n, f) for n, f in (("foo-bar", FOO_WHEEL), ("dep-lib", DEP_WHEEL))}
    wanted.add(fake_pypi.file_path("yanky", YANKY_WHEEL) + ".metadata")
    assert set(fake_pypi.downloads) == wanted
    assert all(path.exists() for path in damaged.values())


def test_stat_mode_trusts_size_and_upload_time(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi, compare_method="stat")
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    damaged = damage(root, fake_pypi)
    touched = stored(root, fake_pypi, "foo-bar", "foo_bar-1.0.tar.gz")
    upload_time = touched.stat().st_mtime
    os.utime(touched, (1e9, 1e9))
    fake_pypi.reset_log()
    assert run(config, "verify") == 0
    # The truncated file and the missing sidecar are found; the flipped byte behind a right
    # size and mtime is not (use compare-method = hash for that); the touched file is hashed,
    # found intact and gets its upload time back without a download.
    repaired = {fake_pypi.file_path("foo-bar", FOO_WHEEL), fake_pypi.file_path("yanky", YANKY_WHEEL) + ".metadata"}
    assert set(fake_pypi.downloads) == repaired
    assert damaged["flipped"].read_bytes() != fake_pypi.index.file("dep-lib", DEP_WHEEL).artifact.content
    assert touched.stat().st_mtime == upload_time


def test_dry_run_changes_nothing_and_says_what_it_would_do(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi, json=True)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    damage(root, fake_pypi)
    orphan = root / "web/packages/00/11/stray/stray-1.0.tar.gz"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"stray")
    before = snapshot(root)
    fake_pypi.reset_log()
    capsys.readouterr()
    assert run(config, "verify", "--dry-run", "--delete", "--json-update") == 0
    assert fake_pypi.requests == []
    assert snapshot(root) == before
    out = capsys.readouterr().out
    assert "[dry run] Bad or missing: 3" in out
    assert f"would download web{fake_pypi.file_path('foo-bar', FOO_WHEEL)}" in out
    assert "would remove web/packages/00/11/stray/stray-1.0.tar.gz" in out


def test_delete_removes_exactly_the_orphans(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    before = tree(root)
    sdist = stored(root, fake_pypi, "foo-bar", "foo_bar-1.0.tar.gz")
    strays = [
        root / "web/packages/00/11/stray/stray-1.0.tar.gz",
        sdist.parent / ".foo_bar-1.0.tar.gz.x1y2z3",  # a temp file left by a killed run
        root / "web/packages/00/11/stray/other-2.0-py3-none-any.whl.metadata",
    ]
    kept = Path(str(sdist) + ".metadata")  # beside an owned file: owned, though not advertised
    for path in [*strays, kept]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    assert run(config, "verify", "--delete") == 0
    assert tree(root) - {"frumious.sqlite"} == (before | {str(kept.relative_to(root))}) - {"frumious.sqlite"}
    assert not (root / "web/packages/00").exists()  # emptied directories go too
    out = capsys.readouterr().out
    assert "Unowned files: 3" in out


def test_delete_keeps_the_files_of_a_project_whose_page_is_unreadable(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    for page in ("index.html", "index.v1_html", "index.v1_json"):
        (root / "web/simple/foo-bar" / page).write_bytes(b"\xff\xfe garbage")
    (root / "frumious.sqlite").unlink()  # so the index is rebuilt from the damaged tree
    foo_files = {p for p in tree(root) if "/foo_bar-" in p}
    maybe_foo = root / "web/packages/00/11/x/foo_bar-9.9.tar.gz"
    not_foo = root / "web/packages/00/11/x/unrelated-1.0.tar.gz"
    for path in (maybe_foo, not_foo):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    assert run(config, "verify", "--delete") == 1
    left = tree(root)
    assert foo_files <= left and str(maybe_foo.relative_to(root)) in left
    assert str(not_foo.relative_to(root)) not in left
    out = capsys.readouterr().out
    assert "foo-bar: its page could not be read" in out


def test_json_update_refreshes_saved_json_and_keeps_files_when_upstream_json_is_bad(
    fake_pypi, make_config, tmp_path, capsys
) -> None:
    config = make_config(tmp_path, fake_pypi, json=True)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    foo_files = {p for p in tree(root) if "/foo_bar-" in p}
    fake_pypi.index.set_info("dep-lib", summary="A better dependency")
    fake_pypi.bad_json("/pypi/foo-bar/json", times=None)
    assert run(config, "verify", "--json-update", "--delete") == 1
    assert "A better dependency" in read(root, "web/json/dep-lib")
    assert read(root, "web/json/dep-lib") == read(root, "web/pypi/dep-lib/json")
    assert foo_files <= tree(root)
    out = capsys.readouterr().out
    assert "Failed projects:" in out and "foo-bar:" in out


def test_a_file_that_cannot_be_repaired_fails_the_verify(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    stored(root, fake_pypi, "yanky", YANKY_WHEEL).unlink()
    fake_pypi.fail(fake_pypi.file_path("yanky", YANKY_WHEEL), 404, times=None)
    assert run(config, "verify") == 1
    out = capsys.readouterr().out
    assert "yanky: 1 file(s) not repaired" in out


def test_an_interrupted_verify_resumes_after_the_last_project_checked(
    fake_pypi, make_config, tmp_path, monkeypatch, capsys
) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    # The same tree through a store that stops the command as Ctrl-C would on the first look at
    # a file of foo-bar: in the middle of the second project (verify goes in name order).
    install_backends(tmp_path / "site", monkeypatch, tripwire="frumious.testing.fsvariants:TripwireStore")
    tripwire = make_config(
        tmp_path,
        fake_pypi,
        filename="tripwire.conf",
        storage_backend="tripwire",
        sections={"tripwire": {"key": "foo_bar-"}},
    )
    assert run(tripwire, "verify", "--workers", "1") == 130
    with closing(sqlite3.connect(root / "frumious.sqlite")) as db:
        assert db.execute("SELECT value FROM meta WHERE key = 'verify-after'").fetchone() == ("dep-lib",)

    # Damage one file in the project already checked and one in a project still to check.
    damage(root, fake_pypi)
    fake_pypi.reset_log()
    capsys.readouterr()
    assert run(config, "verify") == 0
    out = capsys.readouterr().out
    assert "Resumed after dep-lib: 1 project(s) were already checked" in out
    assert "Checked: 2 project(s)" in out
    assert fake_pypi.file_path("dep-lib", DEP_WHEEL) not in fake_pypi.downloads
    assert fake_pypi.file_path("foo-bar", FOO_WHEEL) in fake_pypi.downloads

    # That pass completed: the next one starts from the top and finds the rest.
    fake_pypi.reset_log()
    assert run(config, "verify") == 0
    assert fake_pypi.downloads == [fake_pypi.file_path("dep-lib", DEP_WHEEL)]


def test_restart_ignores_the_checkpoint(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    with closing(sqlite3.connect(mirror_dir(config) / "frumious.sqlite")) as db, db:
        db.execute("INSERT INTO meta VALUES ('verify-after', 'foo-bar')")
    assert run(config, "verify", "--restart") == 0
    assert "Checked: 3 project(s)" in capsys.readouterr().out


def test_verify_needs_neither_json_nor_an_index(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi, hash_index=True)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    (root / "frumious.sqlite").unlink()
    damage(root, fake_pypi)
    assert not (root / "web/json").exists()
    assert run(config, "verify") == 0
    assert stored(root, fake_pypi, "dep-lib", DEP_WHEEL).read_bytes() == (
        fake_pypi.index.file("dep-lib", DEP_WHEEL).artifact.content
    )
    assert "Checked: 3 project(s), 12 file(s)" in capsys.readouterr().out


@pytest.mark.parametrize("workers", ["-1", "65", "many"])
def test_workers_must_be_a_small_number(make_config, fake_pypi, tmp_path, workers) -> None:
    config = make_config(tmp_path, fake_pypi)
    with pytest.raises(SystemExit) as exc:
        run(config, "verify", "--workers", workers)
    assert exc.value.code == 2
