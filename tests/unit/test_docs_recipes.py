"""Every configuration in docs/recipes.md loads, builds its filters and draws no warning."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from frumious import config
from frumious.filters import load_filters

DOC = Path(__file__).resolve().parents[2] / "docs" / "recipes.md"
SECTIONS = re.findall(r"^## (.+?)$(.*?)(?=^## |\Z)", DOC.read_text(), re.S | re.M)
# Every ini block, named by its section (a section may hold two: an upstream mirror and its downstream).
BLOCKS = [
    (f"{heading} {n}" if n else heading, ini)
    for heading, body in SECTIONS
    for n, ini in enumerate(re.findall(r"^```ini\n(.*?)^```", body, re.S | re.M))
]


def test_each_recipe_section_has_a_config() -> None:
    assert len(BLOCKS) >= 8
    assert "A mirror of a frumious mirror 1" in dict(BLOCKS)  # the downstream's block is loaded too


@pytest.mark.parametrize(("heading", "ini"), BLOCKS, ids=[h for h, _ in BLOCKS])
def test_recipe_loads(heading: str, ini: str) -> None:
    settings = config.loads(ini)
    assert settings.warnings == ()
    filters = load_filters(settings, base_dir="/nonexistent")
    assert filters.warnings == ()
