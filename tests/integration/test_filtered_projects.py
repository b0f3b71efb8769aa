"""``filtered-projects``: what ``frumious serve`` and the documented nginx config answer for a
project the mirror does not carry, checked with real pip and uv.

The mirror holds ``dep-a`` and ``speedup`` (an allowlist) from a fake PyPI; ``demo-app`` stays
upstream. With ``redirect`` a client whose only index is the mirror still installs
``demo-app[fast]``: its page comes from the upstream through a 302, its dependencies from the
mirror. With ``omit`` the same page is a 404.
"""

from __future__ import annotations

import http.client
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from fakepypi import FakePyPI, run_fake_pypi, write_config

from .nginx import free_port, require_nginx, run_nginx
from .test_clients import EXPECTED, SERVE, Server, _wait_listening, clean_env, demo_index, installed, need, run

JSON = "application/vnd.pypi.simple.v1+json"
CARRIED = ["dep-a", "speedup"]


def status_and_location(base: str, path: str, accept: str = JSON) -> tuple[int, str | None]:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request("GET", path, headers={"Accept": accept})
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("Location")
    finally:
        conn.close()


@pytest.fixture(scope="module")
def upstream() -> Iterator[FakePyPI]:
    with run_fake_pypi(demo_index()) as pypi:
        yield pypi


def build(base: Path, pypi: FakePyPI, policy: str) -> Path:
    allow = {"plugins": {"enabled": ["allowlist_project"]}, "allowlist": {"packages": CARRIED}}
    config = write_config(base, pypi, sections=allow, filtered_projects=policy)
    done = subprocess.run([sys.executable, "-m", "frumious", "-c", str(config), "mirror"], capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    assert not (base / "mirror" / "web" / "simple" / "demo-app").exists()
    return config


@pytest.fixture(scope="module")
def redirect_mirror(tmp_path_factory: pytest.TempPathFactory, upstream: FakePyPI) -> Path:
    return build(tmp_path_factory.mktemp("redirect"), upstream, "redirect")


def _frumious(config: Path, work: Path) -> Iterator[Server]:
    port, log = free_port(), work / "access.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-c", SERVE, str(config), str(port)], stdout=out, stderr=out)
    try:
        _wait_listening(port, process)
        yield Server("frumious", f"http://127.0.0.1:{port}", log)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(20) == 0, log.read_text()
    assert "Traceback" not in log.read_text()


