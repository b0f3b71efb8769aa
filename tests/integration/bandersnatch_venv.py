"""A real bandersnatch 6.8.0 (the newest that runs on Python 3.11) in a cached venv.

``ensure_bandersnatch()`` returns its ``bandersnatch`` executable, installing it from PyPI
with pip the first time. The venv lives in ``$FRUMIOUS_TEST_CACHE`` or
``${XDG_CACHE_HOME:-~/.cache}/frumious-tests`` and is reused while
``bandersnatch --version`` still answers 6.8.0; a file lock serialises concurrent builders.
``run_bandersnatch()`` runs it on a config file in a subprocess with a timeout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from filelock import FileLock

__all__ = ["BANDERSNATCH_VERSION", "BandersnatchUnavailable", "ensure_bandersnatch", "run_bandersnatch", "venv_dir"]

BANDERSNATCH_VERSION = "6.8.0"
INSTALL_TIMEOUT = 900
RUN_TIMEOUT = 120
_BIN = "Scripts" if os.name == "nt" else "bin"


class BandersnatchUnavailable(RuntimeError):
    """pip could not give us a working bandersnatch."""


def cache_root() -> Path:
    explicit = os.environ.get("FRUMIOUS_TEST_CACHE")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "frumious-tests"


def venv_dir() -> Path:
    """One venv per bandersnatch version and Python minor version."""
    return cache_root() / f"bandersnatch-{BANDERSNATCH_VERSION}-py{sys.version_info[0]}.{sys.version_info[1]}"


def _executable(venv: Path) -> Path:
    return venv / _BIN / "bandersnatch"


def _clean_env() -> dict[str, str]:
    """Our environment without what would leak this interpreter's setup into the venv's."""
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


def _works(venv: Path) -> bool:
    exe = _executable(venv)
    if not exe.exists():
        return False
    try:
        done = subprocess.run([str(exe), "--version"], capture_output=True, text=True, timeout=60, env=_clean_env())
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and BANDERSNATCH_VERSION in done.stdout + done.stderr


def _step(args: list[str], what: str) -> None:
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, env=_clean_env())
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BandersnatchUnavailable(f"{what} failed: {exc}") from exc
    if done.returncode != 0:
        output = (done.stdout + done.stderr)[-4000:]
        raise BandersnatchUnavailable(f"{what} failed (exit {done.returncode}):\n{output}")


def ensure_bandersnatch() -> Path:
    """The cached bandersnatch executable, built (venv + pip install) if missing or broken."""
    venv = venv_dir()
    if _works(venv):
        return _executable(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(venv) + ".lock", timeout=INSTALL_TIMEOUT + 60):
        if _works(venv):  # another process built it while we waited
            return _executable(venv)
        # A venv is not relocatable (its scripts name their interpreter), so build in place.
        shutil.rmtree(venv, ignore_errors=True)
        try:
            _step([sys.executable, "-m", "venv", str(venv)], f"python -m venv {venv}")
            pip = [str(venv / _BIN / "python"), "-m", "pip", "install", "--disable-pip-version-check", "--no-input"]
            _step([*pip, f"bandersnatch=={BANDERSNATCH_VERSION}"], f"pip install bandersnatch=={BANDERSNATCH_VERSION}")
            if not _works(venv):
                raise BandersnatchUnavailable(f"{_executable(venv)} --version does not answer {BANDERSNATCH_VERSION}")
        except BaseException:
            shutil.rmtree(venv, ignore_errors=True)
            raise
    return _executable(venv)


def run_bandersnatch(exe: Path, config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``bandersnatch -c config mirror ARGS`` (args include the subcommand), output captured.

    TMPDIR points into the config's directory: ``mirror --force-check`` moves the status
    file to ``$TMPDIR/status``, which must not be a shared /tmp.
    """
    tmp = config.parent / "bandersnatch-tmp"
    tmp.mkdir(exist_ok=True)
    env = {**_clean_env(), "TMPDIR": str(tmp)}
    return subprocess.run(
        [str(exe), "-c", str(config), *args],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        env=env,
        cwd=config.parent,
    )
