"""Issue 10, the file half: bounded file deletions, keys that cannot collide, retried bodies.

Each test plays one defect through the CLI against the fake upstream.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from fakepypi import Artifact, FakeIndex, FakePyPI, default_index, make_wheel, packages_path, run_fake_pypi

from .helpers import mirror_dir, packages, read, run, temp_files, tree

BIG_FILES = 8


def blob(name: str, version: str, extra: str = "") -> Artifact:
    return Artifact(f"{name}-{version}.tar.gz", f"{name} {version} {extra}".encode() * 20)


@pytest.fixture
def fake_index() -> FakeIndex:
    """The default catalogue plus ``big``: eight releases of one sdist each."""
    index = default_index()
    for n in range(BIG_FILES):
        index.add("big", f"1.{n}", blob("big", f"1.{n}"))
    return index


def big_files(root: Path) -> set[str]:
    return {name for name in packages(root) if name.startswith("big-")}


def assert_files_right(pypi: FakePyPI, root: Path) -> None:
    """Every file upstream offers is in the tree with its exact bytes."""
    for fake in pypi.index.all_files():
        stored = root / "web" / fake.path.lstrip("/")
        assert stored.read_bytes() == fake.artifact.content, fake.filename


# -- the file-level safety valve ----------------------------------------------------------------


def test_a_project_losing_most_of_its_files_is_refused(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    page = read(root, "web/simple/big/index.html")
    for n in range(6):
        fake_pypi.index.remove_release("big", f"1.{n}")
    capsys.readouterr()
    assert run(config, "mirror") == 1
    err = capsys.readouterr().err
    assert "big" in err and "6 of 8" in err and "--allow-mass-delete" in err
    # Nothing removed, and the old page still points at the old files.
    assert len(big_files(root)) == BIG_FILES
    assert read(root, "web/simple/big/index.html") == page
    assert run(config, "mirror", "--allow-mass-delete") == 0
    assert big_files(root) == {"big-1.6.tar.gz", "big-1.7.tar.gz"}


@pytest.mark.parametrize("json", [False, True], ids=["page", "warehouse-json"])
def test_a_project_listed_without_files_keeps_them(fake_pypi, make_config, tmp_path, capsys, json: bool) -> None:
    config = make_config(tmp_path, fake_pypi, json=json)
    assert run(config, "mirror") == 0
    for n in range(BIG_FILES):
        fake_pypi.index.remove_file("big", f"big-1.{n}.tar.gz")  # the releases stay, empty
    # Warehouse JSON shows releases left without files: the file valve refuses, a failure to retry. A page
    # lists files only: the project looks listed with no releases, and its files are kept (named in a warning).
    assert run(config, "mirror") == (1 if json else 0)
    root = mirror_dir(config)
    assert len(big_files(root)) == BIG_FILES
    assert "big-1.0.tar.gz" in read(root, "web/simple/big/index.html")
    err = capsys.readouterr().err
    assert ("refusing to remove 8 of 8" if json else "keeping the 8 file(s) the mirror holds") in err


def test_the_share_of_a_project_is_configurable(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi, max_delete_file_share="80%", max_delete_share=0.5)
    assert run(config, "mirror") == 0
    for n in range(6):
        fake_pypi.index.remove_release("big", f"1.{n}")
    assert run(config, "mirror") == 0
    assert len(big_files(mirror_dir(config))) == 2


def test_many_projects_each_losing_a_few_files_hit_the_mirror_limit(fake_pypi, make_config, tmp_path, capsys) -> None:
    for p in range(6):
        for n in range(4):
            fake_pypi.index.add(f"small{p}", f"1.{n}", blob(f"small{p}", f"1.{n}"))
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    before = len(packages(root))
    for p in range(6):
        for n in range(2):
            fake_pypi.index.remove_release(f"small{p}", f"1.{n}")
    capsys.readouterr()
    assert run(config, "mirror") == 1
    # 12 files would go; 1% of the mirror is below the floor of 5, so at most 5 went.
    assert before - 5 <= len(packages(root)) < before
    assert "max-delete-share" in capsys.readouterr().err
    assert run(config, "mirror", "--allow-mass-delete") == 0
    assert len(packages(root)) == before - 12


# -- keys ---------------------------------------------------------------------------------------


def dep_wheel(pypi: FakePyPI) -> Artifact:
    return pypi.index.file("dep-lib", "dep_lib-0.1-py3-none-any.whl").artifact


def serve_elsewhere(other: FakePyPI, path: str, content: bytes) -> Artifact:
    """Make ``other`` serve ``content`` at ``path``; the artifact describing it."""
    artifact = Artifact("dep_lib-0.1-py3-none-any.whl", content)
    other.index.add("elsewhere", "1", artifact)
    other.index.patch_file("elsewhere", artifact.filename, url=path)
    return artifact


def test_a_key_owned_by_another_project_is_refused(fake_pypi, make_config, tmp_path, capsys) -> None:
    """Two file URLs on different hosts with one path: the store key is the same."""
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    original = dep_wheel(fake_pypi)
    with run_fake_pypi(FakeIndex()) as other:
        impostor = serve_elsewhere(other, packages_path(original), b"not the dep-lib wheel" * 50)
        fake_pypi.index.add("squatter", "1.0", impostor)
        fake_pypi.index.patch_file("squatter", impostor.filename, url=other.url + packages_path(original))
        assert run(config, "mirror") == 1
    err = capsys.readouterr().err
    assert "squatter" in err and "dep-lib" in err
    root = mirror_dir(config)
    assert (root / "web" / packages_path(original).lstrip("/")).read_bytes() == original.content
    assert "web/simple/squatter/index.html" not in tree(root)


def test_a_shared_file_is_never_pruned_from_under_its_owner(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    original = dep_wheel(fake_pypi)
    # Same bytes, same URL path, another project.
    fake_pypi.index.add("copycat", "1.0", original)
    assert run(config, "mirror") == 1
    fake_pypi.index.remove_release("copycat", "1.0")
    fake_pypi.index.add("copycat", "2.0", blob("copycat", "2.0"))
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    assert "copycat-2.0.tar.gz" in packages(root)
    assert (root / "web" / packages_path(original).lstrip("/")).read_bytes() == original.content


def test_prune_keeps_a_key_another_project_owns(fake_pypi, make_config, tmp_path) -> None:
    """A page from an older tree (no index record) links a file the index gives to another project."""
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    original = dep_wheel(fake_pypi)
    legacy = root / "web/simple/legacy/index.html"
    legacy.parent.mkdir(parents=True)
    href = f"../../packages{packages_path(original).removeprefix('/packages')}#sha256={original.sha256}"
    legacy.write_text(f'<html><body><a href="{href}">{original.filename}</a><br/></body></html>\n')
    fake_pypi.index.add("legacy", "2.0", blob("legacy", "2.0"))
    assert run(config, "mirror") == 0
    assert (root / "web" / packages_path(original).lstrip("/")).read_bytes() == original.content
    assert "legacy-2.0.tar.gz" in packages(root)


def test_a_file_cannot_shadow_another_files_metadata(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    original = dep_wheel(fake_pypi)
    sidecar_path = packages_path(original) + ".metadata"
    with run_fake_pypi(FakeIndex()) as other:
        impostor = serve_elsewhere(other, sidecar_path, b"Metadata-Version: 2.1\nName: evil\n")
        fake_pypi.index.add("shadow", "1.0", impostor)
        fake_pypi.index.patch_file("shadow", impostor.filename, url=other.url + sidecar_path)
        assert run(config, "mirror") == 1
    err = capsys.readouterr().err
    assert "shadow" in err and "dep-lib" in err
    assert (mirror_dir(config) / "web" / sidecar_path.lstrip("/")).read_bytes() == original.metadata


def test_verify_checks_each_pages_digests(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    page = root / "web/simple/dep-lib/index.v1_json"
    document = json.loads(page.read_text())
    document["files"][0]["hashes"]["sha256"] = hashlib.sha256(b"something else").hexdigest()
    page.write_text(json.dumps(document))
    capsys.readouterr()
    assert run(config, "verify") == 1
    err = capsys.readouterr().err
    assert "dep-lib" in err and "index.v1_json" in err and "dep_lib-0.1-py3-none-any.whl" in err


# -- retries ------------------------------------------------------------------------------------


def test_corrupted_bodies_are_retried(fake_pypi, make_config, tmp_path) -> None:
    for p in range(8):
        fake_pypi.index.add(f"many{p}", "1.0", make_wheel(f"many{p}", "1.0"), blob(f"many{p}", "1.0"))
    # About 7% of file and .metadata responses come back with one byte flipped.
    fault = fake_pypi.corrupt("/packages/*", times=None, every=15)
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    assert fault.fired >= 3
    assert read(root, "status") == str(fake_pypi.index.serial)
    assert temp_files(root) == []
    assert_files_right(fake_pypi, root)


def test_sync_name_honours_the_file_valve_and_its_override(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    for n in range(6):
        fake_pypi.index.remove_release("big", f"1.{n}")
    assert run(config, "sync", "big") == 1
    assert len(big_files(root)) == BIG_FILES
    assert run(config, "sync", "big", "--allow-mass-delete") == 0
    assert big_files(root) == {"big-1.6.tar.gz", "big-1.7.tar.gz"}


def test_a_failed_project_gives_back_its_share_of_the_mirror_limit(fake_pypi, make_config, tmp_path, capsys) -> None:
    for n in range(5):
        fake_pypi.index.add("aaa", f"1.{n}", blob("aaa", f"1.{n}"))
    for n in range(4):
        fake_pypi.index.add("zzz", f"1.{n}", blob("zzz", f"1.{n}"))
    config = make_config(tmp_path, fake_pypi, workers=1)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    # aaa would remove 4 files but fails on its new one; zzz then removes 2 (the floor is 5).
    for n in range(4):
        fake_pypi.index.remove_release("aaa", f"1.{n}")
    fake_pypi.index.add("aaa", "2.0", blob("aaa", "2.0"))
    fake_pypi.fail("*/aaa-2.0.tar.gz", 500, times=None)
    for n in range(2):
        fake_pypi.index.remove_release("zzz", f"1.{n}")
    capsys.readouterr()
    assert run(config, "mirror") == 1
    out = capsys.readouterr().out
    assert "aaa:" in out and "zzz:" not in out
    assert {name for name in packages(root) if name.startswith("zzz-")} == {"zzz-1.2.tar.gz", "zzz-1.3.tar.gz"}


def test_a_vanished_project_holding_too_many_of_the_mirrors_files_is_refused(
    fake_pypi, make_config, tmp_path, capsys
) -> None:
    for n in range(BIG_FILES, 14):
        fake_pypi.index.add("big", f"1.{n}", blob("big", f"1.{n}"))
    # One of four projects may go (0.3 of 4 rounds to 1), but not 14 of the mirror's files.
    config = make_config(tmp_path, fake_pypi, max_delete_share=0.3, confirm_removal_after=0)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    fake_pypi.index.remove_project("big")
    assert run(config, "mirror") == 0  # the first sighting
    capsys.readouterr()
    assert run(config, "mirror") == 1
    err = capsys.readouterr().err
    assert "holding 14 of the mirror's" in err and "--allow-mass-delete" in err
    assert len(big_files(root)) == 14
    assert run(config, "mirror", "--allow-mass-delete") == 0
    assert big_files(root) == set()
