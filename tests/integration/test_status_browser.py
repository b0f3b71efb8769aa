"""The status page in a real headless browser (Debian's chromium): a screenshot the test checks.

A mirror with a few runs of history is served by a real ``frumious serve``; chromium renders
``/``. The rendered DOM must hold the key texts, and the screenshot's pixels must show the
chart (bars in the colours of a clean and of a failed run). The PNG is kept in the test's tmp
directory as an artifact. Without chromium (and no apt to install it: scripts/test.sh) the
test is skipped with a one-line reason; under ``CI=true`` that is a failure.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from frumious.protocol.statuschart import COLOURS

from .helpers import first_page, run
from .pngpixels import colours
from .test_serve_cli import free_port

BROWSER_TIMEOUT = 120  # seconds; a first start on a loaded two-core machine is slow, a hang is not


def require_chromium() -> str:
    found = shutil.which("chromium")
    if found is not None:
        return found
    why = "chromium is missing: install Debian's chromium (scripts/test.sh does when it can use apt)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(why)
    pytest.skip(why)


def browse(browser: str, profile: Path, *args: str) -> str:
    """Run headless chromium once, offline and quiet; its stdout."""
    command = [
        browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-default-apps", "--hide-scrollbars", f"--user-data-dir={profile}", *args,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=BROWSER_TIMEOUT, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def visible_text(dom: str) -> str:
    body = re.sub(r"<(style|title)>.*?</\1>", " ", dom, flags=re.S)
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", body)))


def test_the_status_page_in_a_real_browser(fake_pypi, make_config, tmp_path) -> None:
    browser = require_chromium()
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    fake_pypi.fail("/simple/yanky/", 403, times=None)
    assert run(config, "mirror", "--force-check") == 1
    assert run(config, "sync", "foo-bar") == 0
    assert run(config, "mirror") in (0, 1)

    port = free_port()
    command = [sys.executable, "-m", "frumious", "-c", str(config), "serve", "--port", str(port)]
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    shot = tmp_path / "status-page.png"
    try:
        first_page(server, port, "foo-bar")
        url = f"http://127.0.0.1:{port}/"
        profile = tmp_path / "chromium-profile"
        dom = browse(browser, profile, "--dump-dom", url)
        browse(browser, profile, f"--screenshot={shot}", "--window-size=1200,1600", url)
    finally:
        server.send_signal(signal.SIGTERM)
        server.communicate(timeout=20)

    text = visible_text(dom)
    for expected in (
        "Last clean run",
        "Serial",
        "behind upstream",
        "Projects 3",
        "Failing projects 1",
        "yanky",
        "HTTP 403",
        "Recent runs",
        "Use this mirror",
        f"pip config set global.index-url {url}simple/",
        f"export UV_DEFAULT_INDEX={url}simple/",
        f"poetry source add --priority=primary mirror {url}simple/",
        f"pdm config pypi.url {url}simple/",
    ):
        assert expected in text, expected
    assert dom.count("<svg") == 3

    pixels = colours(shot)  # the artifact stays in tmp_path
    assert pixels[rgb(COLOURS["ok"])] > 1000, "no bars of clean runs in the screenshot"
    # The failed run's bars: its height in each chart depends on the run's figures (durations vary with
    # load), but each chart draws it at least 2 px high and ~10 px wide; the legend's swatch alone is
    # 10 x 10 px (under 100 pixels). So more than 140 means the swatch and three bars at the least.
    assert pixels[rgb(COLOURS["failed"])] > 140, "no bar of the failed run in the screenshot"
