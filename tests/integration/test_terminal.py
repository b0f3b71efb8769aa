"""On a terminal the run shows a live progress line; under cron, plain log lines."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

from .helpers import mirror_dir


def run_cli(config, *, tty: bool) -> tuple[int, str]:
    command = [sys.executable, "-m", "frumious", "-c", str(config), "mirror"]
    env = {**os.environ, "TERM": "xterm"}
    if not tty:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, env=env)
        return done.returncode, done.stderr
    main, child = pty.openpty()
    process = subprocess.Popen(command, stdin=child, stdout=child, stderr=child, env=env)
    os.close(child)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(main)
    return process.wait(timeout=60), b"".join(chunks).decode(errors="replace")


def test_terminal_gets_a_live_progress_line(fake_pypi, make_config, tmp_path) -> None:
    fake_pypi.delay("/pypi/yanky/json", 1.2, times=1)
    config = make_config(tmp_path, fake_pypi)
    code, output = run_cli(config, tty=True)
    assert code == 0
    assert "\r\x1b[Kprojects " in output and "files " in output
    assert "Projects: 3 synced" in output
    assert (mirror_dir(config) / "status").exists()


def test_cron_gets_plain_timestamped_lines(fake_pypi, make_config, tmp_path) -> None:
    fake_pypi.delay("/pypi/yanky/json", 1.2, times=1)
    config = make_config(tmp_path, fake_pypi)
    code, stderr = run_cli(config, tty=False)
    assert code == 0
    assert "\r" not in stderr and "\x1b" not in stderr
    assert any(line[:4].isdigit() and " INFO: " in line for line in stderr.splitlines())
