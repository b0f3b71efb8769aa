"""wheel_tags: architectures and interpreters read from real PyPI wheel names, never substrings."""

from __future__ import annotations

import pytest

from frumious.errors import ConfigError
from frumious.filters import FilterSet, load_filters
from frumious.filters.tags import architectures_of
from frumious.models import DistFile, Project
from frumious.settings import MirrorSettings, Settings


def load(**keys: str) -> FilterSet:
    sections = {"wheel_tags": keys}
    return load_filters(Settings(mirror=MirrorSettings(directory="/x"), plugins=("wheel_tags",), sections=sections))


def keeps(filters: FilterSet, filename: str, packagetype: str | None = None) -> bool:
    if packagetype is None:
        packagetype = "sdist" if filename.endswith(".tar.gz") else "bdist_wheel"
    file = DistFile(filename, f"https://f/packages/{filename}", 1, {}, "1.0", packagetype=packagetype)
    return filters.keeps_file(Project("p", 1, {"1.0": (file,)}), file)


X86_ARM = {"architectures": "x86_64 aarch64"}
CP311_313_ABI3 = {"interpreters": "cp311-cp313 abi3"}
BOTH = {**X86_ARM, **CP311_313_ABI3}

# (config, filename, kept)
CASES = [
    # -- architectures ---------------------------------------------------------------------
    (X86_ARM, "numpy-2.1.0-cp312-cp312-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", True),
    (X86_ARM, "numpy-2.1.0-cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64.whl", True),
    (X86_ARM, "numpy-2.1.0-cp312-cp312-manylinux_2_17_ppc64le.manylinux2014_ppc64le.whl", False),
    (X86_ARM, "numpy-2.1.0-cp312-cp312-manylinux_2_17_s390x.manylinux2014_s390x.whl", False),
    (X86_ARM, "numpy-1.26.4-cp312-cp312-manylinux_2_17_i686.manylinux2014_i686.whl", False),
    (X86_ARM, "numpy-2.1.0-cp312-cp312-musllinux_1_2_x86_64.whl", True),
    (X86_ARM, "numpy-2.1.0-cp312-cp312-musllinux_1_1_armv7l.whl", False),
    (X86_ARM, "cryptography-43.0.0-cp39-abi3-manylinux_2_28_aarch64.whl", True),
    (X86_ARM, "cryptography-43.0.0-cp39-abi3-manylinux_2_28_armv7l.whl", False),
    (X86_ARM, "numpy-2.1.0-cp312-cp312-macosx_14_0_arm64.whl", True),
    (X86_ARM, "numpy-2.1.0-cp312-cp312-macosx_10_13_x86_64.whl", True),
    (X86_ARM, "cryptography-43.0.0-cp39-abi3-macosx_10_9_universal2.whl", True),
    ({"architectures": "aarch64"}, "cryptography-43.0.0-cp39-abi3-macosx_10_9_universal2.whl", True),
    ({"architectures": "x86"}, "cryptography-43.0.0-cp39-abi3-macosx_10_9_universal2.whl", False),
    (X86_ARM, "numpy-2.1.0-cp312-cp312-win_amd64.whl", True),
    (X86_ARM, "numpy-2.1.0-cp312-cp312-win_arm64.whl", True),
    (X86_ARM, "numpy-2.1.0-cp312-cp312-win32.whl", False),
    ({"architectures": "x86"}, "numpy-2.1.0-cp312-cp312-win32.whl", True),
    ({"architectures": "amd64"}, "numpy-2.1.0-cp312-cp312-win_amd64.whl", True),
    ({"architectures": "arm64"}, "numpy-2.1.0-cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64.whl", True),
    (X86_ARM, "torch-2.1.0+cu118-cp311-cp311-linux_x86_64.whl", True),
    (X86_ARM, "torch-2.1.0+cpu-cp311-cp311-linux_armv7l.whl", False),
    (X86_ARM, "six-1.16.0-py2.py3-none-any.whl", True),
    (X86_ARM, "six-1.16.0.tar.gz", True),
    # -- interpreters ----------------------------------------------------------------------
    (CP311_313_ABI3, "numpy-2.1.0-cp311-cp311-win_amd64.whl", True),
    (CP311_313_ABI3, "numpy-2.1.0-cp313-cp313t-win_amd64.whl", True),
    (CP311_313_ABI3, "numpy-2.1.0-cp310-cp310-win_amd64.whl", False),
    (CP311_313_ABI3, "numpy-2.2.0-cp314-cp314-win_amd64.whl", False),
    (CP311_313_ABI3, "cryptography-43.0.0-cp37-abi3-manylinux_2_28_x86_64.whl", True),
    (CP311_313_ABI3, "numpy-2.1.0-pp310-pypy310_pp73-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", False),
    (CP311_313_ABI3, "numpy-2.1.0-graalpy311-graalpy242_311_native-manylinux_2_28_x86_64.whl", False),
    ({"interpreters": "pp310"}, "numpy-2.1.0-pp310-pypy310_pp73-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", True),
    ({"interpreters": "graalpy311"}, "numpy-2.1.0-graalpy311-graalpy242_311_native-manylinux_2_28_x86_64.whl", True),
    # Pure wheels pass unless a py token is listed; then it decides.
    (CP311_313_ABI3, "six-1.16.0-py2.py3-none-any.whl", True),
    (CP311_313_ABI3, "futures-3.4.0-py2-none-any.whl", True),
    ({"interpreters": "cp312 py3"}, "futures-3.4.0-py2-none-any.whl", False),
    ({"interpreters": "cp312 py3"}, "six-1.16.0-py2.py3-none-any.whl", True),
    ({"interpreters": "cp312 py3"}, "black-24.8.0-py310-none-any.whl", True),
    ({"interpreters": "cp312 none"}, "legacy-1.0-cp27-none-any.whl", True),
    # -- both ------------------------------------------------------------------------------
    (BOTH, "numpy-2.1.0-cp312-cp312-manylinux_2_17_aarch64.manylinux2014_aarch64.whl", True),
    (BOTH, "numpy-2.1.0-cp310-cp310-manylinux_2_17_aarch64.manylinux2014_aarch64.whl", False),
    (BOTH, "numpy-2.1.0-cp312-cp312-win32.whl", False),
    (BOTH, "ruff-0.6.0-py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64.whl", True),
    (BOTH, "ruff-0.6.0-py3-none-musllinux_1_2_armv7l.whl", False),
    # Not wheels: eggs and installers go, a wheel name pip would refuse too.
    (BOTH, "numpy-1.0-py2.7-win32.egg", False),
    (BOTH, "broken-1.0.whl", False),
]


