"""Upstream deletions propagate, guarded by the safety valve."""

from __future__ import annotations

from .helpers import mirror_dir, packages, read, run, tree


def test_project_deleted_upstream_disappears(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi, max_delete_share=0.5, json=True, confirm_removal_after=0)
    assert run(config, "mirror") == 0
    fake_pypi.index.remove_project("yanky")
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    # The first 404 is only remembered: one glitch never deletes.
    assert "web/simple/yanky/index.html" in tree(root)
    assert run(config, "mirror") == 0
    assert not any(p.startswith("web/simple/yanky/") for p in tree(root))
    assert not any(name.startswith("yanky") for name in packages(root))
    assert "yanky" not in read(root, "web/simple/index.html")
    assert "yanky" not in read(root, "web/simple/index.v1_json")
    assert not (root / "web/json/yanky").exists()


def test_keep_removed_keeps_bandersnatch_behaviour(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi, keep_removed=True, max_delete_share=0.5, confirm_removal_after=0)
    assert run(config, "mirror") == 0
    fake_pypi.index.remove_project("yanky")
    assert run(config, "mirror") == 0
    assert run(config, "mirror") == 0
    assert "web/simple/yanky/index.html" in tree(mirror_dir(config))


def test_empty_listing_triggers_the_safety_valve(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi, confirm_removal_after=0)
    assert run(config, "mirror") == 0
    before = tree(mirror_dir(config))
    for name in ("foo-bar", "dep-lib", "yanky"):
        fake_pypi.index.remove_project(name)
    # The first run only remembers the absences; the second, which would remove, is refused.
    assert run(config, "mirror") == 0
    assert run(config, "mirror") == 1
    assert "--allow-mass-delete" in capsys.readouterr().err
    assert tree(mirror_dir(config)) >= before - {"web/last-modified", ".frumious/listing-etag"}
    assert (mirror_dir(config) / ".frumious/vanishing").exists()
    assert run(config, "mirror", "--allow-mass-delete") == 0
    assert packages(mirror_dir(config)) == set()


def test_file_removed_from_a_live_project_is_removed(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    fake_pypi.index.remove_file("foo-bar", "foo_bar-1.0.tar.gz")
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    assert "foo_bar-1.0.tar.gz" not in packages(root)
    assert "foo_bar-1.0-py3-none-any.whl" in packages(root)


def test_project_still_listed_but_404_is_kept(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi, confirm_removal_after=0)
    assert run(config, "mirror") == 0
    fake_pypi.index.touch("yanky")
    fake_pypi.fail("/simple/yanky/", 404, times=None)
    # Listed but 404: a failure to retry, never a deletion, however many runs see it.
    assert run(config, "mirror") == 1
    assert run(config, "mirror") == 1
    assert "web/simple/yanky/index.html" in tree(mirror_dir(config))
