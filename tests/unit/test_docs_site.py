"""The documentation site builds with ``mkdocs build --strict``: every page in the nav, no broken
link or anchor, and the reference pages filled from the code by docs/hooks.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from frumious.config.mirror import MIRROR_KEYS

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("mkdocs", reason="the docs extra is not installed: pip install -e '.[docs]'")


def build(project: Path, site: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    command = [
        sys.executable,
        "-m",
        "mkdocs",
        "build",
        "--strict",
        "-f",
        str(project / "mkdocs.yml"),
        "-d",
        str(site),
    ]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)


def copy_project(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(ROOT / "mkdocs.yml", project)
    shutil.copytree(ROOT / "docs", project / "docs")
    (project / "src").symlink_to(ROOT / "src")
    return project


def test_the_site_builds_strict_with_the_generated_reference(tmp_path: Path) -> None:
    site = tmp_path / "site"
    result = build(ROOT, site)
    assert result.returncode == 0, result.stderr
    config = (site / "config" / "index.html").read_text()
    assert all(f"<code>{key}</code>" in config for key in MIRROR_KEYS)
    assert "<code>verify_concurrency</code>" in config and "<code>default_container</code>" in config
    cli = (site / "cli" / "index.html").read_text()
    assert "--skip-simple-root" in cli and "--root-path" in cli
    assert "generated:" not in config + cli


@pytest.mark.parametrize(
    ("page", "edit", "complaint"),
    [
        ("recipes.md", "\nSee [nowhere](missing.md).\n", "missing.md"),
        ("recipes.md", "\nSee [the units](../contrib/systemd/).\n", "../contrib/systemd/"),
        ("config.md", None, "marker"),
    ],
    ids=["broken link", "link outside docs", "marker removed"],
)
def test_strict_mode_fails_the_build(tmp_path: Path, page: str, edit: str | None, complaint: str) -> None:
    project = copy_project(tmp_path)
    path = project / "docs" / page
    text = path.read_text()
    path.write_text(text + edit if edit is not None else text.replace("<!-- generated: config keys -->", ""))
    result = build(project, tmp_path / "site")
    assert result.returncode != 0
    assert complaint in result.stderr + result.stdout
