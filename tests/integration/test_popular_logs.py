"""``frumious popular`` on the logs a real ``frumious serve`` and a real nginx write while pip
installs from them; the allowlist it writes drives a mirror run that takes exactly those projects.
"""

from __future__ import annotations

import gzip
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakepypi import FakePyPI, run_fake_pypi, write_config

from .helpers import first_page
from .nginx import free_port, require_nginx, run_nginx
from .test_clients import clean_env, demo_index, installed, run

FRUMIOUS = [sys.executable, "-m", "frumious"]


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakePyPI]:
    with run_fake_pypi(demo_index()) as pypi:
        yield pypi


@pytest.fixture(scope="module")
def full_mirror(tmp_path_factory: pytest.TempPathFactory, upstream: FakePyPI) -> Path:
    base = tmp_path_factory.mktemp("full")
    config = write_config(base, upstream)
    done = subprocess.run([*FRUMIOUS, "-c", str(config), "mirror"], capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    return config


def _traffic(url: str, tmp_path: Path) -> None:
    """pip installs demo-app[fast] (a page each for demo-app, dep-a, speedup); dep-a is asked twice more."""
    env = clean_env(tmp_path)
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], env)
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-cache-dir"]
    run([*pip, "--isolated", "--index-url", f"{url}/simple/", "demo-app[fast]"], env)
    assert "demo-app" in installed(venv / "bin" / "python")
    for _ in range(2):
        with urllib.request.urlopen(f"{url}/simple/dep-a/", timeout=10) as response:
            assert response.status == 200


def _serve_log(config: Path, work: Path) -> Path:
    """The stderr of a real ``frumious serve``: its access lines among its own log lines."""
    port, log = free_port(), work / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen([*FRUMIOUS, "-c", str(config), "serve", "--port", str(port)], stderr=out)
    try:
        first_page(server, port, "dep-a")
        _traffic(f"http://127.0.0.1:{port}", work)
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(20) == 0
    return log


def _nginx_log(config: Path, work: Path) -> Path:
    require_nginx()
    with run_nginx(config.parent / "mirror" / "web", work / "nginx") as nginx:
        urllib.request.urlopen(f"{nginx.url}/simple/dep-a/", timeout=10).close()
        _traffic(nginx.url, work)
    return nginx.access_log


@pytest.mark.parametrize("kind", ["frumious", "nginx"])
def test_popular_reads_real_logs_and_its_allowlist_drives_a_mirror(
    kind: str, full_mirror: Path, upstream: FakePyPI, tmp_path: Path
) -> None:
    log = (_serve_log if kind == "frumious" else _nginx_log)(full_mirror, tmp_path)
    # Rotated as logrotate does: yesterday's part gzipped, today's plain.
    lines = log.read_text().splitlines(keepends=True)
    half = len(lines) // 2
    rotated = tmp_path / "logs" / "access.log.1.gz"
    rotated.parent.mkdir()
    rotated.write_bytes(gzip.compress("".join(lines[:half]).encode()))
    (current := tmp_path / "logs" / "access.log").write_text("".join(lines[half:]))
    allowlist = tmp_path / "lists" / "popular.txt"
    allowlist.parent.mkdir()
    args = [*FRUMIOUS, "-c", str(full_mirror), "popular", "--top", "2", "--days", "1", "-o", str(allowlist)]
    done = subprocess.run([*args, str(current), str(rotated)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    kept = [line.split("#")[0].strip() for line in allowlist.read_text().splitlines() if not line.startswith("#")]
    assert kept == ["dep-a", "demo-app"]  # dep-a: 3 or 4 pages; demo-app, speedup: 1 each, tie by name
    if kind == "frumious":  # serve's own log lines share its stderr: counted and named, never a traceback
        assert "unparseable line(s)" in done.stderr

    (base := tmp_path / "from-popular").mkdir()
    sections = {
        "plugins": {"enabled": ["project_requirements"]},
        "allowlist": {"requirements_path": allowlist.parent, "requirements": ["popular.txt"]},
    }
    config = write_config(base, upstream, sections=sections)
    mirrored = subprocess.run([*FRUMIOUS, "-c", str(config), "mirror"], capture_output=True, text=True)
    assert mirrored.returncode == 0, mirrored.stderr
    simple = base / "mirror" / "web" / "simple"
    assert sorted(p.name for p in simple.iterdir() if p.is_dir()) == ["demo-app", "dep-a"]


def test_no_counted_request_writes_nothing(full_mirror: Path, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text("not a log line\n")
    target = tmp_path / "keep.txt"
    target.write_text("flask\n")
    done = subprocess.run([*FRUMIOUS, "-c", str(full_mirror), "popular", "-o", str(target), str(log)],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"frumious: skipped 1 unparseable line(s) of 1 (the first at {log}:1)",
        "frumious: no pages counted in the last 30 days; nothing written",
    ]
    assert target.read_text() == "flask\n"  # a cron job's empty log never empties the allowlist
    missing = subprocess.run([*FRUMIOUS, "-c", str(full_mirror), "popular", str(tmp_path / "nope.log")],
                             capture_output=True, text=True)  # fmt: skip
    assert missing.returncode == 1
    assert (
        missing.stderr.strip()
        == f"frumious: cannot read the access log {tmp_path / 'nope.log'}: No such file or directory"
    )
