"""An allowlist mirror's run with nothing new, over TLS: source trees of frumious alternating (run by hand).

A mirror of an allowlist asks each listed project's page (no full listing); when nothing changed,
each page only says so. This measures that run: ``upstream.py`` (``--projects`` x 1 file) behind
an nginx that terminates TLS on 127.0.0.1 with a certificate made for the run (``openssl``), an
allowlist of ``--allowlisted`` of its projects, one sync to build the mirror, then rounds in which
every tree runs ``frumious mirror`` again, the order reversed every other round. CPU (user + sys),
wall and the connections nginx accepted are reported per tree, medians and ranges::

    python benchmarks/allowlist_bench.py --rounds 5 /tmp/old/src src

Trees as in ``cpu_ab.py`` (``git archive <commit> src | tar -x -C DIR``). Needs nginx and openssl
(``.ci/run`` and the test command install nginx). Loopback has no round trips to speak of: on a
real network each handshake saved is also 2-3 round trips of wall time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import KB, Scenario, UpstreamProcess, run_child

NGINX_CONF = """\
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log;
events {{ worker_connections 1024; }}
http {{
  log_format conn '$connection';
  access_log {work}/access.log conn;
  client_body_temp_path {work}/tmp; proxy_temp_path {work}/tmp; fastcgi_temp_path {work}/tmp;
  uwsgi_temp_path {work}/tmp; scgi_temp_path {work}/tmp;
  upstream up {{ server {upstream}; keepalive 16; }}
  server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {work}/cert.pem;
    ssl_certificate_key {work}/key.pem;
    keepalive_requests 100000;
    location / {{
      proxy_pass http://up;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host:$server_port;
      proxy_buffering off;
    }}
  }}
}}
"""


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TLSFront:
    """nginx on 127.0.0.1 terminating TLS for ``upstream`` (host:port), with a fresh self-signed certificate."""

    def __init__(self, work: Path, upstream: str) -> None:
        self.work = work
        (work / "tmp").mkdir(parents=True)
        key, cert = str(work / "key.pem"), str(work / "cert.pem")
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
            check=True, capture_output=True,
        )  # fmt: skip
        self.port = free_port()
        conf = work / "nginx.conf"
        conf.write_text(NGINX_CONF.format(work=work, upstream=upstream, port=self.port), encoding="utf-8")
        subprocess.run(["nginx", "-c", str(conf), "-p", str(work)], check=True, capture_output=True)
        self.url = f"https://127.0.0.1:{self.port}"
        self.cert = str(work / "cert.pem")
        for _ in range(100):
            if (work / "nginx.pid").exists():
                break
            time.sleep(0.05)
        self.pid = int((work / "nginx.pid").read_text().strip())

    def connections(self) -> set[str]:
        """The connection serial numbers of the requests logged so far."""
        log = self.work / "access.log"
        return set(log.read_text().split()) if log.exists() else set()

    def close(self) -> None:
        os.kill(self.pid, signal.SIGQUIT)


def write_allowlist_config(path: Path, mirror: Path, url: str, names: list[str]) -> None:
    listed = "".join(f"    {name}\n" for name in names)
    path.write_text(
        f"[mirror]\ndirectory = {mirror}\nmaster = {url}\nworkers = 3\ntimeout = 30\njson = false\n"
        "release-files = true\nhash-index = false\nsimple-format = ALL\ncompare-method = hash\n"
        "stop-on-error = false\nstorage-backend = filesystem\n\n[plugins]\nenabled = allowlist_project\n\n"
        f"[allowlist]\npackages =\n{listed}",
        encoding="utf-8",
    )


def one_run(src: str, conf: Path, log: Path, front: TLSFront) -> tuple[float, float, int]:
    """CPU, wall and nginx connections of one ``frumious mirror`` by the tree ``src``."""
    os.environ["PYTHONPATH"] = src
    before = front.connections()
    run = run_child([sys.executable, "-m", "frumious", "-c", str(conf), "mirror"], log, 600)
    if run.status != 0:
        raise SystemExit(f"{src}: the run failed (see {log})")
    return run.user + run.sys, run.wall, len(front.connections() - before)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sources", nargs="+", help="frumious source trees (directories holding frumious/)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--projects", type=int, default=2000)
    parser.add_argument("--allowlisted", type=int, default=300)
    args = parser.parse_args()
    if not shutil.which("nginx") or not shutil.which("openssl"):
        raise SystemExit("allowlist_bench: needs nginx and openssl on PATH")
    sources = [str(Path(s).resolve()) for s in args.sources]
    for src in sources:
        subprocess.run([sys.executable, "-m", "compileall", "-q", f"{src}/frumious"], check=False, capture_output=True)
    base = Path(tempfile.mkdtemp(prefix="allow-bench-", dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None))
    up = UpstreamProcess(Scenario("allow", "full", args.projects, 1, 20 * KB), base / "up.log")
    front = TLSFront(base / "nginx", urllib.request.urlparse(up.url).netloc)
    os.environ["SSL_CERT_FILE"] = front.cert  # the tools trust the run's certificate
    step = max(1, args.projects // args.allowlisted)
    names = [f"bench-pkg-{i:06d}" for i in range(0, args.projects, step)][: args.allowlisted]
    conf = base / "allow.conf"
    write_allowlist_config(conf, base / "mirror", front.url, names)
    figures: dict[str, list[tuple[float, float, int]]] = {src: [] for src in sources}
    try:
        one_run(sources[0], conf, base / "first.log", front)  # the mirror every later run finds current
        for round_ in range(args.rounds):
            for src in sources if round_ % 2 == 0 else sources[::-1]:
                figures[src].append(one_run(src, conf, base / "run.log", front))
            print(f"round {round_ + 1}: " + "  ".join(f"{s}: {figures[s][-1]}" for s in sources))
    finally:
        front.close()
        up.close()
        shutil.rmtree(base, ignore_errors=True)
    for src in sources:
        cpu, wall, conns = (sorted(x[i] for x in figures[src]) for i in range(3))
        print(
            f"{src}: CPU {statistics.median(cpu):.3f} s ({cpu[0]:.3f}-{cpu[-1]:.3f}),"
            f" wall {statistics.median(wall):.3f} s ({wall[0]:.3f}-{wall[-1]:.3f}),"
            f" connections {statistics.median(conns):.0f} ({conns[0]}-{conns[-1]}), {len(names)} pages"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