@pytest.fixture(scope="module", params=["frumious", "nginx"])
def server(
    request: pytest.FixtureRequest, redirect_mirror: Path, upstream: FakePyPI, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    work = tmp_path_factory.mktemp(request.param)
    if request.param == "nginx":
        require_nginx()
        with run_nginx(redirect_mirror.parent / "mirror" / "web", work, redirect_to=upstream.url) as nginx:
            yield Server("nginx", nginx.url, nginx.access_log)
        return
    yield from _frumious(redirect_mirror, work)


def test_a_project_not_carried_redirects_to_the_upstream_page(server: Server, upstream: FakePyPI) -> None:
    assert status_and_location(server.url, "/simple/demo-app/") == (302, f"{upstream.url}/simple/demo-app/")
    query = "/simple/demo-app/?format=text/html"
    assert status_and_location(server.url, query) == (302, f"{upstream.url}{query}")
    assert status_and_location(server.url, "/simple/dep-a/") == (200, None)
    assert status_and_location(server.url, "/simple/not%0d%0aset-cookie:x/")[0] in (400, 404)
    assert status_and_location(server.url, "/packages/xx/missing-1.0.tar.gz")[0] == 404


def _mirror_served(server: Server, since: int) -> dict[str, int]:
    return {path: status for _, path, status in server.requests(since)}


def _assert_split(server: Server, since: int) -> None:
    """demo-app's page went upstream; the dependencies' pages and wheels came from the mirror."""
    served = _mirror_served(server, since)
    assert served["/simple/demo-app/"] == 302, served
    assert served["/simple/dep-a/"] == 200 and served["/simple/speedup/"] == 200, served
    wheels = {path.rsplit("/", 1)[-1] for path, status in served.items() if status == 200 and path.endswith(".whl")}
    assert wheels == {"dep_a-1.0-py3-none-any.whl", "speedup-0.5-py3-none-any.whl"}, served


def test_pip_resolves_a_project_not_carried_through_the_redirect(server: Server, tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", str(venv)], env)
    since = server.mark()
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-cache-dir"]
    run([*pip, "--isolated", "--index-url", f"{server.url}/simple/", "demo-app[fast]"], env)
    assert installed(venv / "bin" / "python") == EXPECTED
    _assert_split(server, since)


def test_uv_resolves_a_project_not_carried_through_the_redirect(server: Server, tmp_path: Path) -> None:
    uv = need("uv")
    env = clean_env(tmp_path)
    venv = tmp_path / "venv"
    run([str(uv), "venv", "--quiet", "--python", sys.executable, str(venv)], env)
    since = server.mark()
    run([str(uv), "pip", "install", "--python", str(venv / "bin" / "python"), "--no-cache",
         "--default-index", f"{server.url}/simple/", "demo-app[fast]"], env)  # fmt: skip
    assert installed(venv / "bin" / "python") == EXPECTED
    _assert_split(server, since)


@pytest.mark.parametrize("kind", ["frumious", "nginx"])
def test_omit_still_answers_404(kind: str, upstream: FakePyPI, tmp_path: Path) -> None:
    config = build(tmp_path, upstream, "omit")
    if kind == "nginx":
        require_nginx()
        with run_nginx(config.parent / "mirror" / "web", tmp_path / "nginx") as nginx:
            assert status_and_location(nginx.url, "/simple/demo-app/") == (404, None)
        return
    for server in _frumious(config, tmp_path):
        assert status_and_location(server.url, "/simple/demo-app/") == (404, None)
        assert status_and_location(server.url, "/simple/dep-a/") == (200, None)


# filtered-projects = metadata-only: the sync writes demo-app's (and unrelated's) pages, linking the
# upstream's files; pip installs demo-app[fast] through frumious serve with its wheel from upstream.


def _mirror_run(config: Path, *options: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "frumious", "-c", str(config), "mirror", *options]
    return subprocess.run(command, capture_output=True, text=True)


def _metadata_only(base: Path, pypi: FakePyPI, policy: str = "metadata-only") -> Path:
    allow = {"plugins": {"enabled": ["allowlist_project"]}, "allowlist": {"packages": CARRIED}}
    return write_config(base, pypi, sections=allow, filtered_projects=policy)


def test_metadata_only_pages_link_the_upstream_and_pip_installs_through_serve(
    upstream: FakePyPI, tmp_path: Path
) -> None:
    config = _metadata_only(tmp_path, upstream)
    done = _mirror_run(config)
    assert done.returncode == 0, done.stderr
    web = tmp_path / "mirror" / "web"
    page = json.loads((web / "simple" / "demo-app" / "index.v1_json").read_text())
    assert page["files"] and all(f["url"].startswith(f"{upstream.url}/packages/") for f in page["files"])
    assert f'href="{upstream.url}/packages/' in (web / "simple" / "demo-app" / "index.html").read_text()
    stored = {p.name for p in (web / "packages").rglob("*") if p.is_file()}
    assert not any(name.startswith(("demo_app", "unrelated")) for name in stored), stored
    root = json.loads((web / "simple" / "index.v1_json").read_text())
    assert [p["name"] for p in root["projects"]] == ["demo-app", "dep-a", "speedup", "unrelated"]

    for server in _frumious(config, tmp_path):
        env = clean_env(tmp_path)
        venv = tmp_path / "venv"
        run([sys.executable, "-m", "venv", "--without-pip", str(venv)], env)
        since = server.mark()
        pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-cache-dir"]
        run([*pip, "--isolated", "--index-url", f"{server.url}/simple/", "demo-app[fast]"], env)
        assert installed(venv / "bin" / "python") == EXPECTED
        served = _mirror_served(server, since)
        assert served["/simple/demo-app/"] == 200, served
        assert not any("demo_app" in path for path in served), served  # its wheel came from upstream

    # Back to omit: the pages go (within max-delete-share, so only with --allow-mass-delete here).
    omit = _metadata_only(tmp_path, upstream, "omit")
    refused = _mirror_run(omit)
    assert refused.returncode == 1 and "metadata-only page(s)" in refused.stderr
    assert (web / "simple" / "demo-app" / "index.html").exists()
    done = _mirror_run(omit, "--allow-mass-delete")
    assert done.returncode == 0, done.stderr
    assert not (web / "simple" / "demo-app").exists() and not (web / "simple" / "unrelated").exists()
    assert (web / "simple" / "dep-a" / "index.html").exists()
    root = json.loads((web / "simple" / "index.v1_json").read_text())
    assert [p["name"] for p in root["projects"]] == ["dep-a", "speedup"]


def test_turning_metadata_only_on_asks_for_the_listing_not_its_304(upstream: FakePyPI, tmp_path: Path) -> None:
    """A mirror of the whole index but a blocklisted project: the listing answers 304 until the policy changes."""
    block = {"plugins": {"enabled": ["blocklist_project"]}, "blocklist": {"packages": ["unrelated"]}}
    for policy in ("omit", "omit", "metadata-only"):
        done = _mirror_run(write_config(tmp_path, upstream, sections=block, filtered_projects=policy))
        assert done.returncode == 0, done.stderr
    web = tmp_path / "mirror" / "web" / "simple"
    assert "unrelated-1.0" in (web / "unrelated" / "index.html").read_text()
    assert "unrelated" in (web / "index.html").read_text()
