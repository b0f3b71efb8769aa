"""The shipped systemd units pass `systemd-analyze verify`, run under their hardening, and the
documented cron line works under cron's /bin/sh (dash)."""

from __future__ import annotations

import ctypes
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import first_page, require, unit_settings

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "contrib" / "systemd"
UNIT_NAMES = ("frumious-mirror.service", "frumious-mirror.timer", "frumious-serve.service")
SYSTEMD_ANALYZE = "/usr/bin/systemd-analyze"
EXEC = "/usr/local/bin/frumious"
CRON_DOCS = (ROOT / "README.md", ROOT / "docs" / "operations.md")
# minute hour day month weekday [user] command, as a line of its own in a code block.
CRON_LINE = re.compile(r"^(?:[\d*/,-]+\s+){5}(?P<rest>\S.*)$")


def unit(name: str) -> dict[str, list[str]]:
    return unit_settings(UNITS / name)


def test_the_units_pass_systemd_analyze_verify(tmp_path) -> None:
    require(SYSTEMD_ANALYZE, f"{SYSTEMD_ANALYZE} is missing: install Debian's systemd to verify the units")
    # verify insists that ExecStart's program exists: point it at one that does.
    for name in UNIT_NAMES:
        text = (UNITS / name).read_text(encoding="utf-8")
        (tmp_path / name).write_text(text.replace(EXEC, sys.executable), encoding="utf-8")
    done = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", *(str(tmp_path / name) for name in UNIT_NAMES)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert not [line for line in output.splitlines() if "frumious" in line], output


def test_the_units_are_hardened_as_documented() -> None:
    mirror, timer, serve = (unit(name) for name in UNIT_NAMES)
    for settings in (mirror, serve):
        assert settings["User"] == ["frumious"] and "DynamicUser" not in settings
        assert settings["ProtectSystem"] == ["strict"]
        assert settings["RestrictAddressFamilies"] == ["AF_INET AF_INET6 AF_UNIX"]
        assert settings["SystemCallFilter"] == ["@system-service"]
        for key in (
            "NoNewPrivileges",
            "PrivateTmp",
            "ProtectHome",
            "PrivateDevices",
            "ProtectKernelTunables",
            "ProtectKernelModules",
            "ProtectControlGroups",
            "LockPersonality",
            "MemoryDenyWriteExecute",
        ):
            assert settings[key] == ["yes"], key
    assert mirror["ExecStart"] == [f"{EXEC} -c /etc/frumious.conf mirror"]
    assert mirror["Type"] == ["oneshot"] and mirror["KillSignal"] == ["SIGTERM"] and "TimeoutStopSec" in mirror
    assert mirror["ReadWritePaths"] == ["/srv/pypi"]
    assert "SuccessExitStatus" not in mirror  # a run stopped by SIGTERM (143) is not a success
    assert serve["ExecStart"][0].startswith(f"{EXEC} -c /etc/frumious.conf serve ")
    assert serve["Type"] == ["simple"] and serve["Restart"] == ["on-failure"] and "ReadWritePaths" not in serve
    assert timer["Persistent"] == ["true"] and "RandomizedDelaySec" in timer and timer["OnCalendar"]


# -- MemoryDenyWriteExecute: the same kernel rule, set with prctl(PR_SET_MDWE) -----------------

PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1


def deny_write_execute() -> None:
    """In the child before exec: what MemoryDenyWriteExecute=yes asks of the kernel."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_MDWE)")


def mdwe_supported() -> bool:
    probe = [sys.executable, "-c", "import mmap; mmap.mmap(-1, 4096, prot=7)"]  # read|write|exec
    try:
        done = subprocess.run(probe, preexec_fn=deny_write_execute, capture_output=True, timeout=30)
    except subprocess.SubprocessError:
        return False  # prctl refused: the kernel is older than 6.3
    return done.returncode != 0 and b"PermissionError" in done.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_mirror_and_serve_run_with_memory_deny_write_execute(fake_pypi, make_config, tmp_path) -> None:
    if not mdwe_supported():
        pytest.skip("the kernel has no prctl(PR_SET_MDWE) (Linux 6.3 or newer) to check MemoryDenyWriteExecute")
    config = make_config(tmp_path, fake_pypi)
    command = [sys.executable, "-m", "frumious", "-c", str(config)]
    done = subprocess.run(
        [*command, "mirror"], preexec_fn=deny_write_execute, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    port = free_port()
    server = subprocess.Popen(
        [*command, "serve", "--port", str(port)], preexec_fn=deny_write_execute, stderr=subprocess.PIPE, text=True
    )
    try:
        page = first_page(server, port, "foo-bar")
        assert page["name"] == "foo-bar" and page["files"]
    finally:
        server.terminate()
        _out, err = server.communicate(timeout=30)
    assert server.returncode == 0, err


# -- cron --------------------------------------------------------------------------------------


def cron_lines() -> list[tuple[Path, str]]:
    """Every crontab line in a code block of the README and docs/operations.md."""
    found = []
    for doc in CRON_DOCS:
        in_block = False
        for line in doc.read_text(encoding="utf-8").splitlines():
            if line.startswith("```"):
                in_block = not in_block
            elif in_block and CRON_LINE.match(line):
                found.append((doc, line))
    return found


def cron_command(line: str) -> str:
    """The command part of an /etc/cron.d line: after the five time fields and the user."""
    match = CRON_LINE.match(line)
    assert match, line
    user, command = match["rest"].split(None, 1)
    assert re.fullmatch(r"[a-z_][a-z0-9_-]*", user), f"no user field: {line}"
    return command


def test_the_documented_cron_lines_run_under_dash(tmp_path) -> None:
    lines = cron_lines()
    assert {doc.name for doc, _ in lines} == {"README.md", "operations.md"}
    shell = shutil.which("dash") or "/bin/sh"
    # Stand-ins for frumious (an error on stderr) and logger (keeps what it reads where a log file would be).
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    logged = tmp_path / "logged"
    (bin_dir / "frumious").write_text('#!/bin/sh\necho "ran: $*"\necho "frumious: an error" >&2\nexit 1\n')
    (bin_dir / "logger").write_text(f'#!/bin/sh\ncat >> "{logged}"\n')
    for stub in bin_dir.iterdir():
        stub.chmod(0o755)
    for doc, line in lines:
        command = cron_command(line)
        assert command.startswith(EXEC + " "), f"{doc.name}: cron's PATH is /usr/bin:/bin, name {EXEC}: {line}"
        assert "|&" not in command, f"{doc.name}: dash rejects |&: {line}"
        assert "%" not in command.replace("\\%", ""), f"{doc.name}: cron turns % into a newline: {line}"
        syntax = subprocess.run([shell, "-n", "-c", command], capture_output=True, text=True, timeout=30)
        assert syntax.returncode == 0, f"{doc.name}: {syntax.stderr}"
        # Run it as cron would (its PATH is /usr/bin:/bin), with the stand-ins in place of the real programs.
        runnable = command.replace(EXEC, str(bin_dir / "frumious")).replace("/var/log/frumious/mirror.log", str(logged))
        logged.unlink(missing_ok=True)
        env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
        done = subprocess.run([shell, "-c", runnable], capture_output=True, text=True, timeout=30, env=env)
        assert done.stderr == "" and done.stdout == "", f"{doc.name}: output escaped to cron's mail: {line}"
        ran, error = logged.read_text().splitlines()
        assert ran.startswith("ran: -c /etc/") and ran.endswith(" mirror") and error == "frumious: an error"
