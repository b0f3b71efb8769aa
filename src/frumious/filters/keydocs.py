"""Every config key the built-in filter plugins read, with the plugins that read it: the source
of docs/config.md's filter tables.

A test builds each plugin of ``BUILTIN_FILTERS`` through a ``FilterContext`` (which records every
key asked for) and holds this table to what they ask: a plugin reading a key missing here, or a
line here no plugin reads, fails the suite. ``key = "*"`` marks a section whose every key is a rule.
"""

from __future__ import annotations

from typing import NamedTuple

__all__ = ["ANY_KEY", "FILTER_KEYS", "FilterKey"]

ANY_KEY = "*"


class FilterKey(NamedTuple):
    section: str
    key: str
    plugins: tuple[str, ...]
    help: str


_RULE = "any key: a JSON path into the project's {what} (`info.classifiers`), its value one regular expression a line"

FILTER_KEYS: tuple[FilterKey, ...] = (
    FilterKey(
        "allowlist",
        "packages",
        ("allowlist_project", "allowlist_release", "size_project_metadata", "versions_count_project_metadata"),
        "Requirements, one a line: the only projects mirrored; a specifier (`foo>=2`) also limits releases. "
        "The size and version-count filters never skip these projects.",
    ),
    FilterKey(
        "allowlist",
        "requirements",
        ("project_requirements", "project_requirements_pinned"),
        "Requirements files (globs allowed), one a line: their projects are mirrored; `==` pins limit releases.",
    ),
    FilterKey(
        "allowlist",
        "requirements_path",
        ("project_requirements", "project_requirements_pinned"),
        "Directory the `requirements` files are relative to (default: the working directory).",
    ),
    FilterKey(
        "allowlist",
        "lockfiles",
        ("lockfiles",),
        "Lock files or globs, one a line (uv.lock, pylock.toml, poetry.lock, pdm.lock, requirements files): "
        "their pinned projects are the allowlist.",
    ),
    FilterKey(
        "allowlist",
        "lockfiles_mode",
        ("lockfiles",),
        "`exact` (default: only the files the locks pin, checked against their hashes) or `project` "
        "(every file of those projects the other filters keep).",
    ),
    FilterKey(
        "allowlist",
        "closure",
        ("allowlist_project", "project_requirements"),
        "`true`: also mirror what installing the allowlisted projects needs in the `[closure] environments` "
        "(dependency closure, from the stored `.metadata` files).",
    ),
    FilterKey(
        "closure",
        "environments",
        ("allowlist_project",),
        "With `closure = true`: target environments, comma-separated, such as `cp312-manylinux_2_28_x86_64`.",
    ),
    FilterKey(
        "wheel_tags",
        "architectures",
        ("wheel_tags",),
        "CPU architectures whose wheels are kept (`x86_64 aarch64`; `universal2` counts as both); sdists always pass.",
    ),
    FilterKey(
        "wheel_tags",
        "interpreters",
        ("wheel_tags",),
        "Interpreter and ABI tags whose wheels are kept (`cp311-cp313 abi3`); pure `py` wheels pass unless listed.",
    ),
    FilterKey(
        "cooldown",
        "days",
        ("cooldown_release_file",),
        "Hold back files uploaded less than this many days ago (fractions allowed); they appear once old enough.",
    ),
    FilterKey(
        "cooldown",
        "exempt",
        ("cooldown_release_file",),
        "Projects that get every file at once, whitespace- or line-separated.",
    ),
    FilterKey(
        "cooldown",
        "undated",
        ("cooldown_release_file",),
        "A file without an upload time: `keep` (default) or `hold`.",
    ),
    FilterKey(
        "blocklist",
        "packages",
        ("blocklist_project", "blocklist_release"),
        "Requirements, one a line: a bare name is never mirrored; a specifier (`foo<2`) drops those releases.",
    ),
    FilterKey(
        "blocklist",
        "platforms",
        ("exclude_platform",),
        "Platforms and Python versions whose files are skipped (`windows`, `macos`, `linux`, `py2`, ...).",
    ),
    FilterKey(
        "filter_regex",
        "packages",
        ("regex_project",),
        "Regular expressions, one a line: matching projects are skipped.",
    ),
    FilterKey(
        "filter_regex",
        "releases",
        ("regex_release",),
        "Regular expressions, one a line: matching versions are skipped.",
    ),
    FilterKey(
        "filter_prerelease",
        "packages",
        ("prerelease_release",),
        "Only these projects lose their pre-releases; empty: every project does.",
    ),
    FilterKey(
        "latest_release", "keep", ("latest_release",), "Keep only this many newest releases (0, the default: all)."
    ),
    FilterKey(
        "latest_release", "sort_by", ("latest_release",), "`version` (the default) or `time`: what newest means."
    ),
    FilterKey(
        "size_project_metadata",
        "max_package_size",
        ("size_project_metadata",),
        "Skip projects whose files add up to more than this (bytes, or with `K`, `M`, `G`); allowlisted ones are kept.",
    ),
    FilterKey(
        "versions_count_project_metadata",
        "min_versions",
        ("versions_count_project_metadata",),
        "Skip projects with fewer releases.",
    ),
    FilterKey(
        "versions_count_project_metadata",
        "max_versions",
        ("versions_count_project_metadata",),
        "Skip projects with more releases.",
    ),
    FilterKey(
        "regex_project_metadata", ANY_KEY, ("regex_project_metadata",), _RULE.format(what="JSON: projects must match")
    ),
    FilterKey(
        "regex_release_file_metadata",
        ANY_KEY,
        ("regex_release_file_metadata",),
        _RULE.format(what="file entry (`release_file.packagetype`): files must match"),
    ),
    FilterKey(
        "version_range_release_file_metadata",
        ANY_KEY,
        ("version_range_release_file_metadata",),
        "any key: a JSON path (`info.requires_python`) read as a specifier that must admit the version given",
    ),
)
