"""Config mistakes through the CLI: one line each naming the problem, exit 2, no traceback, nothing written."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from integration.helpers import run

HALF_VALID_LOG_CONFIG = (
    "[loggers]\nkeys=root\n[handlers]\nkeys=h\n[formatters]\nkeys=\n"
    "[logger_root]\nhandlers=h\n[handler_h]\nclass=NoSuchHandler\nargs=()\n"
)


def config_errors(err: str) -> list[str]:
    assert "Traceback" not in err
    return [line for line in err.splitlines() if line.startswith("config error:")]


@pytest.mark.parametrize(
    ("keys", "fragment"),
    [
        # /proc cannot be written anyway, so the test is harmless even where the guard is missing.
        ({"directory": "/proc/frumious-mirror"}, "[mirror] directory: '/proc/frumious-mirror' is a system directory"),
        ({"master": "http://127.0.0.1 :1"}, "[mirror] master: 'http://127.0.0.1 :1' is not an http(s) URL"),
        ({"download_mirror": "https://"}, "[mirror] download-mirror: 'https://' is not a URL with a host"),
    ],
)
def test_bad_values_are_one_line_and_exit_2(fake_pypi, make_config, tmp_path, capsys, keys, fragment) -> None:
    config = make_config(tmp_path, fake_pypi, **keys)
    assert run(config, "mirror") == 2
    errors = config_errors(capsys.readouterr().err)
    assert len(errors) == 1 and fragment in errors[0], errors
    assert fake_pypi.requests == []


def test_a_directory_that_is_a_file(fake_pypi, make_config, tmp_path, capsys) -> None:
    afile = tmp_path / "mirror"
    afile.write_text("my notes")
    config = make_config(tmp_path, fake_pypi, directory=afile)
    assert run(config, "mirror") == 2
    assert config_errors(capsys.readouterr().err) == [
        f"config error: [mirror] directory: {str(afile)!r} is a file, not a directory"
    ]
    assert afile.read_text() == "my notes"


def test_log_config_missing_or_unusable(fake_pypi, make_config, tmp_path, capsys) -> None:
    log_config = tmp_path / "logging.conf"
    config = make_config(tmp_path, fake_pypi, log_config=log_config)
    assert run(config, "mirror") == 2
    assert config_errors(capsys.readouterr().err) == [f"config error: [mirror] log-config: {log_config} does not exist"]
    # Sections all there, but logging cannot build the handler: still one line, exit 2.
    log_config.write_text(HALF_VALID_LOG_CONFIG)
    assert run(config, "mirror") == 2
    errors = config_errors(capsys.readouterr().err)
    assert len(errors) == 1 and "is not a usable logging config" in errors[0], errors
    assert not (tmp_path / "mirror").exists()


@pytest.mark.parametrize(("backend", "module"), [("s3", "boto3"), ("swift", "swiftclient")])
def test_a_missing_storage_extra_names_the_pip_command(
    fake_pypi, make_config, tmp_path, capsys, monkeypatch, backend, module
) -> None:
    # None in sys.modules makes "import boto3" raise ImportError, as on a machine without the extra.
    monkeypatch.setitem(sys.modules, module, None)
    monkeypatch.delitem(sys.modules, f"frumious.storage.{backend}", raising=False)
    config = make_config(tmp_path, fake_pypi, storage_backend=backend, directory="/bucket/mirror")
    assert run(config, "mirror") == 2
    errors = config_errors(capsys.readouterr().err)
    assert errors == [
        f"config error: [mirror] storage-backend: {backend} needs the {backend} extra ({module} is not installed); "
        f"install it with: pip install 'frumious[{backend}]'"
    ]


def test_unreadable_log_config_is_a_config_error(fake_pypi, make_config, tmp_path: Path, capsys) -> None:
    log_config = tmp_path / "logging.d"
    log_config.mkdir()
    config = make_config(tmp_path, fake_pypi, log_config=log_config)
    assert run(config, "mirror") == 2
    errors = config_errors(capsys.readouterr().err)
    assert errors == [f"config error: [mirror] log-config: cannot read {log_config}: Is a directory"]
