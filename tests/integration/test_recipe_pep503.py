"""docs/recipes.md "A PEP 503-only index, files on another host", run against a PyTorch-style fake.

The index server speaks PEP 503 HTML only, under ``/whl/cpu/`` (no ``/simple/``, no JSON, no serials,
no ETags, no ``/pypi/`` API), with ``#sha256=`` fragments and ``data-*`` attributes; its pages link
every file on a second server (``/whl/cpu/<file>``, local versions percent-encoded as PyTorch's are).
The recipe's config mirrors it: files land under their sha256 in PyPI's shape, fetched from the
second host, and pip installs the allowlisted project from ``frumious serve``.
"""

from __future__ import annotations

import hashlib
import html
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest

from fakepypi import Artifact, make_wheel

from .helpers import mirror_dir, run, tree
from .recipes import recipe, runnable
from .test_clients import clean_env, installed
from .test_clients import run as run_tool
from .test_feed import served_by_frumious

TOO_NEW = f">={sys.version_info.major}.{sys.version_info.minor + 1}"
WHEELS = {
    "torch": [
        make_wheel("torch", "2.4.0+cpu", requires=["filelock"]),
        make_wheel("torch", "2.5.0+cpu", requires=["filelock"]),
        make_wheel("torch", "2.6.0+cpu", requires=["filelock"], requires_python=TOO_NEW),
    ],
    "filelock": [make_wheel("filelock", "3.16.1")],
    "nvidia-cudnn": [make_wheel("nvidia-cudnn", "9.1.0")],  # on the index, not in the allowlist
}


class Site:
    """A static site on 127.0.0.1: path -> (content type, body); every GET path is logged."""

    def __init__(self) -> None:
        self.pages: dict[str, tuple[str, bytes]] = {}
        self.log: list[str] = []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.log.append(self.path)
                kind, body = site.pages.get(self.path, ("text/plain", b""))
                self.send_response(200 if self.path in site.pages else 404)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    @contextmanager
    def running(self) -> Iterator[Site]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()


def anchor(files: Site, wheel: Artifact) -> str:
    """A PyTorch-style link: on the files host, '+' as %2B, the digest in the fragment, data-* attributes."""
    path = f"/whl/cpu/{quote(wheel.filename)}"
    files.pages[path] = ("application/octet-stream", wheel.content)
    attrs = f' data-requires-python="{html.escape(wheel.requires_python)}"' if wheel.requires_python else ""
    if wheel.metadata is not None:
        files.pages[path + ".metadata"] = ("application/octet-stream", wheel.metadata)
        attrs += f' data-dist-info-metadata="sha256={hashlib.sha256(wheel.metadata).hexdigest()}"'
    sha = hashlib.sha256(wheel.content).hexdigest()
    return f'<a href="{files.url}{path}#sha256={sha}"{attrs}>{html.escape(wheel.filename)}</a><br/>'


def publish(index: Site, files: Site) -> None:
    page = "<!DOCTYPE html>\n<html><body>\n{}\n</body></html>\n"
    names = "\n".join(f'<a href="/whl/cpu/{name}/">{name}</a><br/>' for name in sorted(WHEELS))
    index.pages["/whl/cpu/"] = ("text/html", page.format(names).encode())
    for name, wheels in WHEELS.items():
        links = "\n".join(anchor(files, wheel) for wheel in wheels)
        index.pages[f"/whl/cpu/{name}/"] = ("text/html", page.format(links).encode())


@pytest.fixture(scope="module")
def mirrored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Site, Site]]:
    with Site().running() as index, Site().running() as files:
        publish(index, files)
        work = tmp_path_factory.mktemp("torch")
        ini = recipe("A PEP 503-only index, files on another host")
        config = runnable(ini, work, {"https://download.pytorch.org": index.url})
        assert run(config, "mirror") == 0
        yield config, index, files


def sha_key(wheel: Artifact) -> str:
    sha = hashlib.sha256(wheel.content).hexdigest()
    return f"{sha[:2]}/{sha[2:4]}/{sha[4:]}/{wheel.filename}"


def test_the_allowlisted_files_land_under_their_sha256_fetched_from_the_files_host(
    mirrored: tuple[Path, Site, Site],
) -> None:
    config, index, files = mirrored
    held = tree(mirror_dir(config) / "web" / "packages")
    wanted = {sha_key(w) for name in ("torch", "filelock") for w in WHEELS[name]}
    assert {k for k in held if not k.endswith(".metadata")} == wanted
    assert {k for k in held if k.endswith(".metadata")} == {f"{k}.metadata" for k in wanted}
    # Never /simple/, /pypi/ or a file; the feed's head once (a 404: not asked again for a day).
    assert [p for p in index.log if not p.startswith("/whl/cpu/")] == ["/feed/head.json"]
    assert {p for p in files.log if p.endswith(".whl")} == {f"/whl/cpu/{quote(k.rsplit('/', 1)[1])}" for k in wanted}
    page = (mirror_dir(config) / "web" / "simple" / "torch" / "index.html").read_text()
    assert f'data-requires-python="{html.escape(TOO_NEW)}"' in page and "data-core-metadata=" in page
    assert "data-size" not in page  # the index gave no sizes: none invented


def test_a_second_run_asks_each_page_once_and_downloads_nothing(mirrored: tuple[Path, Site, Site]) -> None:
    config, index, files = mirrored
    index.log.clear()
    files.log.clear()
    assert run(config, "mirror") == 0
    assert sorted(index.log) == ["/whl/cpu/filelock/", "/whl/cpu/torch/"]  # no serials: each page compared
    assert files.log == []


def test_pip_installs_from_the_served_mirror(mirrored: tuple[Path, Site, Site], tmp_path: Path) -> None:
    config, index, files = mirrored
    index.log.clear()
    files.log.clear()
    with served_by_frumious(config, tmp_path) as (url, _log):
        env = clean_env(tmp_path)
        venv = tmp_path / "venv"
        run_tool([sys.executable, "-m", "venv", "--without-pip", str(venv)], env)
        pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-cache-dir"]
        run_tool([*pip, "--isolated", "--index-url", f"{url}/simple/", "torch"], env)
    assert installed(venv / "bin" / "python") == {"torch": "2.5.0+cpu", "filelock": "3.16.1"}
    assert index.log == files.log == []  # everything came from the mirror
