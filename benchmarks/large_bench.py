"""One large file through ``frumious mirror`` against ``curl -o`` from the same nginx (run by hand).

``upstream.py``'s data model renders a one-project index (listing, project page, one file of
``--size`` bytes); the bodies are written under a temporary root that nginx serves from
127.0.0.1, so the server costs next to nothing and both clients read the same bytes. Each round
runs ``curl -s -o`` and a fresh one-project ``frumious mirror``, alternating which goes first;
wall, CPU and peak RSS come from ``launch.py`` as in ``run.py``. The frumious run includes its
start-up, the listing, the page and the pages it writes.

Usage: ``python benchmarks/large_bench.py --size 1000000000 --repeat 3 --base-dir /dev/shm/large``
(needs ``nginx`` and ``curl`` on PATH and about three times ``--size`` free in ``--base-dir``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

from run import DEFAULT_FRUMIOUS, run_child, write_config
from upstream import Upstream

NGINX_CONF = """daemon off; worker_processes 1; pid {root}/nginx.pid; error_log {root}/error.log;
events {{ worker_connections 64; }}
http {{
  access_log off; sendfile on; tcp_nopush on; keepalive_timeout 30;
  client_body_temp_path {root}/tmp; proxy_temp_path {root}/tmp; fastcgi_temp_path {root}/tmp;
  uwsgi_temp_path {root}/tmp; scgi_temp_path {root}/tmp;
  server {{
    listen 127.0.0.1:{port}; root {root}/www;
    location /simple/ {{
      types {{ }} default_type application/vnd.pypi.simple.v1+json; try_files $uri/index.json =404;
    }}
    location /packages/ {{ types {{ }} default_type application/octet-stream; }}
  }}
}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def build(root: Path, url: str, size: int) -> str:
    """Write the index and the file under ``root/www``; the file's URL."""
    up = Upstream(1, 1, size)
    up.set_base_url(url)
    www = root / "www"
    for path, body in [("simple", up.listing), *((f"simple/{c}", b) for c, b in up.simple_bodies.items())]:
        (www / path).mkdir(parents=True, exist_ok=True)
        (www / path / "index.json").write_bytes(body.full[body.head_len :])
    (spec,) = up.files.values()
    target = www / spec.url_path.lstrip("/")
    target.parent.mkdir(parents=True)
    target.write_bytes(up.content.data(spec.ident, spec.size))
    return url + spec.url_path


def measure(argv: list[str], log: Path) -> tuple[float, float, float]:
    run = run_child(argv, log, 600)
    if run.status:
        sys.exit(f"{argv[0]} failed (status {run.status}); see {log}")
    return run.wall, run.user + run.sys, run.maxrss_kib / 1024


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=1_000_000_000)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--base-dir", default="/dev/shm/large")
    p.add_argument("--frumious", default=str(DEFAULT_FRUMIOUS))
    args = p.parse_args()
    root = Path(args.base_dir)
    root.mkdir(parents=True)
    (root / "tmp").mkdir()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    file_url = build(root, url, args.size)
    (root / "nginx.conf").write_text(NGINX_CONF.format(root=root, port=port), encoding="utf-8")
    nginx = subprocess.Popen(["nginx", "-e", str(root / "error.log"), "-c", str(root / "nginx.conf")])
    time.sleep(1)
    rows: dict[str, list[tuple[float, float, float]]] = {"curl": [], "frumious": []}
    try:
        for i in range(args.repeat):
            for tool in ("curl", "frumious") if i % 2 == 0 else ("frumious", "curl"):
                out = root / f"out-{tool}"
                shutil.rmtree(out, ignore_errors=True)
                out.mkdir()
                if tool == "curl":
                    argv = ["curl", "-s", "-f", "-o", str(out / "file"), file_url]
                else:
                    write_config(out / "f.conf", out / "mirror", url, 3, False)
                    argv = [args.frumious, "-c", str(out / "f.conf"), "mirror"]
                rows[tool].append(measure(argv, root / f"{tool}.log"))
                print(json.dumps({"tool": tool, "round": i, "wall_cpu_rss": rows[tool][-1]}), flush=True)
                shutil.rmtree(out)
    finally:
        nginx.terminate()
        nginx.wait()
    med = {tool: [statistics.median(col) for col in zip(*rs, strict=True)] for tool, rs in rows.items()}
    print(json.dumps({"median": med, "wall_ratio_frumious_over_curl": med["frumious"][0] / med["curl"][0]}))
    shutil.rmtree(root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
