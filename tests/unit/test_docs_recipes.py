"""Every configuration in docs/recipes.md loads, builds its filters and draws no warning."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from frumious import config
from frumious.filters import load_filters

DOC = Path(__file__).resolve().parents[2] / "docs" / "recipes.md"
BLOCKS = re.findall(r"^## (.+?)$.*?```ini\n(.*?)```", DOC.read_text(), re.S | re.M)


def test_each_recipe_section_has_a_config() -> None:
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize(("heading", "ini"), BLOCKS, ids=[h for h, _ in BLOCKS])
def test_recipe_loads(heading: str, ini: str) -> None:
    settings = config.loads(ini)
    assert settings.warnings == ()
    filters = load_filters(settings, base_dir="/nonexistent")
    assert filters.warnings == ()
