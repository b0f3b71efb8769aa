"""The configurations of docs/recipes.md, made runnable against the test's servers.

``recipe(heading, n)`` is the n-th ``ini`` block under a ``## heading``; ``runnable`` writes it
to ``work/frumious.conf`` with the mirror under ``work/mirror``, each documented host replaced by
a test server on 127.0.0.1 (``allow-non-https = true`` added), and any other key left as written.
"""

from __future__ import annotations

import configparser
import re
from collections.abc import Mapping
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "recipes.md"
SECTION = re.compile(r"^## (.+?)$(.*?)(?=^## |\Z)", re.S | re.M)
BLOCK = re.compile(r"^```ini\n(.*?)^```", re.S | re.M)


def recipe(heading: str, n: int = 0) -> str:
    sections = {title: BLOCK.findall(body) for title, body in SECTION.findall(DOC.read_text())}
    assert heading in sections, f"docs/recipes.md has no section {heading!r}: {sorted(sections)}"
    return str(sections[heading][n])


def runnable(
    ini: str,
    work: Path,
    hosts: Mapping[str, str],
    overrides: Mapping[str, Mapping[str, str]] | None = None,
) -> Path:
    """``ini`` as a config file in ``work`` (its ``[mirror] directory`` is ``work/mirror``)."""
    for documented, served in hosts.items():
        assert documented in ini, f"the recipe does not name {documented}"
        ini = ini.replace(documented, served)
    parser = configparser.RawConfigParser()
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(ini)
    parser["mirror"]["directory"] = str(work / "mirror")
    parser["mirror"]["allow-non-https"] = "true"
    for section, keys in (overrides or {}).items():
        if not parser.has_section(section):
            parser.add_section(section)
        parser[section].update(keys)
    path = work / "frumious.conf"
    with path.open("w") as out:
        parser.write(out)
    return path
