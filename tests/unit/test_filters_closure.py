"""The closure's pure part: targets, markers and extras per target, the choice of file, config errors."""

from __future__ import annotations

import pytest

from frumious.errors import ConfigError
from frumious.filters import load_filters
from frumious.filters.closure import Dist, parse_target, read_config, requirements_for, walk
from frumious.settings import MirrorSettings, Settings

LINUX, WINDOWS = parse_target("cp312-manylinux_2_28_x86_64"), parse_target("cp311-win_amd64")


def test_a_target_gives_its_markers_and_the_wheel_tags_it_installs() -> None:
    assert LINUX.environment["sys_platform"] == "linux" and LINUX.environment["python_version"] == "3.12"
    assert WINDOWS.environment["platform_system"] == "Windows" and WINDOWS.environment["os_name"] == "nt"
    assert LINUX.fits_wheel("a-1-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
    assert LINUX.fits_wheel("a-1-cp38-abi3-manylinux1_x86_64.whl")
    assert not LINUX.fits_wheel("a-1-cp312-cp312-manylinux_2_17_aarch64.whl")
    assert not LINUX.fits_wheel("a-1-cp311-cp311-manylinux_2_17_x86_64.whl")
    assert WINDOWS.fits_wheel("a-1-cp311-cp311-win_amd64.whl") and WINDOWS.fits_wheel("a-1-py3-none-any.whl")
    assert parse_target("cp313-macosx_11_0_arm64").fits_wheel("a-1-cp313-cp313-macosx_10_9_universal2.whl")


def test_markers_and_extras_are_evaluated_per_target() -> None:
    requires = ['tzdata; sys_platform == "win32"', 'pysocks; extra == "socks"', 'te; python_version < "3.12"', "idna"]
    assert [r.name for r in requirements_for(requires, [], LINUX)] == ["idna"]
    assert [r.name for r in requirements_for(requires, ["socks"], WINDOWS)] == ["tzdata", "pysocks", "te", "idna"]


def test_the_newest_allowed_version_with_a_fitting_file_is_read() -> None:
    held = {
        "app": [Dist("1.0", "app-1.0-py3-none-any.whl", None, ("lib<2",))],
        "lib": [
            Dist("1.0", "lib-1.0-py3-none-any.whl", None, ("old",)),
            Dist("1.5", "lib-1.5-cp312-cp312-win_amd64.whl", None, ("winonly",)),  # no wheel for Linux
            Dist("1.9", "lib-1.9.tar.gz", ">=3.13", ("toonew",)),  # Requires-Python excludes 3.12
            Dist("2.0", "lib-2.0-py3-none-any.whl", None, ("two",)),  # outside <2
        ],
        "old": [Dist("1", "old-1.tar.gz")],  # no metadata: a hole, dependencies unknown
    }
    found = walk(read_config(["app"], "cp312-manylinux_2_28_x86_64", "x"), held, lambda name: None)
    assert found.needed == {"app", "lib", "old"}
    assert found.holes == ["old 1 (old-1.tar.gz) has no core metadata mirrored: its dependencies are not followed"]


def test_unknown_projects_are_returned_for_the_core_to_fetch() -> None:
    found = walk(read_config(["app[x]"], "cp311-win_amd64", "x"), {}, lambda name: None)
    assert found.unknown == {"app"} and found.needed == {"app"}


def test_every_closure_mistake_is_a_config_error_listed_at_once() -> None:
    sections = {"allowlist": {"packages": "django", "closure": "true"}, "closure": {"environments": "cp312-plan9, x"}}
    settings = Settings(mirror=MirrorSettings(directory="/x"), plugins=("allowlist_project",), sections=sections)
    with pytest.raises(ConfigError) as raised:
        load_filters(settings)
    assert len(raised.value.problems) == 2
    assert "unknown platform 'plan9'" in raised.value.problems[0]
    sections["closure"] = {}
    with pytest.raises(ConfigError, match="names no target environment"):
        load_filters(settings)
    sections["allowlist"]["closure"] = "maybe"
    with pytest.raises(ConfigError, match="not a boolean"):
        load_filters(settings)


def test_the_closure_config_is_part_of_the_fingerprint_and_off_leaves_it_unchanged() -> None:
    def fingerprint(allowlist: dict[str, str], environments: str = "cp312-win_amd64") -> str:
        sections = {"allowlist": allowlist, "closure": {"environments": environments}}
        settings = Settings(mirror=MirrorSettings(directory="/x"), plugins=("allowlist_project",), sections=sections)
        return load_filters(settings).fingerprint

    plain = fingerprint({"packages": "django"})
    assert fingerprint({"packages": "django", "closure": "false"}) == plain
    closure = fingerprint({"packages": "django", "closure": "true"})
    assert closure != plain != fingerprint({"packages": "django", "closure": "true"}, "cp311-win_amd64") != closure


@pytest.mark.parametrize("text", ["cp312-linux_x86", "cp312-manylinux_2_28_amd64", "cp312-musllinux_1_2_arm"])
def test_an_unknown_linux_architecture_is_refused(text: str) -> None:
    # As wheel_tags refuses it: otherwise every dependency would only show up as a hole.
    with pytest.raises(ValueError, match="unknown architecture"):
        parse_target(text)