@pytest.mark.parametrize(("keys", "filename", "kept"), CASES, ids=[f"{i}-{c[1]}" for i, c in enumerate(CASES)])
def test_wheel_tags(keys: dict[str, str], filename: str, kept: bool) -> None:
    assert keeps(load(**keys), filename) is kept


def test_sdists_pass_by_type_or_by_name() -> None:
    filters = load(**BOTH)
    assert keeps(filters, "pkg-1.0.zip", "sdist")
    assert keeps(filters, "pkg-1.0.tar.gz", "")
    assert not keeps(filters, "pkg-1.0.win-amd64.exe", "bdist_wininst")


@pytest.mark.parametrize(
    ("platform", "cpus"),
    [
        ("manylinux_2_28_x86_64", {"x86_64"}),
        ("manylinux1_i686", {"x86"}),
        ("linux_armv6l", {"armv6l"}),
        ("macosx_11_0_universal2", {"x86_64", "aarch64"}),
        ("macosx_10_6_intel", {"x86", "x86_64"}),
        ("android_21_arm64_v8a", {"aarch64"}),
        ("ios_13_0_arm64_iphonesimulator", {"aarch64"}),
        ("win_arm64", {"aarch64"}),
        ("any", {"any"}),
        ("plan9_mips", set()),
    ],
)
def test_architectures_of(platform: str, cpus: set[str]) -> None:
    assert architectures_of(platform) == cpus


@pytest.mark.parametrize(
    ("keys", "fragment"),
    [
        ({"architectures": "x86_64 sparc"}, "unknown architecture 'sparc'"),
        ({"interpreters": "cp311-pp313"}, "'cp311-pp313' is not an interpreter tag"),
        ({"interpreters": "python3"}, "'python3' is not an interpreter tag"),
        ({"interpreters": "cp313-cp311"}, "'cp313-cp311' is an empty range"),
        ({"interpreters": "3.12"}, "'3.12' is not an interpreter tag"),
    ],
)
def test_unknown_tokens_are_config_errors(keys: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(**keys)
    assert any(fragment in p for p in info.value.problems), info.value.problems


def test_nothing_set_is_a_warning_and_keeps_everything() -> None:
    filters = load()
    assert any("wheel_tags" in w and "neither" in w for w in filters.warnings)
    assert keeps(filters, "numpy-2.1.0-cp312-cp312-win32.whl")
