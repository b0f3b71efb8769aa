"""docs/recipes.md's PyPI recipes ("An allowlisted mirror", "Full PyPI on a filesystem"), run against the fake PyPI.

Each config is used as written, ``https://pypi.org`` replaced by the fake's URL. Checked: what the
recipe's text promises (the allowlist's specifiers and ``keep = 3``; no full listing for an
allowlist, one request per listed project when nothing changed; the whole index for the full
mirror, a second run one request).
"""

from __future__ import annotations

import json
from pathlib import Path

from fakepypi import FakeIndex, default_index, make_wheel, run_fake_pypi

from .helpers import mirror_dir, packages, run
from .recipes import recipe, runnable

RELEASES = {
    "requests": ["2.31.0", "2.32.3"],
    "idna": ["3.10"],
    "certifi": ["2024.8.30"],
    "charset-normalizer": ["3.4.0"],
    "urllib3": ["1.26.20", "2.2.3"],
    "django": ["4.1", "4.2", "5.0", "5.1", "5.2", "6.0"],
    "flask": ["3.0.3"],  # not listed
}


def index() -> FakeIndex:
    fake = FakeIndex()
    for name, versions in RELEASES.items():
        for version in versions:
            fake.add(name, version, make_wheel(name, version))
    return fake


def versions(root: Path, name: str) -> list[str]:
    return list(json.loads((root / "web" / "simple" / name / "index.v1_json").read_text())["versions"])


def test_the_allowlisted_recipe_keeps_what_it_says_asking_only_the_listed_projects(tmp_path: Path) -> None:
    with run_fake_pypi(index()) as pypi:
        config = runnable(recipe("An allowlisted mirror"), tmp_path, {"https://pypi.org": pypi.url})
        assert run(config, "mirror") == 0
        root = mirror_dir(config)
        assert versions(root, "urllib3") == ["2.2.3"]  # urllib3>=2
        assert versions(root, "django") == ["5.0", "5.1", "5.2"]  # >=4.2,<6, then the three newest
        assert versions(root, "requests") == ["2.31.0", "2.32.3"]
        assert not (root / "web" / "simple" / "flask").exists() and "flask-3.0.3-py3-none-any.whl" not in packages(root)
        assert "/simple/" not in pypi.paths()  # never the full listing
        pypi.reset_log()
        report = tmp_path / "run.json"
        assert run(config, "mirror", "--report", str(report)) == 0
        assert json.loads(report.read_text())["requests"] == 6  # one per listed project


def test_the_full_pypi_recipe_mirrors_everything_and_a_second_run_is_one_request(tmp_path: Path) -> None:
    with run_fake_pypi(default_index()) as pypi:
        config = runnable(recipe("Full PyPI on a filesystem"), tmp_path, {"https://pypi.org": pypi.url})
        assert run(config, "mirror") == 0
        expected = {f.filename for f in pypi.index.all_files()}
        assert expected and {p for p in packages(mirror_dir(config)) if not p.endswith(".metadata")} == expected
        report = tmp_path / "run.json"
        assert run(config, "mirror", "--report", str(report)) == 0
        assert json.loads(report.read_text())["requests"] == 1  # the listing, answered 304
