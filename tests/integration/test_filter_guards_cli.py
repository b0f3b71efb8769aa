"""Filter mistakes through the CLI (issue 14): every problem one line, with the [mirror] ones,
exit 2, nothing fetched or written; filter warnings logged once; wheel_tags in a real run."""

from __future__ import annotations

from pathlib import Path

import pytest

from fakepypi import make_wheel

from .helpers import mirror_dir, packages, run


def config_errors(err: str) -> list[str]:
    assert "Traceback" not in err
    return [line for line in err.splitlines() if line.startswith("config error:")]


def enabled(*names: str) -> dict[str, list[str]]:
    return {"enabled": list(names)}


EMPTY = "is enabled but names no project"

# (sections, files under tmp_path, one fragment per expected error line)
WOULD_MIRROR_EVERYTHING = {
    "typo-in-key": (
        {"plugins": enabled("allowlist_project"), "allowlist": {"packges": ["foo-bar"]}},
        {},
        ["[allowlist] packges: unknown key (did you mean packages?)", f"allowlist_project {EMPTY}"],
    ),
    "typo-in-section": (
        {"plugins": enabled("allowlist_project"), "allowlst": {"packages": ["foo-bar"]}},
        {},
        [f"allowlist_project {EMPTY}", "[allowlst]: unknown section (did you mean allowlist?)"],
    ),
    "typo-in-plugins": (
        {"plugins": {"enable": ["allowlist_project"]}, "allowlist": {"packages": ["foo-bar"]}},
        {},
        ["[plugins] enable: unknown key (did you mean enabled?)", "no enabled filter reads [allowlist]"],
    ),
    "empty-allowlist": (
        {"plugins": enabled("allowlist_project"), "allowlist": {"packages": ""}},
        {},
        [f"[allowlist] packages: allowlist_project {EMPTY}"],
    ),
    "empty-requirements-file": (
        {"plugins": enabled("project_requirements"), "allowlist": {"requirements": ["reqs.txt"]}},
        {"reqs.txt": "# to be filled in\n-r other.txt\n"},
        [f"[allowlist] requirements: project_requirements {EMPTY}"],
    ),
    "unreadable-requirements-file": (
        {"plugins": enabled("project_requirements"), "allowlist": {"requirements": ["missing.txt"]}},
        {},
        ["[allowlist] requirements: cannot read"],
    ),
    "requirements-glob-matching-nothing": (
        {"plugins": enabled("project_requirements"), "allowlist": {"requirements": ["reqs/*.txt"]}},
        {},
        [f"[allowlist] requirements: project_requirements {EMPTY}"],
    ),
    "empty-release-allowlist": (
        {"plugins": enabled("allowlist_release")},
        {},
        [f"[allowlist] packages: allowlist_release {EMPTY}"],
    ),
}


