"""Through the CLI against the fake PyPI: a changed file filter takes effect on the next plain run, from
stored metadata (no project request upstream); the cooldown holds young files until they are old enough."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest

from fakepypi import make_wheel

from .helpers import first_page, mirror_dir, packages, read, run
from .nginx import free_port

WIN = "dep_lib-0.2-cp311-cp311-win_amd64.whl"
NEW = "dep_lib-0.3-py3-none-any.whl"
DAY = 86_400.0


def platforms(token: str) -> dict:
    return {"plugins": {"enabled": ["exclude_platform"]}, "blocklist": {"platforms": token}}


def project_requests(fake_pypi) -> list[str]:
    """Requests about single projects: JSON documents and simple pages (the listing is ``/simple/``)."""
    return fake_pypi.paths("/pypi/") + [p for p in fake_pypi.paths("/simple/") if p != "/simple/"]


@pytest.mark.parametrize("prune", [True, False])
def test_tightening_exclude_platform_applies_on_the_next_plain_run(fake_pypi, make_config, tmp_path, prune) -> None:
    fake_pypi.index.add("dep-lib", "0.2", make_wheel("dep-lib", "0.2", tag="cp311-cp311-win_amd64"))
    config = make_config(tmp_path, fake_pypi, prune_filtered=prune, sections=platforms("macos"))
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    assert WIN in packages(root)

    config = make_config(tmp_path, fake_pypi, prune_filtered=prune, sections=platforms("windows"))
    fake_pypi.reset_log()
    assert run(config, "mirror") == 0

    assert (WIN in packages(root)) is not prune  # removed, or kept and reported
    assert WIN not in read(root, "web/simple/dep-lib/index.html")
    assert project_requests(fake_pypi) == [] and fake_pypi.downloads == []


def test_loosening_exclude_platform_fetches_what_it_now_allows(fake_pypi, make_config, tmp_path) -> None:
    fake_pypi.index.add("dep-lib", "0.2", make_wheel("dep-lib", "0.2", tag="cp311-cp311-win_amd64"))
    config = make_config(tmp_path, fake_pypi, sections=platforms("windows"))
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    assert WIN not in packages(root)

    config = make_config(tmp_path, fake_pypi, sections=platforms("macos"))
    fake_pypi.reset_log()
    assert run(config, "mirror") == 0

    assert WIN in packages(root) and WIN in read(root, "web/simple/dep-lib/index.html")
    assert project_requests(fake_pypi) == []


def cooldown(exempt: str = "") -> dict:
    return {"plugins": {"enabled": ["cooldown_release_file"]}, "cooldown": {"days": "7", "exempt": exempt}}


def upload_young(fake_pypi) -> None:
    yesterday = datetime.now(UTC) - timedelta(days=1)
    fake_pypi.index.add("dep-lib", "0.3", make_wheel("dep-lib", "0.3"), upload_time=yesterday)


def test_cooldown_files_appear_once_old_without_force_check(fake_pypi, make_config, tmp_path, monkeypatch) -> None:
    upload_young(fake_pypi)
    config = make_config(tmp_path, fake_pypi, sections=cooldown())
    assert run(config, "mirror") == 0
    root = mirror_dir(config)
    assert NEW not in packages(root) and "0.3" not in read(root, "web/simple/dep-lib/index.html")

    start = time.time()
    monkeypatch.setattr(time, "time", lambda: start + 7 * DAY)  # the file is now eight days old
    fake_pypi.reset_log()
    assert run(config, "mirror") == 0

    assert NEW in packages(root) and NEW in read(root, "web/simple/dep-lib/index.html")
    assert project_requests(fake_pypi) == []


def test_cooldown_exempt_project_gets_new_files_at_once(fake_pypi, make_config, tmp_path) -> None:
    upload_young(fake_pypi)
    config = make_config(tmp_path, fake_pypi, sections=cooldown(exempt="dep-lib"))
    assert run(config, "mirror") == 0
    assert NEW in packages(mirror_dir(config))


def test_pip_resolves_to_the_release_old_enough_through_serve(fake_pypi, make_config, tmp_path) -> None:
    upload_young(fake_pypi)
    config = make_config(tmp_path, fake_pypi, sections=cooldown())
    assert run(config, "mirror") == 0
    port = free_port()
    command = [sys.executable, "-m", "frumious", "-c", str(config), "serve", "--port", str(port)]
    server = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    try:
        first_page(server, port, "dep-lib")
        target = tmp_path / "downloads"
        env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_NO_CACHE_DIR": "1"}
        pip = [sys.executable, "-m", "pip", "download", "--isolated", "--no-deps", "-d", str(target)]
        index = f"http://127.0.0.1:{port}/simple/"
        done = subprocess.run([*pip, "--index-url", index, "dep-lib"], env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert sorted(p.name for p in target.iterdir()) == ["dep_lib-0.1-py3-none-any.whl"]
    finally:
        server.terminate()
        server.wait(20)
