"""`frumious serve` from the command line: starts, answers, stops on SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import pytest

from .helpers import first_page, run


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
        page = first_page(server, port, "foo-bar")
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


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_on_a_port_in_use_is_one_line(fake_pypi, make_config, tmp_path, capsys, workers) -> None:
    config = make_config(tmp_path, fake_pypi)
    assert run(config, "mirror") == 0
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        capsys.readouterr()
        assert run(config, "serve", "--port", str(port), "--workers", workers) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("frumious:")]
    assert lines == [f"frumious: cannot listen on 127.0.0.1:{port}: Address already in use"]


def test_serve_without_a_mirror_is_one_line(fake_pypi, make_config, tmp_path, capsys) -> None:
    config = make_config(tmp_path, fake_pypi)  # never mirrored: the directory does not exist
    assert run(config, "serve", "--port", str(free_port())) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "frumious: there is no mirror at" in err and "run frumious mirror first" in err