@pytest.mark.parametrize(
    ("sections", "files", "expected"), WOULD_MIRROR_EVERYTHING.values(), ids=WOULD_MIRROR_EVERYTHING
)
def test_a_config_that_would_mirror_everything_never_runs(
    fake_pypi, make_config, tmp_path, capsys, monkeypatch, sections, files, expected
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    monkeypatch.chdir(tmp_path)  # requirements paths start from the working directory, as in bandersnatch
    config = make_config(tmp_path, fake_pypi, sections=sections)
    assert run(config, "mirror") == 2
    errors = config_errors(capsys.readouterr().err)
    assert len(errors) == len(expected), errors
    for line, fragment in zip(errors, expected, strict=True):
        assert fragment in line, (line, fragment)
    assert fake_pypi.requests == []
    assert not mirror_dir(config).exists()


def test_filter_problems_are_listed_with_the_mirror_ones(fake_pypi, make_config, tmp_path, capsys) -> None:
    sections = {"plugins": enabled("allowlist_project"), "allowlist": {"packges": ["foo-bar"]}}
    config = make_config(tmp_path, fake_pypi, workers=99, sections=sections)
    for command in (["mirror"], ["mirror", "--dry-run"], ["sync", "foo-bar"]):
        assert run(config, *command) == 2
        errors = config_errors(capsys.readouterr().err)
        assert [e.split(":")[1].strip() for e in errors] == [
            "[mirror] workers",
            "[allowlist] packges",
            "[allowlist] packages",
        ]
    assert fake_pypi.requests == []


def test_filter_warnings_are_logged_once(fake_pypi, make_config, tmp_path, capsys) -> None:
    sections = {
        "plugins": enabled("allowlist_project", "latest_release"),
        "allowlist": {"packages": ["foo-bar"]},
        "blocklist": {"platforms": "windows"},
    }
    config = make_config(tmp_path, fake_pypi, sections=sections)
    assert run(config, "mirror") == 0
    err = capsys.readouterr().err
    assert err.count("[blocklist] platforms: ignored, as only exclude_platform reads it and it is not enabled") == 1
    assert err.count("filter plugin 'latest_release' does nothing") == 1
    assert fake_pypi.paths("/simple/") == ["/simple/foo-bar/"]


def test_a_bandersnatch_config_with_every_documented_filter_section_runs(fake_pypi, make_config, tmp_path) -> None:
    (tmp_path / "requirements.txt").write_text("foo-bar\n")
    sections = {
        "plugins": enabled("allowlist_project", "project_requirements", "blocklist_release", "exclude_platform"),
        "allowlist": {
            "packages": ["foo-bar"],
            "requirements_path": str(tmp_path),
            "requirements": ["requirements.txt"],
        },
        "blocklist": {"packages": ["yanky"], "platforms": "windows", "plugins": ["blocklist_project"]},
        "filter_regex": {"packages": [".*-dev$"], "releases": [".*rc.*"]},
        "filter_prerelease": {"packages": ["foo-bar"]},
        "latest_release": {"keep": "3", "sort_by": "time"},
        "size_project_metadata": {"max_package_size": "1G"},
        "versions_count_project_metadata": {"min_versions": "1", "max_versions": "100"},
        "regex_project_metadata": {"not-null:info.classifiers": [".*Python :: 3"]},
        "regex_release_file_metadata": {"any:release_file.packagetype": ["sdist", "bdist_wheel"]},
        "version_range_release_file_metadata": {"release_file.requires_python": ["3.11"]},
        "whitelist": {"packages": ["old"]},
        "s3": {"region_name": "us-east-1", "config_param_ServerSideEncryption": "AES256"},
    }
    config = make_config(tmp_path, fake_pypi, sections=sections)
    assert run(config, "mirror") == 0


def test_wheel_tags_keeps_the_listed_architectures_and_interpreters(fake_pypi, make_config, tmp_path: Path) -> None:
    tags = [
        "cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64",
        "cp312-cp312-musllinux_1_2_aarch64",
        "cp312-cp312-manylinux_2_17_ppc64le.manylinux2014_ppc64le",
        "cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64",
        "cp39-abi3-macosx_10_9_universal2",
        "cp312-cp312-win32",
        "cp312-cp312-win_amd64",
        "pp310-pypy310_pp73-manylinux_2_28_x86_64",
    ]
    for tag in tags:
        fake_pypi.index.add("dep-lib", "0.2", make_wheel("dep-lib", "0.2", tag=tag))
    sections = {
        "plugins": enabled("wheel_tags"),
        "wheel_tags": {"architectures": "x86_64 aarch64", "interpreters": ["cp311-cp313", "abi3"]},
    }
    config = make_config(tmp_path, fake_pypi, sections=sections)
    assert run(config, "mirror") == 0
    kept = {name for name in packages(mirror_dir(config)) if name.startswith("dep_lib-0.2") and name.endswith(".whl")}
    assert kept == {
        "dep_lib-0.2-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "dep_lib-0.2-cp312-cp312-musllinux_1_2_aarch64.whl",
        "dep_lib-0.2-cp39-abi3-macosx_10_9_universal2.whl",
        "dep_lib-0.2-cp312-cp312-win_amd64.whl",
    }
    assert "dep_lib-0.1-py3-none-any.whl" in packages(mirror_dir(config))
