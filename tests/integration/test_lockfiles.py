"""Lock files written by the real tools as the allowlist: a mirror in exact mode holds exactly the
locked files, and uv and pip install from it (``frumious serve``, no other index).

uv, poetry, pdm and ``pip lock`` lock a consumer project against the fake PyPI; ``frumious mirror``
reads them all through one glob per format; then the fake is stopped and ``uv sync --frozen`` and
``pip install --require-hashes -r`` run in fresh venvs against ``frumious serve``.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fakepypi import FakeIndex, make_sdist, make_wheel, run_fake_pypi, write_config

from .helpers import mirror_dir, packages
from .nginx import free_port
from .test_clients import SERVE, _wait_listening, clean_env, installed, need
from .test_clients import run as run_tool

CONSUMER = """\
[project]
name = "consumer"
version = "0.1.0"
requires-python = ">={major}.{minor}"
dependencies = ["demo-app[fast]"]

[project.optional-dependencies]
src = ["demo-app[src]"]
"""
POETRY_SOURCE = (
    '\n[tool.poetry]\npackage-mode = false\n\n[[tool.poetry.source]]\nname = "m"\nurl = "{url}"\npriority = "primary"\n'
)
PDM_SOURCE = '\n[tool.pdm]\ndistribution = false\n\n[[tool.pdm.source]]\nname = "pypi"\nurl = "{url}"\n'
TAMPERED = "unrelated==1.0 --hash=sha256:" + "0" * 64 + "\n"

# What the locks pin (uv, poetry and pdm lock the consumer; pip lock locks `dep-a==1.0 speedup`).
LOCKED = {
    "demo_app-2.0-py3-none-any.whl",
    "demo_app-2.0.tar.gz",
    "dep_a-1.1-py3-none-any.whl",
    "dep_a-1.1.tar.gz",
    "dep_a-1.0-py3-none-any.whl",
    "speedup-0.5-py3-none-any.whl",
    "winonly-1.0-py3-none-win_amd64.whl",  # locked for Windows (a marker): mirrored, never installed here
    "sdistonly-2.0.tar.gz",  # an sdist-only project behind the `src` extra
}
INSTALLED = {"demo-app": "2.0", "dep-a": "1.1", "speedup": "0.5"}


def upstream() -> FakeIndex:
    index = FakeIndex()
    for version in ("1.0", "1.1"):
        index.add("dep-a", version, make_wheel("dep-a", version), make_sdist("dep-a", version))
    index.add("speedup", "0.5", make_wheel("speedup", "0.5"))
    index.add("speedup", "0.4", make_wheel("speedup", "0.4"))
    index.add("winonly", "1.0", make_wheel("winonly", "1.0", tag="py3-none-win_amd64"))
    index.add("sdistonly", "2.0", make_sdist("sdistonly", "2.0"))
    index.add("unrelated", "1.0", make_wheel("unrelated", "1.0"))
    requires = ["dep-a>=1.0", 'winonly; sys_platform == "win32"']
    extras = {"fast": ["speedup>=0.5"], "src": ["sdistonly"]}
    index.add("Demo.App", "1.0", make_wheel("Demo.App", "1.0", requires=requires))
    index.add(
        "Demo.App",
        "2.0",
        make_wheel("Demo.App", "2.0", requires=requires, extras=extras),
        make_sdist("Demo.App", "2.0"),
    )
    return index


def lock_with_every_tool(repos: Path, url: str, env: dict[str, str]) -> None:
    consumer = CONSUMER.format(major=sys.version_info.major, minor=sys.version_info.minor)
    for tool, extra in (("uv", ""), ("poetry", POETRY_SOURCE), ("pdm", PDM_SOURCE), ("pip", "")):
        (repos / tool).mkdir(parents=True)
        (repos / tool / "pyproject.toml").write_text(consumer + extra.format(url=url))
    run_tool([str(need("uv")), "lock", "--index-url", url], env, cwd=repos / "uv")
    (repos / "uv-export").mkdir()
    export = [
        str(need("uv")),
        "export",
        "--frozen",
        "--format",
        "requirements-txt",
        "-o",
        "../uv-export/requirements.txt",
    ]
    run_tool(export, env, cwd=repos / "uv")
    run_tool([str(need("poetry")), "lock", "--no-interaction"], env, cwd=repos / "poetry")
    run_tool([str(need("pdm")), "lock", "-G", ":all"], env, cwd=repos / "pdm")
    # pip lock builds sdists for their metadata, and the fake has no setuptools to build with: it
    # locks two wheel-only requirements instead of the consumer.
    pip_lock = [sys.executable, "-m", "pip", "lock", "--isolated", "--index-url", url, "-o", "pylock.toml"]
    run_tool([*pip_lock, "dep-a==1.0", "speedup"], env, cwd=repos / "pip")
    (repos / "tampered").mkdir()
    (repos / "tampered" / "requirements.txt").write_text(TAMPERED)


@dataclass
class Built:
    config: Path
    repos: Path
    upstream_url: str
    paths: list[str]
    log: str


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    base = tmp_path_factory.mktemp("locks")
    repos, env = base / "repos", clean_env(base / "home")
    with run_fake_pypi(upstream()) as pypi:
        lock_with_every_tool(repos, f"{pypi.url}/simple/", env)
        globs = [
            f"{repos}/*/{name}" for name in ("uv.lock", "poetry.lock", "pdm.lock", "pylock.toml", "requirements.txt")
        ]
        sections = {"plugins": {"enabled": ["lockfiles"]}, "allowlist": {"lockfiles": globs}}
        config = write_config(base, pypi, sections=sections)
        pypi.reset_log()
        done = subprocess.run(
            [sys.executable, "-m", "frumious", "-c", str(config), "mirror"], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        paths, url = pypi.paths(), pypi.url
    return Built(config, repos, url, paths, done.stderr + done.stdout)  # the fake upstream is gone from here on


def test_exact_mode_mirrors_exactly_the_locked_files(built: Built) -> None:
    assert packages(mirror_dir(built.config)) - {f"{f}.metadata" for f in LOCKED} == LOCKED
    # A lock-based mirror asks for its projects only, never the full listing.
    assert "/simple/" not in built.paths and "/simple" not in built.paths
    # The tampered requirement's hash matches no upstream file: nothing of it is mirrored, and the run says so.
    assert "unrelated==1.0" in built.log and "none mirrored" in built.log


@pytest.fixture(scope="module")
def served(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``frumious serve`` over the mirror (the fake upstream is stopped)."""
    port, log = free_port(), tmp_path_factory.mktemp("serve") / "access.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-c", SERVE, str(built.config), str(port)], stdout=out, stderr=out)
    try:
        _wait_listening(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0, log.read_text()


def test_uv_sync_frozen_installs_from_the_mirror(built: Built, served: str, tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    project = built.repos / "uv"
    # The lock names its index; a site locks against its mirror, which has the same paths.
    lock = project / "uv.lock"
    lock.write_text(lock.read_text().replace(built.upstream_url, served))
    env["UV_PROJECT_ENVIRONMENT"] = str(tmp_path / "venv")
    run_tool([str(need("uv")), "sync", "--frozen", "--no-cache", "--python", sys.executable], env, cwd=project)
    assert installed(tmp_path / "venv" / "bin" / "python") == INSTALLED


def test_pip_installs_the_hashed_requirements_from_the_mirror(built: Built, served: str, tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    venv = tmp_path / "venv"
    run_tool([sys.executable, "-m", "venv", "--without-pip", str(venv)], env)
    requirements = built.repos / "uv-export" / "requirements.txt"
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-cache-dir"]
    run_tool([*pip, "--isolated", "--index-url", f"{served}/simple/", "--require-hashes", "-r", str(requirements)], env)
    assert installed(venv / "bin" / "python") == INSTALLED
