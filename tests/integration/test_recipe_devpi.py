"""docs/recipes.md "devpi-server as an upstream", run against a real devpi-server.

One devpi-server for the module, on 127.0.0.1 with a temporary server directory and no PyPI mirror
(``devpi-init --no-root-pypi``, ``--offline-mode``): a private index ``root/dev`` with wheels and an
sdist uploaded by devpi-client. devpi serves PEP 691 JSON (api-version 1.0) and PEP 503 HTML at
``/root/dev/+simple/``, its files at ``/root/dev/+f/<hash>/<name>``, and no serials, ETags, sizes or
``/pypi/`` API. The recipe's config mirrors it, a second run changes nothing, and an upload shows up.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from fakepypi import Artifact, make_sdist, make_wheel

from .helpers import mirror_dir, run, tree
from .nginx import free_port
from .recipes import recipe, runnable

BIN = Path(sys.executable).parent
UPLOADS = [
    make_wheel("Demo.App", "1.0", requires=["dep-a>=1.0"]),
    make_wheel("Demo.App", "2.0", requires=["dep-a>=1.0"], requires_python=">=3.8"),
    make_wheel("dep-a", "1.0"),
    make_sdist("dep-a", "1.0"),
]


@dataclass
class Devpi:
    url: str
    env: dict[str, str]
    uploads: Path

    def client(self, *args: str) -> str:
        done = subprocess.run([str(BIN / "devpi"), *args], env=self.env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, f"devpi {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def upload(self, *artifacts: Artifact) -> None:
        for old in self.uploads.iterdir():
            old.unlink()
        for artifact in artifacts:
            (self.uploads / artifact.filename).write_bytes(artifact.content)
        self.client("upload", "--from-dir", str(self.uploads))


def _wait_answering(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60  # devpi-server takes seconds to start on a busy machine
    while time.monotonic() < deadline:
        assert process.poll() is None, f"devpi-server exited early:\n{log.read_text()}"
        try:
            with urllib.request.urlopen(f"{url}/+api", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"devpi-server did not answer:\n{log.read_text()}")


@pytest.fixture(scope="module")
def devpi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devpi]:
    if not (BIN / "devpi-server").exists() or not (BIN / "devpi").exists():
        pytest.fail("devpi-server and devpi-client are not installed: pip install -e '.[test]'", pytrace=False)
    work = tmp_path_factory.mktemp("devpi")
    env = {**os.environ, "DEVPI_CLIENTDIR": str(work / "client"), "HOME": str(work)}
    serverdir = str(work / "server")
    init = subprocess.run([str(BIN / "devpi-init"), "--serverdir", serverdir, "--no-root-pypi"], capture_output=True)
    assert init.returncode == 0, init.stderr.decode()
    port, log = free_port(), work / "server.log"
    command = [str(BIN / "devpi-server"), "--serverdir", serverdir, "--host", "127.0.0.1", "--port", str(port)]
    with log.open("wb") as out:
        process = subprocess.Popen([*command, "--offline-mode"], stdout=out, stderr=out, env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_answering(url, process, log)
        (work / "uploads").mkdir()
        server = Devpi(url, env, work / "uploads")
        server.client("use", url)
        server.client("login", "root", "--password", "")
        server.client("index", "-c", "dev", "bases=")
        server.client("use", "root/dev")
        server.upload(*UPLOADS)
        yield server
    finally:
        process.terminate()
        process.wait(20)


@pytest.fixture(scope="module")
def mirrored(devpi: Devpi, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("devpi-copy")
    config = runnable(recipe("devpi-server as an upstream"), work, {"https://devpi.example.org": devpi.url})
    assert run(config, "mirror") == 0
    return config


def sha_key(artifact: Artifact) -> str:
    sha = artifact.sha256
    return f"{sha[:2]}/{sha[2:4]}/{sha[4:]}/{artifact.filename}"


def test_devpis_files_land_under_their_sha256_with_devpis_fields(mirrored: Path) -> None:
    web = mirror_dir(mirrored) / "web"
    assert tree(web / "packages") == {sha_key(a) for a in UPLOADS}
    page = json.loads((web / "simple" / "demo-app" / "index.v1_json").read_text())
    assert page["meta"]["api-version"] == "1.0"  # what devpi claims, and all its pages carry
    assert {f["filename"]: f["requires-python"] for f in page["files"]} == {
        "demo_app-1.0-py3-none-any.whl": "",
        "demo_app-2.0-py3-none-any.whl": ">=3.8",
    }
    assert all("size" not in f and f["url"].startswith("../../packages/") for f in page["files"])
    root = json.loads((web / "simple" / "index.v1_json").read_text())
    assert sorted(p["name"] for p in root["projects"]) == ["demo-app", "dep-a"]


def test_a_second_run_asks_the_listing_and_each_page_and_writes_nothing(mirrored: Path, tmp_path: Path) -> None:
    report = tmp_path / "run.json"
    status = (mirror_dir(mirrored) / "status").read_text()
    assert run(mirrored, "mirror", "--report", str(report)) == 0
    done = json.loads(report.read_text())
    assert done["requests"] == 3  # no serials: the listing and both pages, compared with the last run's
    assert done["files"]["downloaded"] == 0
    assert (mirror_dir(mirrored) / "status").read_text() == status  # nothing changed: the serial stays


def test_an_upload_to_devpi_reaches_the_mirror(devpi: Devpi, mirrored: Path) -> None:
    newer = make_wheel("dep-a", "1.1")
    devpi.upload(newer)
    assert run(mirrored, "mirror") == 0
    assert sha_key(newer) in tree(mirror_dir(mirrored) / "web" / "packages")
    page = json.loads((mirror_dir(mirrored) / "web" / "simple" / "dep-a" / "index.v1_json").read_text())
    assert page["versions"] == ["1.0", "1.1"]
