"""The filter-plugin guide in docs/filters.md is a working plugin: its code, its entry point and its
config, installed as a distribution would be, change what ``frumious mirror`` mirrors."""

from __future__ import annotations

import configparser
import re
import tomllib
from pathlib import Path

import pytest

from fakepypi import make_wheel
from frumious.filters.loading import ENTRY_POINT_GROUP

from .helpers import mirror_dir, run

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "filters.md"


def guide_blocks() -> dict[str, str]:
    """The fenced blocks of the "Writing a filter plugin" section, by language."""
    text = GUIDE.read_text(encoding="utf-8")
    section = text[text.index("## Writing a filter plugin") :]
    section = section[: section.find("\n## ", 1)] if "\n## " in section[1:] else section
    return dict(re.findall(r"```(\w+)\n(.*?)```", section, re.S))


def test_the_guides_plugin_runs_as_documented(fake_pypi, make_config, tmp_path, monkeypatch) -> None:
    blocks = guide_blocks()
    points = tomllib.loads(blocks["toml"])["project"]["entry-points"][ENTRY_POINT_GROUP]
    ((name, target),) = points.items()
    module = target.partition(":")[0]
    site = tmp_path / "site"
    site.mkdir()
    (site / f"{module}.py").write_text(blocks["python"], encoding="utf-8")
    info = site / "frumious_min_name_length-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: frumious-min-name-length\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{name} = {target}\n")
    monkeypatch.syspath_prepend(str(site))

    ini = configparser.ConfigParser()
    ini.read_string(blocks["ini"])
    length = int(ini[name]["length"])
    fake_pypi.index.add("abc", "1.0", make_wheel("abc", "1.0"))  # shorter than the documented length
    sections = {"plugins": {"enabled": [name]}, name: dict(ini[name])}
    config = make_config(tmp_path, fake_pypi, sections=sections)
    assert run(config, "mirror") == 0
    simple = mirror_dir(config) / "web" / "simple"
    mirrored = {p.name for p in simple.iterdir() if p.is_dir()}
    assert length > len("abc") and "abc" not in mirrored
    assert {"yanky", "dep-lib", "foo-bar"} <= mirrored


@pytest.mark.parametrize("lang", ["python", "toml", "ini"])
def test_the_guide_has_each_block(lang: str) -> None:
    assert lang in guide_blocks()
