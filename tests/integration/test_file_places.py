"""Files from an upstream off PyPI's layout: relative links, a second host, keys by sha256, then pip and uv.

Upstream A links half its files relative to itself at its own paths (``../../srv/files/<name>``), the
other half on a second host B (``http://127.0.0.1:<other port>/whl/<name>``), as a PyTorch-style index
does. frumious fetches each file where A's page points, stores it at ``web/packages/<sha256 shape>/<name>``,
and ``frumious serve`` hands it to pip and uv.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakepypi import FakeIndex, FakePyPI, run_fake_pypi, write_config

from .helpers import mirror_dir, packages, run, tree
from .nginx import free_port
from .test_clients import EXPECTED, SERVE, _wait_listening, clean_env, demo_index, installed
from .test_clients import run as run_tool

ON_B = {"dep-a", "speedup"}  # these projects' files live on the second host


def by_sha(index: FakeIndex, name: str, filename: str) -> str:
    sha = index.file(name, filename).artifact.sha256
    return f"web/packages/{sha[:2]}/{sha[2:4]}/{sha[4:]}/{filename}"


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[FakePyPI, FakePyPI]]:
    """(A, B): A's pages link its files relatively at /srv/files/, or absolutely on B at /whl/."""
    files_host = demo_index()
    for f in files_host.all_files():
        files_host.patch_file(canonical_of(files_host, f.filename), f.filename, url=f"/whl/{f.filename}")
    with run_fake_pypi(files_host) as b, run_fake_pypi(demo_index(), files_url="../..") as a:
        for f in a.index.all_files():
            name = canonical_of(a.index, f.filename)
            url = f"{b.url}/whl/{f.filename}" if name in ON_B else f"/srv/files/{f.filename}"
            a.index.patch_file(name, f.filename, url=url)
        yield a, b


def canonical_of(index: FakeIndex, filename: str) -> str:
    return next(p.canonical for p in index.projects() for f in p.files() if f.filename == filename)


@pytest.fixture(scope="module")
def mirrored(upstreams: tuple[FakePyPI, FakePyPI], tmp_path_factory: pytest.TempPathFactory) -> Path:
    a, _b = upstreams
    config = write_config(tmp_path_factory.mktemp("places"), a)
    assert run(config, "mirror") == 0
    return config


def test_files_land_by_sha256_fetched_only_where_the_page_points(
    upstreams: tuple[FakePyPI, FakePyPI], mirrored: Path
) -> None:
    a, b = upstreams
    root = mirror_dir(mirrored)
    keys = tree(root)
    for f in a.index.all_files():
        name = canonical_of(a.index, f.filename)
        assert by_sha(a.index, name, f.filename) in keys, f.filename
    assert not [k for k in keys if "/srv/" in k or "/whl/" in k or k.startswith("web/packages/packages/")]
    # Each file came from where A's page pointed: A's own paths or B's, never a guessed PyPI path.
    assert a.downloads == [] and b.downloads == []
    from_a = {p.rsplit("/", 1)[1] for p in a.paths("/srv/files/", "GET")}
    from_b = {p.rsplit("/", 1)[1] for p in b.paths("/whl/", "GET")}
    names = {f.filename: canonical_of(a.index, f.filename) for f in a.index.all_files()}
    assert {fn for fn, name in names.items() if name in ON_B} <= from_b
    assert {fn for fn, name in names.items() if name not in ON_B} <= from_a
    assert not {fn for fn in from_b if not fn.endswith(".metadata")} - {fn for fn, n in names.items() if n in ON_B}
    assert b.paths("/simple/") == [] and b.paths("/pypi/") == []


def test_pages_link_the_keys_with_every_field(upstreams: tuple[FakePyPI, FakePyPI], mirrored: Path) -> None:
    a, _ = upstreams
    web = mirror_dir(mirrored) / "web"
    page = json.loads((web / "simple" / "dep-a" / "index.v1_json").read_text())
    for entry in page["files"]:
        f = a.index.file("dep-a", entry["filename"])
        assert entry["url"] == "../../" + by_sha(a.index, "dep-a", f.filename).removeprefix("web/")
        assert entry["size"] == f.artifact.size
        assert entry["upload-time"] == f.upload_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        assert entry["yanked"] == (f.yanked_reason or True if f.yanked else False)
    html = (web / "simple" / "dep-a" / "index.html").read_text()
    assert 'data-size="' in html and 'data-upload-time="' in html
    assert 'data-yanked="broken"' in html


def test_a_second_run_downloads_nothing_and_verify_agrees(upstreams: tuple[FakePyPI, FakePyPI], mirrored: Path) -> None:
    a, b = upstreams
    a.reset_log()
    b.reset_log()
    assert run(mirrored, "mirror", "--force-check") == 0
    assert a.paths("/srv/", "GET") == [] and b.paths("/whl/", "GET") == []
    before = packages(mirror_dir(mirrored))
    (mirror_dir(mirrored) / "frumious.sqlite").unlink()  # the record rebuilt from the pages finds every key
    assert run(mirrored, "verify") == 0
    assert packages(mirror_dir(mirrored)) == before
    assert a.paths("/srv/", "GET") == [] and b.paths("/whl/", "GET") == []


@pytest.fixture(scope="module")
def served(mirrored: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("serve")
    port, log = free_port(), work / "access.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-c", SERVE, str(mirrored), str(port)], stdout=out, stderr=out)
    try:
        _wait_listening(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0, log.read_text()


def test_pip_installs_files_placed_by_sha256(served: str, tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    venv = tmp_path / "venv"
    run_tool([sys.executable, "-m", "venv", "--without-pip", str(venv)], env)
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-cache-dir"]
    run_tool([*pip, "--isolated", "--index-url", f"{served}/simple/", "demo-app[fast]"], env)
    assert installed(venv / "bin" / "python") == EXPECTED


def test_uv_installs_files_placed_by_sha256(served: str, tmp_path: Path) -> None:
    uv = Path(sys.executable).parent / "uv"
    if not uv.exists():
        pytest.fail("uv is not installed in the test venv: pip install -e '.[test]' (the test extra has it)")
    env = clean_env(tmp_path)
    venv = tmp_path / "venv"
    run_tool([str(uv), "venv", "--quiet", "--python", sys.executable, str(venv)], env)
    run_tool([str(uv), "pip", "install", "--python", str(venv / "bin" / "python"), "--no-cache",
              "--default-index", f"{served}/simple/", "demo-app[fast]"], env)  # fmt: skip
    assert installed(venv / "bin" / "python") == EXPECTED
