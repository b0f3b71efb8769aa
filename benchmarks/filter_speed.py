"""How long the project filters take over a PyPI-sized listing.

Run by hand: ``.venv/bin/python benchmarks/filter_speed.py [names]``. It builds 700,000
listing names (mixed case and separators, like PyPI's), a 10,000-name allowlist, a
4,000-line requirements file (half of it allowlisted too) and a small blocklist, then times ``load_filters`` and one
``allows_project`` call per name. The target is well under one second for the calls.
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

from frumious.filters import load_filters
from frumious.settings import MirrorSettings, Settings


def listing(count: int, rng: random.Random) -> list[str]:
    shapes = ("{}-{}", "{}_{}", "{}.{}", "{}{}", "{}-{}", "{}-{}")
    names = []
    for i in range(count):
        word = rng.choice(("py", "Django", "flask", "aws", "data", "lib", "tool", "x"))
        name = rng.choice(shapes).format(word, i)
        names.append(name.upper() if i % 17 == 0 else name)
    return names


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 700_000
    rng = random.Random(42)
    names = listing(count, rng)
    picked = rng.sample(names, 12_000)
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "requirements.txt").write_text("\n".join(f"{n}>=1.0" for n in picked[8_000:]) + "\n")
        settings = Settings(
            mirror=MirrorSettings(directory=tmp),
            plugins=("allowlist_project", "project_requirements", "blocklist_project", "regex_project"),
            sections={
                "allowlist": {"packages": "\n".join(picked[:10_000]), "requirements": "requirements.txt"},
                "blocklist": {"packages": "\n".join(picked[:50])},
                "filter_regex": {"packages": ".+-evil$"},
            },
        )
        started = time.perf_counter()
        filters = load_filters(settings, base_dir=tmp)
        loaded = time.perf_counter() - started
    started = time.perf_counter()
    kept = sum(1 for name in names if filters.allows_project(name))
    elapsed = time.perf_counter() - started
    print(f"load_filters: {loaded:.3f} s")
    print(f"allows_project over {count:,} names: {elapsed:.3f} s ({elapsed / count * 1e9:.0f} ns/name, {kept:,} kept)")


if __name__ == "__main__":
    main()
