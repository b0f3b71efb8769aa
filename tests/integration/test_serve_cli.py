"""`frumious serve` from the command line: starts, answers, stops on SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from .helpers import run


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_command_serves_the_mirror_and_stops_on_sigterm(fake_pypi, make_config, tmp_path) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    port = free_port()
    command = [sys.executable, "-m", "frumious", "-c", str(config), "serve", "--port", str(port)]
    server = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/simple/foo-bar/",
                    headers={"Accept": "application/vnd.pypi.simple.v1+json"},
                )
                with urllib.request.urlopen(request, timeout=2) as response:
                    page = json.loads(response.read())
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        assert page["name"] == "foo-bar" and page["files"]
    finally:
        server.send_signal(signal.SIGTERM)
        _out, err = server.communicate(timeout=20)
    assert server.returncode == 0
    access = [line for line in err.splitlines() if '"GET /simple/foo-bar/ HTTP/1.1" 200' in line]
    assert access and access[0].startswith("127.0.0.1 - - [")


def test_serve_rejects_a_bad_port(capsys) -> None:
    from frumious.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["serve", "--port", "70000"])
    assert exc.value.code == 2
    assert "not a port number" in capsys.readouterr().err
