"""`frumious delete NAME...`: whole projects out of the tree, the index and the root index."""

from __future__ import annotations

import json

import pytest

from .helpers import mirror_dir, read, record_rows, run, tree


def owned_by(root, pypi, name: str) -> set[str]:
    """Every object the mirror holds for ``name``."""
    project = pypi.index.project(name)
    canonical = project.canonical
    found = {p for p in tree(root) if f"/{canonical}/" in p or p == f"web/json/{canonical}"}
    paths = {"web" + f.path for f in project.files()}
    return found | {p for p in tree(root) if p in paths or p.removesuffix(".metadata") in paths}


@pytest.mark.parametrize("keys", [{"json": True}, {"hash_index": True, "json": True}], ids=["flat", "hash-index"])
def test_delete_removes_exactly_the_project_and_updates_the_root(fake_pypi, make_config, tmp_path, keys) -> None:
    config = make_config(tmp_path, fake_pypi, **keys)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    before = tree(root)
    doomed = owned_by(root, fake_pypi, "Foo.Bar")
    assert len(doomed) > 8
    fake_pypi.reset_log()
    assert run(config, "delete", "Foo.Bar") == 0
    assert fake_pypi.requests == []
    assert tree(root) - {"frumious.sqlite"} == before - doomed - {"frumious.sqlite"}
    assert "foo-bar" not in read(root, "web/simple/index.html")
    projects = [p["name"] for p in json.loads(read(root, "web/simple/index.v1_json"))["projects"]]
    assert projects == ["dep-lib", "yanky"]
    projects, files = record_rows(root)
    assert {p[0] for p in projects} == {"dep-lib", "yanky"}
    assert not [f for f in files if f[1] == "foo-bar"] and files


def test_delete_takes_the_given_spelling_too(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi, json=True)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    (root / "web/simple/Foo.Bar").mkdir()
    (root / "web/simple/Foo.Bar/index.html").write_text("old")
    (root / "web/json/Foo.Bar").write_text("{}")
    assert run(config, "delete", "Foo.Bar") == 0
    assert not any("Foo.Bar" in p or "foo-bar" in p or "foo_bar" in p for p in tree(root))


def test_delete_dry_run_changes_nothing_and_lists_the_objects(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    before = {p: (root / p).read_bytes() for p in tree(root) if not p.startswith("frumious.sqlite")}
    capsys.readouterr()
    assert run(config, "delete", "--dry-run", "yanky") == 0
    assert {p: (root / p).read_bytes() for p in tree(root) if not p.startswith("frumious.sqlite")} == before
    out = capsys.readouterr().out
    assert "[dry run] Would remove 1 project(s)" in out
    for key in owned_by(root, fake_pypi, "yanky"):
        assert f"    {key}" in out


def test_unknown_names_fail_but_the_others_go(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    assert run(config, "delete", "--workers", "2", "nothere", "yanky", "dep-lib", "../etc") == 1
    out = capsys.readouterr().out
    assert "nothere: not in the mirror" in out and "../etc" in out
    assert "Removed: 2 project(s)" in out
    assert [p["name"] for p in json.loads(read(root, "web/simple/index.v1_json"))["projects"]] == ["foo-bar"]


def test_delete_on_a_tree_without_an_index(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    (root / "frumious.sqlite").unlink()
    doomed = owned_by(root, fake_pypi, "yanky")
    assert run(config, "delete", "yanky") == 0
    assert not doomed & tree(root)


def test_a_deleted_project_stays_deleted_until_it_changes_upstream(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    assert run(config, "delete", "yanky") == 0
    assert run(config, "mirror", "--force-check") == 0
    assert "web/simple/yanky/index.html" in tree(root)  # a full re-check brings it back, as in bandersnatch
    assert run(config, "delete", "yanky") == 0
    fake_pypi.index.touch("dep-lib")
    assert run(config, "mirror") == 0
    assert "web/simple/yanky/index.html" not in tree(root)
