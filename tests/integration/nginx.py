"""Run Debian's nginx with the configuration documented in ``docs/serving.md``.

The site config is the fenced ``nginx`` block after the ``tested-nginx-config`` marker,
so the documentation is what the tests exercise. Only the deployment-specific lines are
replaced: ``root /srv/pypi/web;``, ``listen 80;`` and the access-log path.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["NGINX", "Nginx", "free_port", "nginx_missing", "require_nginx", "run_nginx", "site_config"]

NGINX = "/usr/sbin/nginx"
DOC = Path(__file__).resolve().parents[2] / "docs" / "serving.md"
MARKER = "<!-- tested-nginx-config"
DOC_ROOT = "root /srv/pypi/web;"
DOC_LISTEN = "listen 80;"
DOC_LOG = "/var/log/nginx/pypi-mirror.access.log"
# filtered-projects = redirect: the documented named location, and the try_files fallback it replaces.
REDIRECT_MARKER = "<!-- tested-nginx-redirect"
DOC_MASTER = "https://pypi.org"
DOC_FALLBACK = "/simple/$pypi_c/$pypi_project/$pypi_second =404;"
DOC_AFTER = "    location /simple/ {\n        return 404;"


def nginx_missing() -> str | None:
    """Why the nginx tests cannot run, or None."""
    if not os.access(NGINX, os.X_OK):
        return f"{NGINX} is missing: install Debian's nginx-light (scripts/test.sh does when it can use apt)"
    return None


def require_nginx() -> None:
    """Skip a test that needs nginx where it cannot be had; in CI (``CI=true``) its absence is a failure."""
    if (why := nginx_missing()) is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(why)
    pytest.skip(why)


def site_config(doc: Path = DOC, marker: str = MARKER) -> str:
    """The documented nginx site configuration (or the block after ``marker``), verbatim."""
    text = doc.read_text(encoding="utf-8")
    start = text.index(marker)
    match = re.compile(r"```nginx\n(.*?)```", re.S).search(text, start)
    if match is None:
        raise ValueError(f"no ```nginx block after {marker!r} in {doc}")
    return match.group(1)


def redirect_variant(site: str, master: str, doc: Path = DOC) -> str:
    """The site as docs/serving.md says to change it for ``filtered-projects = redirect``."""
    block = site_config(doc, REDIRECT_MARKER)
    for needle, text in ((DOC_FALLBACK, site), (DOC_AFTER, site), (DOC_MASTER, block)):
        if text.count(needle) != 1:
            raise ValueError(f"the documented config must contain {needle!r} exactly once")
    site = site.replace(DOC_FALLBACK, DOC_FALLBACK.replace("=404", "@pypi_not_carried"))
    return site.replace(DOC_AFTER, block.replace(DOC_MASTER, master) + DOC_AFTER)


def render_site(root: Path, port: int, access_log: Path, doc: Path = DOC, redirect_to: str | None = None) -> str:
    site = site_config(doc)
    for needle in (DOC_ROOT, DOC_LISTEN, DOC_LOG):
        if site.count(needle) != 1:
            raise ValueError(f"the documented config must contain {needle!r} exactly once")
    if redirect_to is not None:
        site = redirect_variant(site, redirect_to, doc)
    return (
        site.replace(DOC_ROOT, f"root {root};")
        .replace(DOC_LISTEN, f"listen 127.0.0.1:{port} reuseport;")
        .replace(DOC_LOG, str(access_log))
    )


def main_config(site: str, workdir: Path, workers: int) -> str:
    user = "user root root;\n" if os.geteuid() == 0 else ""  # workers must read the test's 0700 tmp dirs
    temp = "\n".join(
        f"    {kind}_temp_path {workdir / kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"daemon off;\nmaster_process on;\n{user}worker_processes {workers};\n"
        f"pid {workdir / 'nginx.pid'};\nerror_log {workdir / 'error.log'} warn;\n"
        "events { worker_connections 1024; }\n"
        "http {\n    include /etc/nginx/mime.types;\n    default_type application/octet-stream;\n"
        f"    sendfile on;\n    tcp_nopush on;\n    keepalive_requests 100000;\n{temp}\n{site}\n}}\n"
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Nginx:
    url: str
    access_log: Path
    process: subprocess.Popen[bytes]
    error_log: Path

    def log_lines(self) -> list[str]:
        return self.access_log.read_text().splitlines() if self.access_log.exists() else []


def _wait_for(port: int, process: subprocess.Popen[bytes], error_log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"nginx exited with {process.returncode}: {error_log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError("nginx did not start listening within 10 s")


@contextmanager
def run_nginx(
    root: Path, workdir: Path, *, workers: int = 1, access_log: bool = True, redirect_to: str | None = None
) -> Iterator[Nginx]:
    """nginx serving the mirror ``web/`` directory ``root`` on a free loopback port; stopped after.

    ``redirect_to``: the documented ``filtered-projects = redirect`` variant, to that upstream.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = workdir / "access.log"
    site = render_site(root, port, log, redirect_to=redirect_to)
    if not access_log:
        site = site.replace(f"access_log {log} combined;", "access_log off;")
    conf = workdir / "nginx.conf"
    conf.write_text(main_config(site, workdir, workers))
    error_log = workdir / "error.log"
    check = subprocess.run([NGINX, "-t", "-q", "-c", str(conf), "-p", str(workdir)], capture_output=True, text=True)
    if check.returncode:
        raise RuntimeError(f"nginx rejects the documented config:\n{check.stderr}")
    process = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(workdir)], stderr=subprocess.DEVNULL)
    try:
        _wait_for(port, process, error_log)
        yield Nginx(f"http://127.0.0.1:{port}", log, process, error_log)
    finally:
        process.send_signal(signal.SIGQUIT)  # graceful: finish requests, then exit
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
