"""Benchmark: verify, reindex and root-index regeneration on a synthetic mirror (no network).

    .venv/bin/python benchmarks/verify_bench.py [--projects 10000] [--files 10] [--root-projects 700000]
        [--base-dir /dev/shm] [--bandersnatch /work/bs-venv/bin/bandersnatch | --no-bandersnatch] [--keep]

It writes a mirror tree straight to disk: ``--projects`` x ``--files`` release files (small,
deterministic bytes at PyPI-style blake2b paths, mtimes = upload times), their PEP 503/691
pages and ``web/json`` documents (rendered by frumious' own renderer), ``status`` and the
record (``frumious.sqlite``). Then it times, each as a fresh process where a command is timed:

* ``frumious verify`` with ``compare-method = stat`` and with ``= hash``;
* ``bandersnatch verify`` (6.8.0 always hashes, and reads every ``web/json`` file);
* ``frumious reindex`` (the record rebuilt from the pages);
* root index regeneration for ``--root-projects`` projects (in process: record query + render + write).

Targets (100,000 files): verify in stat mode < 10 s, reindex < 60 s, root index for 700,000
projects < 3 s. This is not a test; run it by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from frumious.mirror import Mirror
from frumious.models import DistFile, Project
from frumious.project import index_rows, stored_files
from frumious.protocol import layout, render
from frumious.record import attach, db
from frumious.record.db import MirrorRecord, ProjectRow
from frumious.settings import MirrorSettings
from frumious.storage.filesystem import FilesystemStore

FRUMIOUS = Path(sys.executable).with_name("frumious")
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def content(i: int, j: int) -> bytes:
    seed = hashlib.sha256(f"{i}-{j}".encode()).digest()
    return (seed * 64)[: 200 + (i * 7 + j * 13) % 1800]


def make_project(i: int, files: int) -> tuple[Project, dict[str, bytes]]:
    name = f"bench-pkg-{i:06d}"
    releases: dict[str, list[DistFile]] = {}
    blobs = {}
    for j in range(files):
        version = f"1.{j // 2}"
        stem = name.replace("-", "_")
        filename = f"{stem}-{version}-py3-none-any.whl" if j % 2 == 0 else f"{stem}-{version}.tar.gz"
        data = content(i, j)
        blake = hashlib.blake2b(data, digest_size=32).hexdigest()
        url = f"https://files.example/packages/{blake[:2]}/{blake[2:4]}/{blake[4:]}/{filename}"
        uploaded = (EPOCH + timedelta(seconds=i * 100 + j)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        digests = {"sha256": hashlib.sha256(data).hexdigest(), "md5": hashlib.md5(data).hexdigest()}
        dist = DistFile(filename, url, len(data), digests, version, uploaded, packagetype="bdist_wheel")
        releases.setdefault(version, []).append(dist)
        blobs[layout.package_key(url)] = data
    raw = {
        "info": {"name": name, "version": f"1.{(files - 1) // 2}"},
        "last_serial": i + 1,
        "releases": {
            v: [
                {
                    "filename": d.filename,
                    "url": d.url,
                    "digests": dict(d.digests),
                    "size": d.size,
                    "upload_time_iso_8601": d.upload_time,
                    "requires_python": None,
                    "yanked": False,
                    "packagetype": "bdist_wheel" if d.filename.endswith(".whl") else "sdist",
                }
                for d in ds
            ]
            for v, ds in releases.items()
        },
        "urls": [],
    }
    project = Project(name, i + 1, {v: tuple(ds) for v, ds in releases.items()}, raw["info"], raw)
    return project, blobs


def write(path: Path, data: bytes, mtime: float | None = None) -> None:
    try:
        path.write_bytes(data)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def generate(root: Path, projects: int, files: int, mirror: MirrorSettings) -> None:
    options = {"digest_name": "sha256", "root_uri": "", "core_metadata": False, "has_metadata": lambda d: False}
    opened = MirrorRecord(str(root / db.RECORD_KEY))
    with opened.rebuilding() as add:
        for i in range(projects):
            project, blobs = make_project(i, files)
            for dist in project.files:
                write(root / layout.package_key(dist.url), blobs[layout.package_key(dist.url)], dist.upload_timestamp)
            html = render.project_html(project, raw_name=project.name, **options)  # type: ignore[arg-type]
            pages = layout.page_keys(layout.simple_dir(project.canonical, False))
            write(root / pages.html, html)
            write(root / pages.v1_html, html)
            write(root / pages.v1_json, render.project_json(project, **options))  # type: ignore[arg-type]
            write(root / layout.json_key(project.canonical), render.saved_json(project))
            add([index_rows(project, stored_files(mirror, project), set())])
    write(root / "generation", b"5")
    write(root / "status", str(projects).encode())
    write(root / "web/last-modified", b"20200101T00:00:00\n")
    (root / "web/local-stats/days").mkdir(parents=True, exist_ok=True)
    store = FilesystemStore(str(root))
    asyncio.run(attach.restamp(store, opened))
    asyncio.run(Mirror(store, opened, mirror).write_root_index(projects))
    opened.close()


def config(base: Path, root: Path, method: str) -> Path:
    path = base / f"{method}.conf"
    path.write_text(
        "[mirror]\n"
        f"directory = {root}\nmaster = https://127.0.0.1:9\nworkers = 3\nverifiers = 3\n"
        f"json = true\ncompare-method = {method}\ntimeout = 5\nglobal-timeout = 60\nstop-on-error = false\n"
    )
    return path


def timed(what: str, command: list[str]) -> float:
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost"}
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - started
    status = "ok" if done.returncode == 0 else f"EXIT {done.returncode}"
    lines = (done.stdout + done.stderr).strip().splitlines()
    shown = lines[-1:] if done.returncode else [ln for ln in lines if ln.startswith(("Checked", "Bad", "Recorded"))]
    print(f"{what:<44} {seconds:8.2f} s  {status}  {' / '.join(shown)[:200]}", flush=True)
    return seconds


def root_index_bench(base: Path, count: int) -> float:
    root = base / "root-bench"
    root.mkdir()
    opened = MirrorRecord(str(root / db.RECORD_KEY))
    with opened.rebuilding() as add:
        add((ProjectRow(f"project-{i:07d}", f"Project_{i:07d}", i + 1), []) for i in range(count))
    store = FilesystemStore(str(root))
    mirror = MirrorSettings(directory=str(root))
    started = time.perf_counter()
    asyncio.run(Mirror(store, opened, mirror).write_root_index(count))
    seconds = time.perf_counter() - started
    opened.close()
    size = sum((root / key).stat().st_size for key in ("web/simple/index.html", "web/simple/index.v1_json"))
    print(f"{f'root index, {count:,} projects (HTML + JSON, {size >> 20} MiB)':<44} {seconds:8.2f} s  ok", flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--files", type=int, default=10, help="release files per project")
    parser.add_argument("--root-projects", type=int, default=700_000)
    parser.add_argument("--base-dir", default="/dev/shm" if os.access("/dev/shm", os.W_OK) else None)
    parser.add_argument("--bandersnatch", default="/work/bs-venv/bin/bandersnatch")
    parser.add_argument("--no-bandersnatch", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the generated tree")
    args = parser.parse_args()

    base = Path(tempfile.mkdtemp(prefix="frumious-verify-bench-", dir=args.base_dir))
    root = base / "mirror"
    mirror = MirrorSettings(directory=str(root), json=True, core_metadata=False)
    try:
        started = time.perf_counter()
        generate(root, args.projects, args.files, mirror)
        total = args.projects * args.files
        print(
            f"generated {total:,} files in {args.projects:,} projects under {root}"
            f" in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        stat_conf, hash_conf = config(base, root, "stat"), config(base, root, "hash")
        timed("frumious verify (stat)", [str(FRUMIOUS), "-c", str(stat_conf), "verify"])
        timed("frumious verify (stat, second run)", [str(FRUMIOUS), "-c", str(stat_conf), "verify"])
        timed("frumious verify (hash)", [str(FRUMIOUS), "-c", str(hash_conf), "verify"])
        timed("frumious verify --delete (stat)", [str(FRUMIOUS), "-c", str(stat_conf), "verify", "--delete"])
        if not args.no_bandersnatch and Path(args.bandersnatch).exists():
            timed("bandersnatch 6.8.0 verify (always hashes)", [args.bandersnatch, "-c", str(hash_conf), "verify"])
            timed(
                "bandersnatch 6.8.0 verify --delete",
                [args.bandersnatch, "-c", str(hash_conf), "verify", "--delete"],
            )
        (root / db.RECORD_KEY).unlink()
        timed("frumious reindex", [str(FRUMIOUS), "-c", str(stat_conf), "reindex"])
        root_index_bench(base, args.root_projects)
    finally:
        if args.keep:
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
