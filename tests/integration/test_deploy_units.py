"""The shard units under deploy/systemd pass `systemd-analyze verify` (a `frumious-shard@0`
instance), carry the same hardening as contrib/systemd, and their commands parse with frumious's
own parser once systemd has put in the instance and the EnvironmentFile's N."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

from frumious.cli import build_parser

from .helpers import require, unit_settings

ROOT = Path(__file__).resolve().parents[2]
UNITS = ROOT / "deploy" / "systemd"
CONTRIB = ROOT / "contrib" / "systemd"
SYSTEMD_ANALYZE = "/usr/bin/systemd-analyze"
EXEC = "/usr/local/bin/frumious"
SERVICES = ("frumious-shard@.service", "frumious-publish.service")
TIMERS = ("frumious-shard@.timer", "frumious-publish.timer")
TARGET = "frumious-shards.target"
ENV_FILE = "/etc/frumious/shards.env"


def unit(path: Path) -> dict[str, list[str]]:
    return unit_settings(path)


def instance(name: str, index: int) -> str:
    return name.replace("@.", f"@{index}.")


def environment() -> dict[str, str]:
    """shards.env as systemd's EnvironmentFile reads it (KEY=VALUE lines, # comments)."""
    lines = (UNITS / "shards.env").read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def expand(command: str, index: int) -> list[str]:
    """ExecStart as systemd runs it for instance ``index``: %i, then ${VAR} from the env file."""
    env = environment()
    words = shlex.split(command.replace("%i", str(index)))
    return [re.sub(r"\$\{(\w+)\}", lambda m: env[m[1]], word) for word in words]


def test_the_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    require(SYSTEMD_ANALYZE, f"{SYSTEMD_ANALYZE} is missing: install Debian's systemd to verify the units")
    # verify insists that ExecStart's program exists: point it at one that does. A template is
    # verified as one of its instances.
    names = []
    for name in (*SERVICES, *TIMERS, TARGET):
        text = (UNITS / name).read_text(encoding="utf-8").replace(EXEC, sys.executable)
        (tmp_path / instance(name, 0)).write_text(text, encoding="utf-8")
        names.append(instance(name, 0))
    done = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", *(str(tmp_path / name) for name in names)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert not [line for line in output.splitlines() if "frumious" in line], output


def test_the_units_are_hardened_like_the_shipped_ones() -> None:
    mirror = unit(CONTRIB / "frumious-mirror.service")
    hardening = {key: values for key, values in mirror.items() if key.startswith(("Protect", "Restrict", "Private"))}
    hardening |= {
        key: mirror[key]
        for key in (
            "User",
            "NoNewPrivileges",
            "LockPersonality",
            "MemoryDenyWriteExecute",
            "SystemCallFilter",
            "SystemCallArchitectures",
            "CapabilityBoundingSet",
            "ReadWritePaths",
            "KillSignal",
            "Type",
        )
    }
    assert len(hardening) > 20
    for name in SERVICES:
        settings = unit(UNITS / name)
        assert {key: settings.get(key) for key in hardening} == hardening, name
        assert "SuccessExitStatus" not in settings  # a run stopped by SIGTERM (143) is not a success
        assert settings["TimeoutStopSec"] == mirror["TimeoutStopSec"]
    shard = unit(UNITS / "frumious-shard@.service")
    assert shard["EnvironmentFile"] == [ENV_FILE]  # required: no "-", so a missing N stops the unit
    assert shard["PartOf"] == [TARGET]


def test_the_timers_start_the_shipped_services() -> None:
    for name in TIMERS:
        timer = unit(UNITS / name)
        assert timer["Persistent"] == ["true"] and timer["OnCalendar"], name
        (target,) = timer["Unit"]
        assert target.replace("%i", "") in SERVICES, target
    assert unit(UNITS / "frumious-shard@.timer")["WantedBy"] == [TARGET]
    assert unit(UNITS / TARGET)["WantedBy"] == ["timers.target"]


def test_the_commands_parse_with_frumious_own_parser() -> None:
    parser = build_parser()
    count = int(environment()["FRUMIOUS_SHARDS"])
    (command,) = unit(UNITS / "frumious-shard@.service")["ExecStart"]
    for index in range(count):
        argv = expand(command, index)
        assert argv[0] == EXEC
        args = parser.parse_args(argv[1:])
        assert args.command == "mirror" and (args.shard.index, args.shard.count) == (index, count)
    (command,) = unit(UNITS / "frumious-publish.service")["ExecStart"]
    args = parser.parse_args(expand(command, 0)[1:])
    assert args.command == "publish" and args.wait == 3600
    # The same config file as the other shipped units.
    (mirror,) = unit(CONTRIB / "frumious-mirror.service")["ExecStart"]
    assert args.config == parser.parse_args(mirror.split()[1:]).config
