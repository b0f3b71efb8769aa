"""``frumious serve`` and the documented nginx config, over real sockets on 127.0.0.1.

The shared tests run once against each server over the same tree; the frumious-only
tests cover what nginx does differently (redirects, health, the store port).
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from frumious.serve import files as served_files
from frumious.serve.workers import serve
from frumious.storage.filesystem import FilesystemStore

from .nginx import free_port, nginx_missing, require_nginx, run_nginx

PIP = "application/vnd.pypi.simple.v1+json, application/vnd.pypi.simple.v1+html; q=0.1, text/html; q=0.01"
JSON = "application/vnd.pypi.simple.v1+json"
V1HTML = "application/vnd.pypi.simple.v1+html"
WHEEL = "packages/8e/3c/5a7b/foo-1.0-py3-none-any.whl"
WHEEL_BYTES = bytes(range(256)) * 4  # 1024 bytes


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    @property
    def media_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip()


def fetch(base: str, path: str, headers: dict[str, str] | None = None, method: str = "GET") -> Reply:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(method, path, headers=headers or {})
        response = conn.getresponse()
        body = response.read()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, body)
    finally:
        conn.close()


def _page(name: str, serial: int) -> tuple[bytes, bytes]:
    html = f'<!DOCTYPE html>\n<html><body><a href="../../{WHEEL}">{name}</a></body></html>\n<!--SERIAL {serial}-->'
    data = {"files": [], "meta": {"api-version": "1.1", "_last-serial": str(serial)}, "name": name, "versions": []}
    return html.encode(), json.dumps(data).encode()


def build_tree(root: Path, *, hash_index: bool = False) -> Path:
    """A small mirror: a full project, an HTML-only one, a JSON-only one, files and JSON."""
    web = root / "web"
    for name, formats in (("foo", "hj"), ("htmlonly", "h"), ("jsononly", "j"), ("", "hj")):
        directory = web / "simple" / (f"{name[0]}/{name}" if hash_index and name else name)
        directory.mkdir(parents=True, exist_ok=True)
        html, data = _page(name or "root", 7)
        if "h" in formats:
            (directory / "index.html").write_bytes(html)
            (directory / "index.v1_html").write_bytes(html)
        if "j" in formats:
            (directory / "index.v1_json").write_bytes(data)
    (web / WHEEL).parent.mkdir(parents=True)
    (web / WHEEL).write_bytes(WHEEL_BYTES)
    (web / f"{WHEEL}.metadata").write_bytes(b"Metadata-Version: 2.1\nName: foo\nVersion: 1.0\n\n")
    (web / "json").mkdir()
    (web / "json" / "foo").write_bytes(b'{"info": {"name": "foo"}}')
    (web / "pypi" / "foo").mkdir(parents=True)
    (web / "pypi" / "foo" / "json").write_bytes(b'{"info": {"name": "foo"}}')
    (web / "last-modified").write_bytes(b"20240102T03:04:05\n")
    (root / "status").write_bytes(b"7")
    return root


def _run_until_cancelled(loop: asyncio.AbstractEventLoop, task: asyncio.Task[None]) -> None:
    with contextlib.suppress(asyncio.CancelledError):
        loop.run_until_complete(task)


@contextmanager
def run_frumious(store: FilesystemStore, *, hash_index: bool = False, root_path: str = "/") -> Iterator[str]:
    """``serve`` on a free port in a background thread; cancelled (graceful shutdown) after."""
    loop = asyncio.new_event_loop()
    started: asyncio.Future[int] = loop.create_future()
    task = loop.create_task(
        serve(store, host="127.0.0.1", port=0, root_path=root_path, hash_index=hash_index, started=started)
    )
    thread = threading.Thread(target=_run_until_cancelled, args=(loop, task), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not started.done() and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{started.result()}"
    finally:
        loop.call_soon_threadsafe(task.cancel)
        thread.join(15)
        loop.close()


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tree(tmp_path_factory.mktemp("serve") / "mirror")


@pytest.fixture(scope="module", params=["frumious", "nginx"])
def server(request: pytest.FixtureRequest, tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "frumious":
        with run_frumious(FilesystemStore(str(tree))) as url:
            yield url
        return
    require_nginx()
    with run_nginx(tree / "web", tmp_path_factory.mktemp("nginx")) as nginx:
        yield nginx.url


BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@pytest.mark.parametrize(
    ("accept", "media_type"),
    [
        (PIP, JSON),
        ("application/vnd.pypi.simple.v1+json, */*;q=0.1", JSON),  # poetry
        (None, "text/html"),
        ("*/*", "text/html"),
        (BROWSER, "text/html"),
        ("text/html", "text/html"),
        ("application/vnd.pypi.simple.v1+html", V1HTML),
        ("application/vnd.pypi.simple.latest+json", JSON),
        ("application/*", JSON),
        ("application/vnd.pypi.simple.v1+json;q=0.5, application/vnd.pypi.simple.v1+html;q=0.5", JSON),
        ("application/vnd.pypi.simple.v1+json;q=0.5, text/html;q=0.5", "text/html"),
        ("application/vnd.pypi.simple.v1+json;q=0.5, text/html;q=0.4", JSON),
        ("application/vnd.pypi.simple.v1+html;q=0.3, text/html;q=0.2", V1HTML),
        ("*/*;q=0.1, application/vnd.pypi.simple.v1+json;q=0", "text/html"),
        ("text/*;q=0.2, application/*;q=0.3", JSON),
        ("application/json", None),
        ("text/html;q=abc", None),
        ("*/*;q=0", None),
    ],
)
@pytest.mark.parametrize("path", ["/simple/foo/", "/simple/"])
def test_negotiation(server: str, path: str, accept: str | None, media_type: str | None) -> None:
    reply = fetch(server, path, {"Accept": accept} if accept is not None else {})
    assert reply.headers.get("vary") == "Accept"
    if media_type is None:
        assert reply.status == 406
        return
    assert reply.status == 200
    assert reply.media_type == media_type
    tree_file = "index.v1_json" if media_type == JSON else "index.html"
    assert reply.body.startswith(b"{" if tree_file.endswith("json") else b"<!DOCTYPE")
    assert reply.headers["cache-control"] == "max-age=600"


@pytest.mark.parametrize(
    ("query", "media_type"),
    [
        ("?format=application/vnd.pypi.simple.v1%2Bjson", JSON),
        ("?format=application/vnd.pypi.simple.v1+json", JSON),
        ("?format=text/html", "text/html"),
        ("?format=application/vnd.pypi.simple.latest%2Bhtml", V1HTML),
        ("?format=nonsense", None),
    ],
)
def test_format_parameter_overrides_accept(server: str, query: str, media_type: str | None) -> None:
    reply = fetch(server, "/simple/foo/" + query, {"Accept": "text/html"})
    assert (reply.status, reply.media_type if reply.status == 200 else None) == (
        (200, media_type) if media_type else (406, None)
    )


@pytest.mark.parametrize(
    ("project", "accept", "media_type"),
    [
        ("htmlonly", PIP, V1HTML),
        ("htmlonly", "*/*", "text/html"),
        ("jsononly", "*/*", JSON),
        ("jsononly", PIP, JSON),
    ],
)
def test_only_formats_on_disk_are_offered(server: str, project: str, accept: str, media_type: str) -> None:
    reply = fetch(server, f"/simple/{project}/", {"Accept": accept})
    assert (reply.status, reply.media_type) == (200, media_type)


def test_file_headers_and_conditional_get(server: str, tree: Path) -> None:
    st = os.stat(tree / "web" / WHEEL)
    reply = fetch(server, f"/{WHEEL}")
    assert reply.status == 200 and reply.body == WHEEL_BYTES
    assert reply.headers["content-length"] == "1024"
    assert reply.headers["accept-ranges"] == "bytes"
    assert reply.headers["cache-control"] == "max-age=365000000, immutable"
    assert reply.headers["etag"] == f'"{int(st.st_mtime):x}-{st.st_size:x}"'  # the same on both servers
    assert "last-modified" in reply.headers
    again = fetch(server, f"/{WHEEL}", {"If-None-Match": reply.headers["etag"]})
    assert (again.status, again.body) == (304, b"")
    assert again.headers["etag"] == reply.headers["etag"]
    head = fetch(server, f"/{WHEEL}", method="HEAD")
    assert (head.status, head.body, head.headers["content-length"]) == (200, b"", "1024")
    metadata = fetch(server, f"/{WHEEL}.metadata")
    assert metadata.status == 200 and metadata.body.startswith(b"Metadata-Version")
    assert metadata.media_type == "text/plain"


@pytest.mark.parametrize(
    ("range_header", "status", "content_range", "body"),
    [
        ("bytes=0-9", 206, "bytes 0-9/1024", WHEEL_BYTES[:10]),
        ("bytes=1000-", 206, "bytes 1000-1023/1024", WHEEL_BYTES[1000:]),
        ("bytes=-4", 206, "bytes 1020-1023/1024", WHEEL_BYTES[-4:]),
        ("bytes=-5000", 206, "bytes 0-1023/1024", WHEEL_BYTES),
        ("bytes=1024-", 416, "bytes */1024", None),
        ("bytes=99999999999999999999999-", 416, "bytes */1024", None),
        ("bytes=abc", 416, None, None),
    ],
)
def test_ranges(server: str, range_header: str, status: int, content_range: str | None, body: bytes | None) -> None:
    reply = fetch(server, f"/{WHEEL}", {"Range": range_header})
    assert reply.status == status
    if content_range is not None:
        assert reply.headers["content-range"] == content_range
    if body is not None:
        assert reply.body == body and reply.headers["content-length"] == str(len(body))


def test_stale_if_range_sends_the_whole_file(server: str) -> None:
    reply = fetch(server, f"/{WHEEL}", {"Range": "bytes=0-9", "If-Range": '"stale"'})
    assert (reply.status, reply.body) == (200, WHEEL_BYTES)


def test_json_api_and_last_modified(server: str) -> None:
    for path in ("/json/foo", "/pypi/foo/json"):
        reply = fetch(server, path)
        assert (reply.status, reply.media_type) == (200, "application/json")
        assert json.loads(reply.body) == {"info": {"name": "foo"}}
    reply = fetch(server, "/last-modified")
    assert (reply.status, reply.media_type, reply.body) == (200, "text/plain", b"20240102T03:04:05\n")


@pytest.mark.parametrize(
    "path",
    [
        "/status",
        "/web/last-modified",
        "/simple/missing/",
        "/simple/foo/index.html",
        "/simple/foo/versions/",
        "/packages/",
        "/packages/8e/",
        "/packages/8e/3c/5a7b/missing.whl",
        "/simple/%2e%2e/%2e%2e/status",
        "/simple/..%2f..%2fstatus",
        "/packages/8e/3c/5a7b/..%2F..%2F..%2F..%2F..%2Fstatus",
        "/packages/%00",
        "/json/",
        "/pypi/foo/",
    ],
)
def test_nothing_else_is_served(server: str, path: str) -> None:
    reply = fetch(server, path)
    assert reply.status in (400, 404), (path, reply.status)
    assert b"Index of" not in reply.body


def test_trailing_slash_redirect(server: str) -> None:
    reply = fetch(server, "/simple/foo?format=text/html")
    assert reply.status == 301
    assert reply.headers["location"].endswith("/simple/foo/?format=text/html")


def test_hash_index_tree_is_served_without_rewrites(tmp_path: Path) -> None:
    root = build_tree(tmp_path / "mirror", hash_index=True)
    with run_frumious(FilesystemStore(str(root)), hash_index=True) as url:
        assert fetch(url, "/simple/foo/", {"Accept": PIP}).media_type == JSON
        assert fetch(url, "/simple/jsononly/").media_type == JSON
    if nginx_missing() is None:
        with run_nginx(root / "web", tmp_path / "nginx") as nginx:
            assert fetch(nginx.url, "/simple/foo/", {"Accept": PIP}).media_type == JSON
            assert fetch(nginx.url, "/simple/jsononly/").media_type == JSON


# ---- frumious serve only --------------------------------------------------------------


class RemoteStore(FilesystemStore):
    """A filesystem store that claims not to be local: everything goes through the port."""

    # Withdraws the LocalPaths capability (a runtime Protocol treats a None member as absent).
    local_path = None


@pytest.fixture(scope="module", params=["local", "remote"])
def frumious(request: pytest.FixtureRequest, tree: Path) -> Iterator[str]:
    store = FilesystemStore(str(tree)) if request.param == "local" else RemoteStore(str(tree))
    with run_frumious(store) as url:
        yield url


def test_store_port_serves_files_and_pages(frumious: str) -> None:
    assert fetch(frumious, f"/{WHEEL}").body == WHEEL_BYTES
    reply = fetch(frumious, f"/{WHEEL}", {"Range": "bytes=-4"})
    assert (reply.status, reply.body) == (206, WHEEL_BYTES[-4:])
    assert fetch(frumious, f"/{WHEEL}", {"Range": "bytes=2000-"}).status == 416
    huge = fetch(frumious, f"/{WHEEL}", {"Range": "bytes=1020-99999999999999999999"})  # clamped (nginx: 416)
    assert (huge.status, huge.body) == (206, WHEEL_BYTES[-4:])
    head = fetch(frumious, f"/{WHEEL}", method="HEAD")
    assert (head.headers["content-length"], head.body) == ("1024", b"")
    page = fetch(frumious, "/simple/foo/", {"Accept": PIP})
    assert page.media_type == JSON and page.headers["x-pypi-last-serial"] == "7"
    assert fetch(frumious, "/simple/foo/", {"If-None-Match": page.headers["etag"], "Accept": PIP}).status == 304
    assert fetch(frumious, "/simple/missing/").status == 404


@pytest.mark.parametrize(
    ("path", "location"),
    [
        ("/simple/Foo/", "/simple/foo/"),
        ("/simple/Foo_Bar.baz/", "/simple/foo-bar-baz/"),
        ("/simple/FOO?format=text/html", "/simple/foo/?format=text/html"),
        ("/simple", "/simple/"),
        ("/json/Foo", "/json/foo"),
        ("/pypi/FOO/json", "/pypi/foo/json"),
    ],
)
def test_redirects_to_normalized_names(frumious: str, path: str, location: str) -> None:
    reply = fetch(frumious, path)
    assert (reply.status, reply.headers["location"]) == (301, location)


def test_root_path_prefixes_routes_and_redirects(tree: Path) -> None:
    with run_frumious(FilesystemStore(str(tree)), root_path="/pypi") as url:
        assert fetch(url, "/pypi/simple/foo/", {"Accept": PIP}).media_type == JSON
        assert fetch(url, "/pypi/simple/Foo/").headers["location"] == "/pypi/simple/foo/"
        assert fetch(url, "/simple/foo/").status == 404


def test_health(frumious: str) -> None:
    reply = fetch(frumious, "/-/health")
    assert reply.status == 200
    assert json.loads(reply.body)["serial"] == 7 and json.loads(reply.body)["status"] == "ok"
    assert fetch(frumious, "/-/health", method="HEAD").status == 200


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("POST", "/simple/foo/", {}),
        ("DELETE", f"/{WHEEL}", {}),
        ("GET", "/simple/foo/", {"Accept": ";;;,,,q=2,*/*;q=-1, \x7f/\x7f"}),
        ("GET", "/simple/foo/", {"Accept": "a/b;q=0.5," * 5000}),
        ("GET", f"/{WHEEL}", {"Range": "bytes=" + "9" * 6000 + "-"}),
        ("GET", f"/{WHEEL}", {"Range": "bytes=0-1," * 2000 + "0-1"}),
        ("GET", f"/{WHEEL}", {"If-None-Match": "W/" * 1000, "If-Modified-Since": "yesterday"}),
        ("GET", f"/{WHEEL}", {"If-Range": "Mon, 99 Foo 2024 99:99:99 GMT", "Range": "bytes=0-0"}),
        ("GET", "/" + "a" * 7000, {}),
        ("GET", "/" + "a" * 20000, {}),
        ("GET", "/simple/" + "%ff" * 100 + "/", {}),
        ("GET", "/simple/" + "x" * 300 + "/", {}),
        ("GET", "/packages/%2e%2e%5c%2e%2e%5cstatus", {}),
        ("GET", "/simple/foo/?format=" + "%" * 100, {}),
        ("HEAD", "/simple/foo/?format=x", {}),
        ("HEAD", "/json/foo", {}),
        ("HEAD", "/last-modified", {}),
    ],
)
def test_hostile_requests_never_get_a_500(frumious: str, method: str, path: str, headers: dict[str, str]) -> None:
    reply = fetch(frumious, path, headers, method)
    assert reply.status < 500, reply.body
    assert b"Traceback" not in reply.body


def test_malformed_requests_are_logged_without_a_traceback(tree: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with run_frumious(FilesystemStore(str(tree))) as url:
        assert fetch(url, "/" + "a" * 20000).status == 400
        assert fetch(url, "/simple/", {"X-Big": "b" * 10000}).status == 400
    assert not [r for r in caplog.records if r.exc_info or r.levelno >= logging.WARNING]


@pytest.mark.parametrize(
    "path",
    ["/simple/", "/simple/foo/", f"/{WHEEL}", f"/{WHEEL}.metadata", "/json/foo", "/pypi/foo/json", "/last-modified"],
)
def test_head_matches_get(server: str, path: str) -> None:
    get, head = fetch(server, path), fetch(server, path, method="HEAD")
    assert (head.status, head.body) == (200, b"")
    for name in ("content-type", "content-length", "etag", "last-modified", "cache-control", "vary"):
        assert head.headers.get(name) == get.headers.get(name), name


def test_method_not_allowed(frumious: str) -> None:
    reply = fetch(frumious, "/simple/foo/", method="POST")
    assert (reply.status, reply.headers["allow"]) == (405, "GET, HEAD")


def test_symlinks_leaving_the_mirror_are_refused(tmp_path: Path) -> None:
    root = build_tree(tmp_path / "mirror")
    secret = tmp_path / "secret.txt"
    secret.write_text("do not serve")
    (root / "web" / "packages" / "evil.whl").symlink_to(secret)
    (root / "web" / "packages" / "evildir").symlink_to(tmp_path)
    versions = root / "web" / "simple" / "linked" / "versions"
    versions.mkdir(parents=True)
    (versions / "index_1_2024.html").write_text("<!DOCTYPE html>linked")
    (versions.parent / "index.html").symlink_to(versions / "index_1_2024.html")  # keep_index_versions style
    with run_frumious(FilesystemStore(str(root))) as url:
        assert fetch(url, "/packages/evil.whl").status == 404
        assert fetch(url, "/packages/evildir/secret.txt").status == 404
        assert fetch(url, "/simple/linked/").body == b"<!DOCTYPE html>linked"


def test_pages_replaced_by_a_sync_are_served_at_once(tmp_path: Path) -> None:
    root = build_tree(tmp_path / "mirror")
    page = root / "web" / "simple" / "foo" / "index.v1_json"
    with run_frumious(FilesystemStore(str(root))) as url:
        first = fetch(url, "/simple/foo/", {"Accept": JSON}).body
        tmp = page.with_name(".tmp")
        tmp.write_bytes(b'{"replaced": true}')
        os.replace(tmp, page)
        assert fetch(url, "/simple/foo/", {"Accept": JSON}).body == b'{"replaced": true}' != first


async def test_page_cache_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(served_files, "CACHE_BYTES", 100)
    for name in ("a", "b", "c"):
        (tmp_path / "web" / "simple" / name).mkdir(parents=True)
        (tmp_path / "web" / "simple" / name / "index.html").write_bytes(name.encode() * 60)
    files = served_files.ServedFiles(FilesystemStore(str(tmp_path)))
    for name in ("a", "b", "c"):
        entry = await files.lookup(f"web/simple/{name}/index.html", page=True)
        assert entry is not None and entry.body == name.encode() * 60
    assert len(files._cache) == 1 and files._bytes == 60


def test_access_log_is_combined_log_format(tree: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="frumious.access")
    with run_frumious(FilesystemStore(str(tree))) as url:
        fetch(url, f"/{WHEEL}", {"User-Agent": 'pip/26.0 "x"', "Referer": "http://r/"})
        fetch(url, f"/{WHEEL}", method="HEAD")
    lines = [r.getMessage() for r in caplog.records if r.name == "frumious.access"]
    assert len(lines) == 2
    assert lines[0].startswith("127.0.0.1 - - [")
    assert f'"GET /{WHEEL} HTTP/1.1" 200 1024 "http://r/" "pip/26.0 \\"x\\""' in lines[0]
    assert f'"HEAD /{WHEEL} HTTP/1.1" 200 - "-" "-"' in lines[1]


SERVE_SCRIPT = """
import logging, sys
from frumious import config
from frumious.cli.serving import run_serve
logging.basicConfig(level=logging.INFO, format="%(name)s %(message)s")
sys.exit(run_serve(config.load(sys.argv[1]), "127.0.0.1", int(sys.argv[2]), "/", int(sys.argv[3])))
"""


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_main_runs_until_sigterm(tree: Path, tmp_path: Path, workers: int) -> None:
    conf = tmp_path / "bandersnatch.conf"
    conf.write_text(f"[mirror]\ndirectory = {tree}\nmaster = https://pypi.org\n")
    port = free_port()
    cmd = [sys.executable, "-c", SERVE_SCRIPT, str(conf), str(port), str(workers)]
    process = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                reply = fetch(f"http://127.0.0.1:{port}", "/simple/foo/", {"Accept": PIP})
                break
            except OSError:
                assert time.monotonic() < deadline and process.poll() is None, "frumious serve did not start"
                time.sleep(0.05)
        assert reply.media_type == JSON
        for _ in range(4):  # whichever worker the kernel picks answers
            assert fetch(f"http://127.0.0.1:{port}", f"/{WHEEL}").body == WHEEL_BYTES
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    assert process.returncode == 0, stderr
    assert "frumious.access 127.0.0.1 - - [" in stderr
    assert "Traceback" not in stderr
