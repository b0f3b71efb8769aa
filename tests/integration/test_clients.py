"""Real clients install from a mirror built by ``frumious mirror`` and served two ways.

The fake PyPI holds a small dependency tree; ``frumious mirror`` copies it; the tree is
served by ``frumious serve`` (a subprocess running ``serving.run_serve``) and by nginx with the
documented config. pip and uv install into fresh venvs and poetry locks, with the mirror
as the only index and no network. Checked: the versions chosen (yanked and
Requires-Python-excluded releases skipped, the extra's dependency pulled in) and, from the
server's access log, that resolution read ``.metadata`` sidecars instead of wheels.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from fakepypi import FakeIndex, make_wheel, run_fake_pypi, write_config

from .nginx import free_port, require_nginx, run_nginx

PY = sys.version_info
TOO_NEW = f">={PY.major}.{PY.minor + 1}"  # excludes the running Python
EXPECTED = {"demo-app": "2.0", "dep-a": "1.0", "speedup": "0.5"}
CHOSEN_WHEELS = {"demo_app-2.0-py3-none-any.whl", "dep_a-1.0-py3-none-any.whl", "speedup-0.5-py3-none-any.whl"}
SKIPPED_WHEELS = {
    "demo_app-1.0-py3-none-any.whl",  # older
    "demo_app-2.1-py3-none-any.whl",  # yanked
    "demo_app-3.0-py3-none-any.whl",  # Requires-Python excludes this interpreter
    "dep_a-1.1-py3-none-any.whl",  # yanked
    "unrelated-1.0-py3-none-any.whl",
}
BIN = Path(sys.executable).parent


def demo_index() -> FakeIndex:
    index = FakeIndex()
    index.add("dep-a", "1.0", make_wheel("dep-a", "1.0"))
    index.add("dep-a", "1.1", make_wheel("dep-a", "1.1"))
    index.yank("dep-a", "1.1", "broken")
    index.add("speedup", "0.5", make_wheel("speedup", "0.5"))
    index.add("unrelated", "1.0", make_wheel("unrelated", "1.0"))
    fast = {"fast": ["speedup>=0.5"]}
    index.add("Demo.App", "1.0", make_wheel("Demo.App", "1.0", requires=["dep-a>=1.0"]))
    index.add("Demo.App", "2.0", make_wheel("Demo.App", "2.0", requires=["dep-a>=1.0"], extras=fast))
    index.add("Demo.App", "2.1", make_wheel("Demo.App", "2.1", requires=["dep-a>=1.0"], extras=fast))
    index.yank("Demo.App", "2.1", "do not use")
    too_new = make_wheel("Demo.App", "3.0", requires=["dep-a>=1.0"], extras=fast, requires_python=TOO_NEW)
    index.add("Demo.App", "3.0", too_new)
    return index


def clean_env(home: Path) -> dict[str, str]:
    """No user config, no proxies, no index but the one on the command line."""
    keep = {"PATH", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT"}
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        HOME=str(home),
        XDG_CACHE_HOME=str(home / "cache"),
        XDG_CONFIG_HOME=str(home / "config"),
        PIP_CONFIG_FILE=os.devnull,
        PIP_NO_INPUT="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        UV_NO_CONFIG="1",
        UV_PYTHON_DOWNLOADS="never",
        UV_CACHE_DIR=str(home / "uv-cache"),
        POETRY_CACHE_DIR=str(home / "poetry-cache"),
        POETRY_CONFIG_DIR=str(home / "poetry-config"),
        POETRY_DATA_DIR=str(home / "poetry-data"),
        POETRY_VIRTUALENVS_CREATE="false",  # lock needs no venv; creating one costs seconds
        NO_COLOR="1",
    )
    return env


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The config of a mirror that ``frumious mirror`` built from the fake PyPI."""
    base = tmp_path_factory.mktemp("clients")
    with run_fake_pypi(demo_index()) as pypi:
        config = write_config(base, pypi, json=True)
        done = subprocess.run([sys.executable, "-m", "frumious", "-c", str(config), "mirror"], capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    assert (base / "mirror" / "web" / "simple" / "demo-app" / "index.v1_json").exists()
    return config


@dataclass
class Server:
    name: str
    url: str
    log: Path

    def requests(self, since: int) -> list[tuple[str, str, int]]:
        """(method, path, status) of the access-log lines after line ``since``."""
        found = []
        for line in self.log.read_text().splitlines()[since:]:
            if match := re.search(r'"(GET|HEAD) (\S+) HTTP/[\d.]+" (\d{3})', line):
                found.append((match[1], match[2], int(match[3])))
        return found

    def mark(self) -> int:
        return len(self.log.read_text().splitlines()) if self.log.exists() else 0


SERVE = """
import logging, sys
from frumious import config
from frumious.cli.serving import run_serve
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
sys.exit(run_serve(config.load(sys.argv[1]), "127.0.0.1", int(sys.argv[2]), "/", 1))
"""


def _wait_listening(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        assert process.poll() is None, "frumious serve exited early"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("frumious serve did not start listening")


@pytest.fixture(scope="module", params=["frumious", "nginx"])
def server(request: pytest.FixtureRequest, mirror: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    work = tmp_path_factory.mktemp(request.param)
    if request.param == "nginx":
        require_nginx()
        with run_nginx(mirror.parent / "mirror" / "web", work) as nginx:
            yield Server("nginx", nginx.url, nginx.access_log)
        return
    port, log = free_port(), work / "access.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-c", SERVE, str(mirror), str(port)], stdout=out, stderr=out)
    try:
        _wait_listening(port, process)
        yield Server("frumious", f"http://127.0.0.1:{port}", log)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0, log.read_text()  # graceful shutdown
    assert "Traceback" not in log.read_text()


def run(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> str:
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{cmd}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def installed(python: Path) -> dict[str, str]:
    code = "import importlib.metadata as m, json; print(json.dumps({d.name: d.version for d in m.distributions()}))"
    out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout
    return {canonicalize_name(name): version for name, version in json.loads(out).items()}


def fetched(server: Server, since: int) -> set[str]:
    """The file names served with 200 since the mark (wheels and .metadata)."""
    return {path.rsplit("/", 1)[-1] for _, path, status in server.requests(since) if status == 200}


def assert_resolved_from_metadata(server: Server, since: int, *, installs: bool, unread: set[str]) -> None:
    """Metadata of the chosen wheels read, no wheel but the chosen ones fetched, ``unread`` untouched."""
    files = fetched(server, since)
    assert {f"{wheel}.metadata" for wheel in CHOSEN_WHEELS} <= files, files
    assert not {f for f in files if f.endswith(".whl")} - CHOSEN_WHEELS, files
    assert not files & {s + suffix for s in unread for suffix in ("", ".metadata")}, files
    wheels = {f for f in files if f.endswith(".whl")}
    assert wheels == (CHOSEN_WHEELS if installs else set()), files


def need(tool: str) -> Path:
    path = BIN / tool
    if not path.exists():
        pytest.fail(f"{tool} is not installed in the test venv: pip install -e '.[test]' (the test extra has it)")
    return path


def test_pip_installs_from_the_mirror(server: Server, tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], env)
    since = server.mark()
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-cache-dir"]
    run([*pip, "--isolated", "--index-url", f"{server.url}/simple/", "demo-app[fast]"], env)
    assert installed(venv / "bin" / "python") == EXPECTED
    assert_resolved_from_metadata(server, since, installs=True, unread=SKIPPED_WHEELS)


def test_uv_installs_from_the_mirror(server: Server, tmp_path: Path) -> None:
    uv = need("uv")
    env = clean_env(tmp_path)
    venv = tmp_path / "venv"
    run([str(uv), "venv", "--quiet", "--python", sys.executable, str(venv)], env)
    since = server.mark()
    run([str(uv), "pip", "install", "--python", str(venv / "bin" / "python"), "--no-cache",
         "--default-index", f"{server.url}/simple/", "demo-app[fast]"], env)  # fmt: skip
    assert installed(venv / "bin" / "python") == EXPECTED
    assert_resolved_from_metadata(server, since, installs=True, unread=SKIPPED_WHEELS)


POETRY_PROJECT = """\
[project]
name = "consumer"
version = "0.1.0"
requires-python = "{python}"
dependencies = ["demo-app[fast]"]

[tool.poetry]
package-mode = false

[[tool.poetry.source]]
name = "mirror"
url = "{url}/simple/"
priority = "primary"
"""


def test_poetry_locks_against_the_mirror(server: Server, tmp_path: Path) -> None:
    poetry = need("poetry")
    env = clean_env(tmp_path)
    project = tmp_path / "project"
    project.mkdir()
    python = f">={PY.major}.{PY.minor},<{PY.major}.{PY.minor + 1}"
    (project / "pyproject.toml").write_text(POETRY_PROJECT.format(python=python, url=server.url))
    since = server.mark()
    run([str(poetry), "lock", "--no-interaction"], env, cwd=project)
    lock = tomllib.loads((project / "poetry.lock").read_text())
    assert {canonicalize_name(p["name"]): p["version"] for p in lock["package"]} == EXPECTED
    # poetry reads 3.0's metadata before its solver rejects the Requires-Python; pip and uv do not.
    unread = SKIPPED_WHEELS - {"demo_app-3.0-py3-none-any.whl"}
    assert_resolved_from_metadata(server, since, installs=False, unread=unread)


def test_old_style_html_client_gets_the_same_answer(server: Server, tmp_path: Path) -> None:
    """pip forced onto HTML (as an old pip or a plain static mirror would be) still resolves alike."""
    shutil.rmtree(tmp_path / "target", ignore_errors=True)
    env = clean_env(tmp_path)
    pip = [sys.executable, "-m", "pip", "download", "--no-cache-dir", "--isolated", "--no-deps", "-d"]
    url = f"{server.url}/simple/demo-app/?format=text/html"
    out = run([*pip, str(tmp_path / "target"), "--find-links", url, "--no-index", "demo-app"], env)
    assert "demo_app-2.0-py3-none-any.whl" in out
