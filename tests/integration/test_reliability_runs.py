"""Issue 10, runs: a failing project never blocks the rest, a 404 is never a deletion on
its own, and a poisoned serial is bad data for one entry, never the mirror's serial."""

from __future__ import annotations

import json
import sqlite3

import pytest

from fakepypi import make_wheel
from frumious import upstream
from frumious.record.db import MirrorRecord

from .helpers import failed_names, mirror_dir, packages, read, run, tree

BLOCK_YANKY = {"plugins": {"enabled": ["blocklist_project"]}, "blocklist": {"packages": ["yanky"]}}


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Upstream retries without their sleeps: these tests fail projects over many runs."""
    monkeypatch.setattr(upstream.RetryPolicy, "delay", lambda self, attempt: 0.0)


def serial_of(fake_pypi, name: str) -> int:
    return fake_pypi.index.project(name).last_serial


def test_a_project_failing_forever_does_not_block_later_changes(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi)
    root = mirror_dir(config)
    fake_pypi.fail("/simple/yanky/", 500, times=None)
    assert run(config, "mirror") == 1
    assert not (root / "todo").exists()
    assert failed_names(root) == {"yanky"}
    out = capsys.readouterr().out
    assert "retried next run; everything else was mirrored" in out
    # Another project changes: the next run reads the listing and mirrors it.
    fake_pypi.index.add("dep-lib", "0.2", make_wheel("dep-lib", "0.2"))
    assert run(config, "mirror") == 1
    assert "dep_lib-0.2-py3-none-any.whl" in packages(root)
    assert read(root, "status") == str(serial_of(fake_pypi, "dep-lib"))
    assert failed_names(root) == {"yanky"}
    # Once it answers again it is mirrored and forgotten.
    fake_pypi.clear_faults()
    assert run(config, "mirror") == 0
    assert "web/simple/yanky/index.html" in tree(root)
    assert failed_names(root) == set()
    assert read(root, "status") == str(fake_pypi.index.serial)


def test_blocklisting_a_failing_project_forgets_it(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi)
    fake_pypi.fail("/simple/yanky/", 500, times=None)
    assert run(config, "mirror") == 1
    blocked = make_config(tmp_path, fake_pypi, sections=BLOCK_YANKY)
    fake_pypi.reset_log()
    assert run(blocked, "mirror") == 0
    assert "/simple/yanky/" not in fake_pypi.paths("/simple/")
    assert failed_names(mirror_dir(config)) == set()


def test_a_resumed_todo_honours_the_filters(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi, sections=BLOCK_YANKY)
    root = mirror_dir(config)
    root.mkdir()
    (root / "generation").write_text("5")
    serial = fake_pypi.index.serial
    (root / "todo").write_text(f"{serial}\nyanky {serial_of(fake_pypi, 'yanky')}\ndep-lib 1")
    assert run(config, "mirror") == 0
    assert fake_pypi.paths("/simple/") == ["/simple/dep-lib/"]
    assert not (root / "todo").exists()


def test_a_transient_404_for_a_listed_project_is_retried_and_its_change_lands(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi)
    root = mirror_dir(config)
    assert run(config, "mirror") == 0
    fake_pypi.index.add("yanky", "2.0", make_wheel("yanky", "2.0"))
    fake_pypi.fail("/simple/yanky/", 404, times=1)
    assert run(config, "mirror") == 1
    assert "web/simple/yanky/index.html" in tree(root)
    assert "yanky-2.0-py3-none-any.whl" not in packages(root)
    assert run(config, "mirror") == 0
    assert "yanky-2.0-py3-none-any.whl" in packages(root)
    assert read(root, "status") == str(fake_pypi.index.serial)


def test_a_project_is_removed_only_after_two_runs_some_time_apart(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi, max_delete_share=0.5)
    root = mirror_dir(config)
    assert run(config, "mirror") == 0
    fake_pypi.index.remove_project("yanky")
    assert run(config, "mirror") == 0
    assert run(config, "mirror") == 0
    # Two runs, but within confirm-removal-after (an hour by default): kept.
    assert "web/simple/yanky/index.html" in tree(root)
    assert "yanky" in read(root, ".frumious/vanishing")
    # The first sighting an hour earlier: the next 404 confirms it.
    (root / ".frumious/vanishing").write_text("yanky 1000\n")
    assert run(config, "mirror") == 0
    assert "removed project yanky" in capsys.readouterr().out
    assert not any(p.startswith("web/simple/yanky/") for p in tree(root))
    assert not (root / ".frumious/vanishing").exists()


def test_a_project_back_in_the_listing_restarts_the_confirmation(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi, max_delete_share=0.5, confirm_removal_after=0)
    root = mirror_dir(config)
    assert run(config, "mirror") == 0
    fake_pypi.index.remove_project("yanky")
    assert run(config, "mirror") == 0
    fake_pypi.index.add("yanky", "3.0", make_wheel("yanky", "3.0"))
    assert run(config, "mirror") == 0
    assert not (root / ".frumious/vanishing").exists()
    # Gone again: this is a first sighting once more, not the second.
    fake_pypi.index.remove_project("yanky")
    assert run(config, "mirror") == 0
    assert "web/simple/yanky/index.html" in tree(root)


def test_quarantine_after_n_failed_runs_with_backoff(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi, quarantine_after=2)
    root = mirror_dir(config)
    fake_pypi.fail("/simple/yanky/", 500, times=None)
    assert run(config, "mirror") == 1
    assert "Quarantined" not in capsys.readouterr().out
    fake_pypi.index.touch("yanky")
    assert run(config, "mirror") == 1
    out = capsys.readouterr().out
    assert "Quarantined projects" in out and "yanky: failed 2 runs in a row" in out
    # Waiting out its backoff: not asked for, holding nothing back, still named.
    fake_pypi.index.add("dep-lib", "0.2", make_wheel("dep-lib", "0.2"))
    fake_pypi.reset_log()
    assert run(config, "mirror") == 0
    assert "/simple/yanky/" not in fake_pypi.paths("/simple/")
    assert "dep_lib-0.2-py3-none-any.whl" in packages(root)
    assert "yanky: failed 2 runs in a row" in capsys.readouterr().out
    # Its backoff over, it is tried again; it answers, and is forgotten.
    line = read(root, ".frumious/failed").split()
    (root / ".frumious/failed").write_text(f"{line[0]} {line[1]} {line[2]} 0\n")
    fake_pypi.clear_faults()
    assert run(config, "mirror") == 0
    assert failed_names(root) == set()
    assert read(root, "status") == str(fake_pypi.index.serial)


def test_a_poisoned_listing_serial_never_becomes_the_mirror_serial(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi)
    root = mirror_dir(config)
    assert run(config, "mirror") == 0
    fake_pypi.index.project("yanky").last_serial = 10**30
    fake_pypi.index.add("dep-lib", "0.2", make_wheel("dep-lib", "0.2"))
    assert run(config, "mirror") == 1
    err = capsys.readouterr().err
    assert "invalid serial" in err and "Traceback" not in err
    assert read(root, "status") == str(fake_pypi.index.serial)
    assert "web/simple/yanky/index.html" in tree(root)
    # A real change after it is mirrored.
    fake_pypi.index.add("Foo.Bar", "3.0", make_wheel("Foo.Bar", "3.0"))
    assert run(config, "mirror") == 1
    assert "foo_bar-3.0-py3-none-any.whl" in packages(root)
    assert read(root, "status") == str(fake_pypi.index.serial)


def test_a_2_63_serial_in_a_project_page_fails_that_project_only(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi)
    # Without the header the page's meta is the word on its serial: a poisoned one is bad data.
    meta = {"api-version": "1.1", "_last-serial": 2**63}
    fake_pypi.patch_json("/simple/yanky/", {"meta": meta}, headers={"X-PyPI-Last-Serial": ""}, times=None)
    assert run(config, "mirror") == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert "yanky:" in captured.out and "2**63" in captured.out
    root = mirror_dir(config)
    assert failed_names(root) == {"yanky"}
    assert "web/simple/dep-lib/index.html" in tree(root)
    fake_pypi.clear_faults()
    assert run(config, "mirror") == 0


def test_a_huge_page_serial_in_allowlist_mode_fails_that_project_only(fake_pypi, make_config, tmp_path, capsys) -> None:
    sections = {"plugins": {"enabled": ["allowlist_project"]}, "allowlist": {"packages": ["yanky", "dep-lib"]}}
    config = make_config(tmp_path, fake_pypi, sections=sections)
    root = mirror_dir(config)
    # 5,000 digits: more than Python converts to an int at all (as text; the fake could not either).
    huge = "9" * 5000
    meta = {"api-version": "1.1", "_last-serial": huge}
    fake_pypi.patch_json("/simple/yanky/", {"meta": meta}, headers={"X-PyPI-Last-Serial": huge}, times=None)
    assert run(config, "mirror") == 1
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert "yanky: the upstream listing gives it an invalid serial" in captured.out
    assert read(root, "status") == str(serial_of(fake_pypi, "dep-lib"))
    assert "web/simple/dep-lib/index.html" in tree(root)
    fake_pypi.clear_faults()
    assert run(config, "mirror") == 0
    assert read(root, "status") == str(serial_of(fake_pypi, "yanky"))


def test_an_unexpected_error_in_one_project_fails_only_that_project(
    fake_pypi, make_config, tmp_path, capsys, monkeypatch
) -> None:
    record = MirrorRecord.record

    def broken(self: MirrorRecord, project, files, **hints) -> None:
        if project.name == "yanky":
            raise sqlite3.IntegrityError("UNIQUE constraint failed: files.key")
        record(self, project, files, **hints)

    monkeypatch.setattr(MirrorRecord, "record", broken)
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 1
    captured = capsys.readouterr()
    assert "yanky: UNIQUE constraint failed" in captured.out
    assert "Traceback" not in captured.err
    root = mirror_dir(config)
    assert json.loads(read(root, "web/simple/index.v1_json"))["meta"]["_last-serial"] == int(read(root, "status"))
    assert failed_names(root) == {"yanky"}


def test_a_listed_project_with_no_releases_is_not_a_failure(fake_pypi, make_config, tmp_path, capsys) -> None:
    # PyPI lists it and its page lists no files (its JSON would answer 404).
    fake_pypi.index.add_project("placeholder")
    config = make_config(tmp_path, fake_pypi)
    root = mirror_dir(config)
    assert run(config, "mirror") == 0
    assert failed_names(root) == set()
    assert "1 listed with no releases" in capsys.readouterr().out
    assert not any(p.startswith("web/simple/placeholder/") for p in tree(root))
    assert read(root, "status") == str(fake_pypi.index.serial)
    # Its page, read as the source, shows it empty: one request, not a second to prove it.
    assert fake_pypi.paths("/simple/placeholder/") == ["/simple/placeholder/"]


@pytest.mark.parametrize("kind", ["404", "stale"])
def test_a_listed_404_whose_simple_page_does_not_prove_it_empty_is_retried(
    fake_pypi, make_config, tmp_path, capsys, kind: str
) -> None:
    fake_pypi.index.add_project("ghost")
    if kind == "404":
        fake_pypi.fail("/simple/ghost/", 404, times=None)
        why = "nor its simple page"
    else:
        # A CDN copy of the page older than the listing: it may predate a new release.
        fake_pypi.stale_serial("/simple/ghost/", times=None)
        why = "stale metadata"
    config = make_config(tmp_path, fake_pypi)
    root = mirror_dir(config)
    assert run(config, "mirror") == 1
    out = capsys.readouterr().out
    assert "ghost:" in out and why in out
    assert failed_names(root) == {"ghost"}
    fake_pypi.clear_faults()
    assert run(config, "mirror") == 0
    assert failed_names(root) == set()


def test_a_mirrored_project_whose_releases_all_went_keeps_its_files(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi)
    root = mirror_dir(config)
    assert run(config, "mirror") == 0
    held = {name for name in packages(root) if name.startswith("yanky-")}
    fake_pypi.index.remove_release("yanky", "1.0")
    fake_pypi.index.remove_release("yanky", "1.1")
    capsys.readouterr()
    assert run(config, "mirror") == 0
    captured = capsys.readouterr()
    assert "yanky" in captured.err and "no releases" in captured.err
    assert "kept yanky" in captured.out
    assert held and held <= packages(root)
    assert "web/simple/yanky/index.html" in tree(root)
    assert failed_names(root) == set()


def test_a_mirror_serial_beyond_the_upstream_root_is_reported(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi)
    root = mirror_dir(config)
    assert run(config, "mirror") == 0
    (root / "status").write_text(str(fake_pypi.index.serial + 1000))
    fake_pypi.index.add("dep-lib", "0.2", make_wheel("dep-lib", "0.2"))
    capsys.readouterr()
    assert run(config, "mirror") == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "--force-check" in line]
    assert len(lines) == 1 and str(fake_pypi.index.serial) in lines[0]


def test_sync_of_a_project_with_no_releases_is_not_a_failure(fake_pypi, make_config, tmp_path, capsys) -> None:
    fake_pypi.index.add_project("placeholder")
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "sync", "placeholder") == 0
    assert "1 listed with no releases" in capsys.readouterr().out


def test_a_change_behind_a_bad_listing_serial_is_retried_once_the_serial_is_fixed(
    fake_pypi, make_config, tmp_path
) -> None:
    config = make_config(tmp_path, fake_pypi)
    root = mirror_dir(config)
    assert run(config, "mirror") == 0
    fake_pypi.index.add("yanky", "2.0", make_wheel("yanky", "2.0"))
    real = serial_of(fake_pypi, "yanky")
    fake_pypi.index.project("yanky").last_serial = 10**30
    fake_pypi.index.add("dep-lib", "0.2", make_wheel("dep-lib", "0.2"))
    assert run(config, "mirror") == 1
    assert read(root, "status") == str(serial_of(fake_pypi, "dep-lib"))
    # Upstream fixes the listing: yanky's serial is now below the mirror's status.
    fake_pypi.index.project("yanky").last_serial = real
    assert run(config, "mirror") == 0
    assert "yanky-2.0-py3-none-any.whl" in packages(root)
    assert failed_names(root) == set()


def test_allow_mass_delete_reaches_a_quarantined_project(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi, quarantine_after=1)
    root = mirror_dir(config)
    fake_pypi.fail("/simple/yanky/", 500, times=None)
    assert run(config, "mirror") == 1
    fake_pypi.clear_faults()
    fake_pypi.reset_log()
    assert run(config, "mirror") == 0
    assert "/simple/yanky/" not in fake_pypi.paths("/simple/")
    # Its backoff has not run out, but the override is meant to reach it now.
    assert run(config, "mirror", "--allow-mass-delete") == 0
    assert "web/simple/yanky/index.html" in tree(root)
    assert failed_names(root) == set()


def test_a_no_release_page_without_a_serial_is_retried(fake_pypi, make_config, tmp_path, capsys) -> None:
    fake_pypi.index.add_project("placeholder")
    no_serial = {"meta": {"api-version": "1.1"}}
    fake_pypi.patch_json("/simple/placeholder/", no_serial, headers={"X-PyPI-Last-Serial": ""}, times=None)
    config = make_config(tmp_path, fake_pypi)
    root = mirror_dir(config)
    assert run(config, "mirror") == 1
    out = capsys.readouterr().out
    assert "placeholder:" in out and "no X-PyPI-Last-Serial header" in out
    assert failed_names(root) == {"placeholder"}
    fake_pypi.clear_faults()
    assert run(config, "mirror") == 0
    assert failed_names(root) == set()
