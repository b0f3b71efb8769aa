"""`frumious mirror --shard I/N` and `frumious publish` on the filesystem, in this process."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakepypi import FakePyPI, make_sdist
from frumious.shard import shard_of

from .helpers import mirror_dir, read, run, tree

STATE = (".frumious/", "frumious.sqlite", ".lock", "status", "todo", "web/last-modified")


def public(root: Path) -> dict[str, bytes]:
    """Every key a client or downstream sees, with its bytes (state files and the record left out)."""
    found = {}
    for key in tree(root):
        if key.startswith(STATE) or key in STATE:
            continue
        found[key] = (root / key).read_bytes()
    return found


@pytest.mark.parametrize("count", [1, 2, 4])
def test_shards_then_publish_build_the_tree_one_process_builds(
    fake_pypi: FakePyPI, make_config, tmp_path: Path, count: int
) -> None:
    (tmp_path / "single").mkdir()
    (tmp_path / "sharded").mkdir()
    single = make_config(tmp_path / "single", fake_pypi)
    assert run(single, "mirror") == 0
    sharded = make_config(tmp_path / "sharded", fake_pypi, shards=count)
    root = mirror_dir(sharded)
    for index in range(count):
        assert not (root / "status").exists()  # nothing is published before every shard finished
        assert run(sharded, "mirror", "--shard", f"{index}/{count}") == 0
    # The last shard to finish published: the serial once, the root index with every project once.
    assert read(root, "status") == str(fake_pypi.index.serial)
    assert public(root) == public(mirror_dir(single))
    for index in range(count):
        names = (root / f".frumious/shards/{index}-of-{count}/projects").read_text().split("\n")
        assert all(shard_of(line.split(" ")[0], count) == index for line in names if line)


def test_publish_waits_for_every_shard_and_names_the_one_behind(
    fake_pypi: FakePyPI, make_config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(tmp_path, fake_pypi, shards=2)
    root = mirror_dir(config)
    assert run(config, "mirror", "--shard", "1/2") == 0
    assert run(config, "publish") == 1
    assert "shard 0/2 has not finished a run yet" in capsys.readouterr().out
    assert not (root / "status").exists() and not (root / "web/simple/index.html").exists()
    assert run(config, "mirror", "--shard", "0/2") == 0
    assert read(root, "status") == str(fake_pypi.index.serial)
    capsys.readouterr()
    assert run(config, "publish") == 0  # nothing new since the shard's own publish: no failure
    assert "Nothing new to publish" in capsys.readouterr().out


def test_the_shard_index_comes_from_the_indexed_job_environment(
    fake_pypi: FakePyPI, make_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    config = make_config(tmp_path, fake_pypi)
    monkeypatch.delenv("JOB_COMPLETION_INDEX", raising=False)
    assert run(config, "mirror", "--shards", "2") == 2
    assert "JOB_COMPLETION_INDEX" in capsys.readouterr().err
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "7")
    assert run(config, "mirror", "--shards", "2") == 2
    assert "'7' is not a shard index from 0 to 1" in capsys.readouterr().err
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "1")
    assert run(config, "mirror", "--shards", "2") == 0
    assert (mirror_dir(config) / ".frumious/shards/1-of-2/status").exists()


def test_each_shard_writes_its_own_diff_file(fake_pypi: FakePyPI, make_config, tmp_path: Path) -> None:
    config = make_config(tmp_path, fake_pypi, shards=2, diff_file=tmp_path / "diff")
    for index in range(2):
        assert run(config, "mirror", "--shard", f"{index}/2") == 0
    written = [(tmp_path / f"diff-shard-{index}-of-2").read_text().splitlines() for index in range(2)]
    packages = [[line for line in lines if "/web/packages/" in line] for lines in written]
    assert packages[0] and packages[1] and not set(packages[0]) & set(packages[1])


def test_an_allowlist_is_narrowed_to_the_shards_projects(fake_pypi: FakePyPI, make_config, tmp_path: Path) -> None:
    names = ["foo-bar", "dep-lib", "yanky"]
    sections = {"plugins": {"enabled": ["allowlist_project"]}, "allowlist": {"packages": names}}
    config = make_config(tmp_path, fake_pypi, shards=2, sections=sections)
    for index in range(2):
        assert run(config, "mirror", "--shard", f"{index}/2") == 0
        held = (mirror_dir(config) / f".frumious/shards/{index}-of-2/projects").read_text().split()[::2]
        assert held == sorted(name for name in names if shard_of(name, 2) == index)
    root = (mirror_dir(config) / "web/simple/index.html").read_text()
    assert all(f">{name}<" in root for name in names)


def test_a_round_with_nothing_new_keeps_the_root_index(fake_pypi: FakePyPI, make_config, tmp_path: Path) -> None:
    config = make_config(tmp_path, fake_pypi, shards=2)
    root = mirror_dir(config)
    for _round in range(2):
        for index in range(2):
            assert run(config, "mirror", "--shard", f"{index}/2") == 0
        if _round == 0:
            page = root / "web/simple/index.v1_json"
            first = page.stat().st_ino
    assert page.stat().st_ino == first  # the second round changed no shard's projects: not rendered again
    published = (root / ".frumious/shards/published").read_text()
    assert '"runs": [2, 2]' in published


def test_shards_fetch_file_bytes_from_the_download_mirror(
    fake_pypi: FakePyPI, download_mirror: FakePyPI, make_config, tmp_path: Path
) -> None:
    config = make_config(tmp_path, fake_pypi, shards=2, **{"download-mirror": download_mirror.url})
    for index in range(2):
        assert run(config, "mirror", "--shard", f"{index}/2") == 0
    assert fake_pypi.downloads == []
    expected = {f.filename for p in fake_pypi.index.projects() for f in p.files()}
    assert {path.rsplit("/", 1)[-1] for path in download_mirror.downloads} >= expected


def test_a_shard_resumed_after_an_interruption_still_publishes_the_listings_serial(
    fake_pypi: FakePyPI, make_config, tmp_path: Path
) -> None:
    """Shard 1/2 holds only foo-bar, older than the listing's serial (yanky's, in shard 0)."""
    config = make_config(tmp_path, fake_pypi, shards=2, stop_on_error=True)
    root = mirror_dir(config)
    state = root / ".frumious/shards/1-of-2"
    fake_pypi.fail("*foo*", 403, times=None)  # not retried
    assert run(config, "mirror", "--shard", "1/2") == 1  # stopped at foo-bar, its todo left to resume
    assert (state / "todo").read_text().split("\n")[0] == str(fake_pypi.index.serial)
    fake_pypi.clear_faults()
    assert run(config, "mirror", "--shard", "1/2") == 0
    assert run(config, "mirror", "--shard", "0/2") == 0
    assert read(root, "status") == str(fake_pypi.index.serial)


def test_a_shards_pages_are_written_once_and_linked(fake_pypi: FakePyPI, make_config, tmp_path: Path) -> None:
    config = make_config(tmp_path, fake_pypi, shards=2)
    for index in range(2):
        assert run(config, "mirror", "--shard", f"{index}/2") == 0
    page = mirror_dir(config) / "web/simple/foo-bar"
    assert (page / "index.html").stat().st_ino == (page / "index.v1_html").stat().st_ino


def test_run_reports_name_the_shard_and_publish_names_the_shards_behind(
    fake_pypi: FakePyPI, make_config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    import jsonschema

    schema = json.loads((Path(__file__).parents[2] / "docs" / "report.schema.json").read_text())
    config = make_config(tmp_path, fake_pypi, shards=2)
    assert run(config, "mirror", "--shard", "1/2", "--json") == 0
    shard_run = json.loads(capsys.readouterr().out)
    jsonschema.validate(shard_run, schema)
    assert shard_run["shard"] == "1/2" and shard_run["serial"]["after"] == fake_pypi.index.serial
    assert run(config, "publish", "--json") == 1
    published = json.loads(capsys.readouterr().out)
    jsonschema.validate(published, schema)
    assert published["command"] == "publish" and published["outcome"] == "failed"
    assert published["shards"] == {"count": 2, "behind": {"0/2": "has not finished a run yet"}, "idle": []}
    assert published["serial"]["after"] == 0


def test_allowlisted_shards_publish_the_newest_serial_once_every_shard_ran(
    fake_pypi: FakePyPI, make_config, tmp_path: Path
) -> None:
    # Each allowlisted project is asked alone: a shard knows only its newest project's serial.
    names = ["foo-bar", "dep-lib", "yanky"]
    sections = {"plugins": {"enabled": ["allowlist_project"]}, "allowlist": {"packages": names}}
    config = make_config(tmp_path, fake_pypi, shards=2, sections=sections)
    root = mirror_dir(config)
    for index in range(2):
        assert run(config, "mirror", "--shard", f"{index}/2") == 0
    newest = max(fake_pypi.index.project(name).last_serial for name in names)
    serials = {int((root / f".frumious/shards/{i}-of-2/done").read_text().split()[1]) for i in range(2)}
    assert len(serials) == 2  # the shards' own serials differ: the lower is no shard behind
    assert read(root, "status") == str(newest)
    assert run(config, "publish") == 0
    # One shard runs again after a change upstream; the other has not: the serial waits for it.
    fake_pypi.index.add(names[0], "9.0", make_sdist(names[0], "9.0"))
    mover = shard_of(names[0], 2)
    assert run(config, "mirror", "--shard", f"{mover}/2") == 0
    assert read(root, "status") == str(newest)
    assert run(config, "publish") == 1
    assert run(config, "mirror", "--shard", f"{1 - mover}/2") == 0
    assert read(root, "status") == str(fake_pypi.index.serial)


def test_bad_shard_input_is_one_line_and_a_failed_publish_keeps_the_shards_run(
    fake_pypi: FakePyPI, make_config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    config = make_config(tmp_path, fake_pypi, shards=2)
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "\u00b2")  # a digit to str.isdigit, not a number
    assert run(config, "mirror") == 2
    assert "JOB_COMPLETION_INDEX" in capsys.readouterr().err
    assert run(config, "mirror", "--shards", "4") == 2
    assert "--shards 4, but [mirror] shards = 2" in capsys.readouterr().err
    root = mirror_dir(config)
    assert run(config, "mirror", "--shard", "0/2") == 0
    (root / "status").write_text("not a serial")  # the publish that the last shard tries fails on it
    assert run(config, "mirror", "--shard", "1/2") == 0
    assert (root / ".frumious/shards/1-of-2/done").exists()
    assert run(config, "publish") == 1
    assert "status holds 'not a serial'" in capsys.readouterr().err
