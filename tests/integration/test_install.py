"""Installable as documented: ``python -m build`` makes an sdist and a wheel (the wheel built from
the sdist, so the sdist holds what a build needs); the wheel installs into a fresh venv with its
dependencies from the package registry; the console script runs, mirrors the fake PyPI, and the
example config ships inside the package."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from frumious import __version__

from .helpers import mirror_dir

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def clean_env() -> dict[str, str]:
    """The environment without the checkout on PYTHONPATH, so only the installed copy can run."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def check(command: list[str], cwd: Path, timeout: float = 600) -> str:
    result = subprocess.run(command, cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{command} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    pytest.importorskip("build", reason="the test extra is not installed: pip install -e '.[test]'")
    dist = tmp_path_factory.mktemp("dist")
    # Plain `python -m build`: the sdist first, then the wheel built from the unpacked sdist.
    check([sys.executable, "-m", "build", "--outdir", str(dist), str(ROOT)], cwd=dist)
    (sdist,) = dist.glob("frumious-*.tar.gz")
    (wheel,) = dist.glob("frumious-*.whl")
    return sdist, wheel


@pytest.fixture(scope="module")
def venv(built: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("venv")
    check([sys.executable, "-m", "venv", str(home / "env")], cwd=home)
    check([str(home / "env" / "bin" / "pip"), "install", "-q", str(built[1])], cwd=home)
    return home / "env" / "bin"


def test_the_sdist_and_wheel_carry_the_package_and_its_data(built: tuple[Path, Path]) -> None:
    sdist, wheel = built
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    assert {"pyproject.toml", "README.md", "src/frumious/config/example.conf", "src/frumious/cli/__init__.py"} <= names
    with zipfile.ZipFile(wheel) as whl:
        members = set(whl.namelist())
    assert {"frumious/config/example.conf", "frumious/py.typed", "frumious/cli/reference.py"} <= members
    assert not [m for m in members if m.startswith(("tests/", "docs/"))]


def test_the_console_script_runs_from_a_fresh_venv(venv: Path, tmp_path: Path) -> None:
    assert check([str(venv / "frumious"), "--version"], cwd=tmp_path).strip() == f"frumious {__version__}"
    assert "mirror" in check([str(venv / "frumious"), "--help"], cwd=tmp_path)
    where = check([str(venv / "python"), "-c", "import frumious; print(frumious.__file__)"], cwd=tmp_path)
    assert str(ROOT) not in where  # the installed copy, not the checkout


def test_the_example_config_is_in_the_installed_package(venv: Path, tmp_path: Path) -> None:
    script = (
        "from importlib import resources\n"
        "from frumious import config\n"
        "text = resources.files('frumious.config').joinpath('example.conf').read_text()\n"
        "assert text == config.EXAMPLE_CONFIG\n"
        "print(config.loads(text).mirror.directory)\n"
    )
    assert check([str(venv / "python"), "-c", script], cwd=tmp_path).strip() == "/srv/pypi"
    # With no config file, the script writes the example there, as the docs say.
    written = tmp_path / "frumious.conf"
    result = subprocess.run(
        [str(venv / "frumious"), "-c", str(written), "mirror"], env=clean_env(), capture_output=True, text=True
    )
    assert result.returncode == 1 and "wrote an example" in result.stderr
    assert "[mirror]" in written.read_text()


def test_the_installed_script_mirrors_the_fake_pypi(venv: Path, fake_pypi, make_config, tmp_path: Path) -> None:
    config = make_config(tmp_path, fake_pypi)
    check([str(venv / "frumious"), "-c", str(config), "mirror"], cwd=tmp_path, timeout=120)
    assert (mirror_dir(config) / "web" / "simple" / "index.html").exists()
    assert int((mirror_dir(config) / "status").read_text()) == fake_pypi.index.serial
