"""The command line: config handling, exit codes, the lock, output."""

from __future__ import annotations

import filelock
import pytest

from frumious import config as config_module
from frumious.cli import main

from .helpers import mirror_dir, run


def test_missing_config_writes_the_example_and_exits_1(tmp_path, capsys) -> None:
    path = tmp_path / "etc" / "frumious.conf"
    assert main(["-c", str(path), "mirror"]) == 1
    assert path.read_text() == config_module.EXAMPLE_CONFIG
    assert "wrote an example" in capsys.readouterr().err


def test_missing_config_in_unwritable_place_prints_the_example(tmp_path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["-c", str(blocker / "frumious.conf"), "mirror"]) == 1
    captured = capsys.readouterr()
    assert "[mirror]" in captured.out and "not writable" in captured.err


def test_config_errors_exit_2_listing_every_problem(tmp_path, capsys) -> None:
    path = tmp_path / "bad.conf"
    path.write_text("[mirror]\ndirectory = /x\nworkers = 99\ncompare-method = fast\n")
    assert main(["-c", str(path), "mirror"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("config error:")]
    assert len(errors) == 2
    assert any("workers" in line for line in errors) and any("compare-method" in line for line in errors)


def test_version_and_help(capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert "frumious" in capsys.readouterr().out
    assert main([]) == 1


def test_a_second_run_exits_at_once_while_the_lock_is_held(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi)
    root = mirror_dir(config)
    root.mkdir()
    with filelock.FileLock(str(root / ".lock")):
        assert run(config, "mirror") == 1
    assert "another run holds" in capsys.readouterr().err
    assert fake_pypi.requests == []


def test_summary_names_failed_projects(fake_pypi, make_config, tmp_path, capsys) -> None:
    fake_pypi.fail("/simple/yanky/", 403, times=None)
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 1
    out = capsys.readouterr().out
    assert "1 failed" in out
    assert "yanky: HTTP 403" in out


def test_log_lines_use_bandersnatch_format(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    err = capsys.readouterr().err
    line = next(line for line in err.splitlines() if "Syncing" in line)
    assert " INFO: Syncing 3 project(s)" in line and line.rstrip().endswith(")")


def test_log_config_is_honoured(fake_pypi, make_config, tmp_path) -> None:
    log_file = tmp_path / "frumious.log"
    log_config = tmp_path / "logging.conf"
    log_config.write_text(
        "[loggers]\nkeys=root\n[handlers]\nkeys=file\n[formatters]\nkeys=plain\n"
        "[logger_root]\nlevel=INFO\nhandlers=file\n"
        f"[handler_file]\nclass=FileHandler\nformatter=plain\nargs=('{log_file}',)\n"
        "[formatter_plain]\nformat=CUSTOM %(message)s\n"
    )
    config = make_config(tmp_path, fake_pypi, log_config=str(log_config))
    assert run(config, "mirror") == 0
    assert "CUSTOM Syncing 3 project(s)" in log_file.read_text()
