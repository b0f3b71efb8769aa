"""``mirror --dry-run``: the plan is printed and nothing in the tree changes, not even state files."""

from __future__ import annotations

from pathlib import Path

from fakepypi import Artifact

from .helpers import mirror_dir, run


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes (symlinks by target), to compare before and after."""
    if not root.exists():
        return {}
    found = {}
    for path in sorted(root.rglob("*")):
        key = path.relative_to(root).as_posix()
        if path.is_symlink():
            found[key] = str(path.readlink()).encode()
        elif path.is_file():
            found[key] = path.read_bytes()
        else:
            found[key + "/"] = b""
    return found


def test_dry_run_on_a_new_mirror_writes_nothing_and_prints_the_plan(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi)
    root = mirror_dir(config)
    root.mkdir(exist_ok=True)
    before = snapshot(root)
    assert run(config, "mirror", "--dry-run") == 0
    assert snapshot(root) == before
    out = capsys.readouterr().out
    assert "[dry run]" in out
    assert "Would fetch: 3 project(s)" in out
    for name in ("dep-lib", "Foo.Bar", "yanky"):
        assert f"\n  {name} (serial " in out


def test_dry_run_on_a_mirrored_tree_changes_no_byte(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi, max_delete_share=0.5, confirm_removal_after=0)
    root = mirror_dir(config)
    assert run(config, "mirror") == 0
    fake_pypi.index.add("newcomer", "1.0", Artifact("newcomer-1.0.tar.gz", b"newcomer 1.0" * 50))
    fake_pypi.index.remove_project("yanky")
    assert run(config, "mirror") == 0  # remembers yanky's first absence
    (root / "todo").write_text("garbage that a real run would delete\n")
    capsys.readouterr()
    before = snapshot(root)
    assert run(config, "mirror", "--dry-run") == 0
    assert snapshot(root) == before
    out = capsys.readouterr().out
    assert "newcomer" not in out  # the garbage todo is unusable, so the listing is read: newcomer is synced already
    assert "Would remove once upstream confirms they are gone: 1 project(s)\n  yanky\n" in out

    # A real run still does what the dry run said.
    assert run(config, "mirror") == 0
    assert not (root / "web/simple/yanky").exists()


def test_dry_run_reports_what_the_safety_valve_refuses(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi, confirm_removal_after=0)
    root = mirror_dir(config)
    assert run(config, "mirror") == 0
    for name in ("foo-bar", "dep-lib", "yanky"):
        fake_pypi.index.remove_project(name)
    assert run(config, "mirror") == 0
    capsys.readouterr()
    before = snapshot(root)
    assert run(config, "mirror", "--dry-run") == 0
    assert snapshot(root) == before
    assert "Refused: refusing to remove 3 of 3 projects" in capsys.readouterr().out
