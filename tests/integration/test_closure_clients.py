"""pip and uv install a dependency closure from ``frumious serve``, the only index, in each target.

The fake PyPI holds ``requests``- and ``django``-like trees (``fakepypi.closure``); ``frumious
mirror`` with ``[allowlist] closure = true`` copies what two targets need, and no more; pip
downloads for each target (``--platform``/``--python-version``), pip and uv install natively,
and uv resolves for Windows.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakepypi import run_fake_pypi, write_config
from fakepypi.closure import CLOSURE_TARGETS, EXPECTED_CLOSURE, closure_index

from .nginx import free_port
from .test_clients import BIN, SERVE, _wait_listening, clean_env, installed, run

ROOTS = ["requests", "django"]


@pytest.fixture(scope="module")
def index_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = tmp_path_factory.mktemp("closure")
    sections = {
        "plugins": {"enabled": ["allowlist_project", "blocklist_project"]},
        "allowlist": {"closure": True, "packages": ["requests[socks]", "django"]},
        "blocklist": {"packages": "pysocks"},
        "closure": {"environments": ", ".join(CLOSURE_TARGETS)},
    }
    with run_fake_pypi(closure_index()) as pypi:
        config = write_config(base, pypi, sections=sections)
        done = subprocess.run([sys.executable, "-m", "frumious", "-c", str(config), "mirror"], capture_output=True)
    output = done.stdout.decode() + done.stderr.decode()
    assert done.returncode == 0, output
    assert "Dependency closure holes (needed but not mirrored): 2" in output
    assert "pysocks (needed by requests 2.32.3 for cp311-win_amd64) is excluded by blocklist_project" in output
    assert {p.name for p in (base / "mirror" / "web" / "simple").iterdir() if p.is_dir()} == EXPECTED_CLOSURE
    port, log = free_port(), base / "access.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-c", SERVE, str(config), str(port)], stdout=out, stderr=out)
    try:
        _wait_listening(port, process)
        yield f"http://127.0.0.1:{port}/simple/"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(20)


@pytest.mark.parametrize(
    ("platform", "python", "expected"),
    [
        ("manylinux_2_17_x86_64", "3.12", {"charset_normalizer-3.3.2-cp312-cp312-manylinux_2_17_x86_64.whl"}),
        # pip evaluates sys_platform markers for the running machine, not --platform: no tzdata here (uv's below).
        ("win_amd64", "3.11", {"charset_normalizer-3.3.2-cp311-cp311-win_amd64.whl",
                               "typing_extensions-4.12.0-py3-none-any.whl"}),
    ],
)  # fmt: skip
def test_pip_downloads_each_target_from_the_closure(
    index_url: str, tmp_path: Path, platform: str, python: str, expected: set[str]
) -> None:
    target = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip", "download", "--no-cache-dir", "--isolated", "--index-url", index_url]
    abi = "cp" + python.replace(".", "")
    options = ["--only-binary=:all:", "--platform", platform, "--python-version", python, "--abi", abi]
    run([*pip, *options, "-d", str(target), *ROOTS], clean_env(tmp_path))
    got = {p.name for p in target.iterdir()}
    assert expected <= got, got
    assert {name.split("-")[0].replace("_", "-") for name in got} <= EXPECTED_CLOSURE


def test_pip_and_uv_install_natively_from_the_closure(index_url: str, tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    for tool in ("pip", "uv"):
        venv = tmp_path / f"venv-{tool}"
        run([sys.executable, "-m", "venv", "--without-pip", str(venv)], env)
        python = venv / "bin" / "python"
        if tool == "pip":
            install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-cache-dir", "--isolated"]
        else:
            install = [str(BIN / "uv"), "pip", "install", "--python", str(python), "--no-cache"]
        run([*install, "--index-url", index_url, *ROOTS], env)
        assert {"requests", "django", "asgiref", "urllib3"} <= set(installed(python)), tool


def test_uv_resolves_for_windows_from_the_closure(index_url: str, tmp_path: Path) -> None:
    (tmp_path / "requirements.in").write_text("requests\ndjango\n")
    uv = [str(BIN / "uv"), "pip", "compile", "--no-cache", "--index-url", index_url, "--python-platform", "windows"]
    out = run([*uv, "--python-version", "3.11", str(tmp_path / "requirements.in")], clean_env(tmp_path))
    assert "tzdata==2024.1" in out and "typing-extensions==4.12.0" in out
