"""Full sync and stat-mode verify on filesystem, S3 and Swift, side by side in one run.

Run by hand (needs root the first time, to install Debian's Swift):

    .venv/bin/python benchmarks/object_bench.py [--projects 300] [--files 5] [--size 20000]

It starts the synthetic upstream (benchmarks/upstream.py) and a real Swift server with its S3
API (tests/services/swift-saio.sh), mirrors the same upstream into each backend with
`frumious mirror`, then times `frumious verify` in stat mode and counts the requests the
object-store server saw during it (from its proxy log), to check the one-request-per-object
rule. Prints a table; the object-store server is purged at the end.
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import boto3
import swiftclient
from botocore.config import Config

sys.path.insert(0, str(Path(__file__).parent))
from upstream import ThreadedUpstream, Upstream

ROOT = Path(__file__).resolve().parent.parent
SAIO = ROOT / "tests" / "services" / "swift-saio.sh"
FRUMIOUS = ROOT / ".venv" / "bin" / "frumious"


def start_saio(directory: Path) -> dict[str, str]:
    done = subprocess.run(["bash", str(SAIO), "start", str(directory)], capture_output=True, text=True, check=True)
    env = {}
    for line in done.stdout.splitlines():
        if line.startswith("export ") and "=" in line:
            name, _, raw = line.removeprefix("export ").partition("=")
            env[name] = shlex.split(raw)[0] if raw else ""
    return env


def config_text(kind: str, url: str, work: Path, env: dict[str, str], name: str) -> str:
    mirror = f"[mirror]\nmaster = {url}\nallow-non-https = true\nworkers = 3\ncompare-method = stat\n"
    if kind == "filesystem":
        return mirror + f"directory = {work / 'fs-mirror'}\n"
    if kind == "s3":
        return mirror + (
            f"directory = /{name}/mirror\nstorage-backend = s3\n[s3]\nendpoint_url = {env['S3_ENDPOINT_URL']}\n"
            f"aws_access_key_id = {env['S3_ACCESS_KEY_ID']}\naws_secret_access_key = {env['S3_SECRET_ACCESS_KEY']}\n"
            "region_name = us-east-1\n"
        )
    return mirror + (
        f"directory = /mirror\nstorage-backend = swift\n[swift]\ndefault_container = {name}\n"
        f"auth_url = {env['SWIFT_AUTH_URL']}\nusername = {env['SWIFT_USER']}\npassword = {env['SWIFT_KEY']}\n"
    )


def make_bucket(kind: str, env: dict[str, str], name: str) -> None:
    if kind == "s3":
        client = boto3.client(
            "s3",
            endpoint_url=env["S3_ENDPOINT_URL"],
            aws_access_key_id=env["S3_ACCESS_KEY_ID"],
            aws_secret_access_key=env["S3_SECRET_ACCESS_KEY"],
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}),
        )
        client.create_bucket(Bucket=name)
    elif kind == "swift":
        conn = swiftclient.Connection(
            authurl=env["SWIFT_AUTH_URL"], user=env["SWIFT_USER"], key=env["SWIFT_KEY"], auth_version="1"
        )
        conn.put_container(name)


def timed(command: list[str]) -> tuple[float, float, int]:
    """Wall and CPU seconds of a child, and its exit code."""
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _pid, status, usage = os.wait4(process.pid, 0)
    return time.monotonic() - started, usage.ru_utime + usage.ru_stime, os.waitstatus_to_exitcode(status)


def proxy_requests(saio_dir: Path) -> int:
    log = saio_dir / "log" / "proxy.log"
    return sum(1 for _ in log.open(errors="replace")) if log.exists() else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=300)
    parser.add_argument("--files", type=int, default=5)
    parser.add_argument("--size", type=int, default=20000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="frumious-objbench-"))
    saio_dir = work / "saio"
    env = start_saio(saio_dir)
    objects = args.projects * args.files
    rows = []
    try:
        with ThreadedUpstream(Upstream(args.projects, args.files, args.size)) as url:
            for kind in ("filesystem", "s3", "swift"):
                name = f"bench-{uuid.uuid4().hex[:12]}"
                make_bucket(kind, env, name)
                config = work / f"{kind}.conf"
                config.write_text(config_text(kind, url, work, env, name))
                sync = timed([str(FRUMIOUS), "-c", str(config), "mirror"])
                before = proxy_requests(saio_dir)
                verify = timed([str(FRUMIOUS), "-c", str(config), "verify", "--restart"])
                requests = proxy_requests(saio_dir) - before if kind != "filesystem" else 0
                rows.append((kind, sync, verify, requests))
    finally:
        subprocess.run(["bash", str(SAIO), "purge", str(saio_dir)], capture_output=True)
    print(f"{args.projects} projects x {args.files} files of {args.size} B = {objects} release files\n")
    print("| backend | full sync wall / CPU s | exit | verify (stat) wall / CPU s | exit | requests during verify |")
    print("|---|---|---|---|---|---|")
    for kind, sync, verify, requests in rows:
        per = f"{requests} ({requests / objects:.2f} per release file)" if kind != "filesystem" else "n/a (local)"
        sync_text = f"{sync[0]:.1f} / {sync[1]:.1f} | {sync[2]}"
        verify_text = f"{verify[0]:.1f} / {verify[1]:.1f} | {verify[2]}"
        print(f"| {kind} | {sync_text} | {verify_text} | {per} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
