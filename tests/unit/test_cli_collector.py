"""A command runs with start-up's objects frozen out of the collector; called with arguments, it thaws them after."""

from __future__ import annotations

import gc
from pathlib import Path

from frumious.cli import commands, main


def test_a_command_runs_with_start_up_frozen_and_leaves_the_collector_as_found(tmp_path: Path, monkeypatch) -> None:
    config = tmp_path / "bandersnatch.conf"
    config.write_text(f"[mirror]\ndirectory = {tmp_path / 'mirror'}\nmaster = https://pypi.org\n")
    seen: list[int] = []

    def dispatch(args: object, settings: object) -> int:
        seen.append(gc.get_freeze_count())
        return 0

    monkeypatch.setattr(commands, "dispatch", dispatch)
    assert gc.get_freeze_count() == 0
    assert main(["-c", str(config), "mirror"]) == 0
    assert seen and seen[0] > 1000  # the modules, classes and settings made before the command
    assert gc.get_freeze_count() == 0


def test_a_failing_command_thaws_too(tmp_path: Path, monkeypatch) -> None:
    config = tmp_path / "bandersnatch.conf"
    config.write_text(f"[mirror]\ndirectory = {tmp_path / 'mirror'}\nmaster = https://pypi.org\n")

    def dispatch(args: object, settings: object) -> int:
        raise KeyboardInterrupt

    monkeypatch.setattr(commands, "dispatch", dispatch)
    assert main(["-c", str(config), "mirror"]) == 130  # interrupted: its one line, exit 130
    assert gc.get_freeze_count() == 0


def test_the_command_line_of_the_process_leaves_them_frozen_to_its_end(tmp_path: Path, monkeypatch) -> None:
    config = tmp_path / "bandersnatch.conf"
    config.write_text(f"[mirror]\ndirectory = {tmp_path / 'mirror'}\nmaster = https://pypi.org\n")
    monkeypatch.setattr(commands, "dispatch", lambda args, settings: 0)
    monkeypatch.setattr("sys.argv", ["frumious", "-c", str(config), "mirror"])
    try:
        assert main() == 0
        assert gc.get_freeze_count() > 1000  # the exit's last collection passes them by
    finally:
        gc.unfreeze()
