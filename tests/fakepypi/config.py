"""Write bandersnatch-style config files pointing at a fake PyPI."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from .server import FakePyPI

__all__ = ["UNDERSCORE_KEYS", "config_key", "write_config"]

# The [mirror] keys bandersnatch spells with underscores; every other key uses hyphens.
UNDERSCORE_KEYS = frozenset({"digest_name", "keep_index_versions", "root_uri"})
ConfigValue = str | int | float | bool | list[str] | tuple[str, ...] | Path | None


def config_key(key: str) -> str:
    """``release_files`` -> ``release-files``; known underscore keys and keys with '-' stay."""
    if "-" in key or key in UNDERSCORE_KEYS:
        return key
    return key.replace("_", "-")


def config_value(value: ConfigValue) -> str:
    """bools as true/false, lists as an indented multi-line value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "".join(f"\n    {item}" for item in value)
    return str(value)


def render_section(name: str, keys: Mapping[str, ConfigValue]) -> str:
    lines = [f"[{name}]"]
    lines += [f"{key} = {config_value(value)}".rstrip() for key, value in keys.items() if value is not None]
    return "\n".join(lines) + "\n"


def write_config(
    tmp_path: Path,
    pypi: FakePyPI | str,
    *,
    sections: Mapping[str, Mapping[str, ConfigValue]] | None = None,
    filename: str = "bandersnatch.conf",
    **mirror_keys: ConfigValue,
) -> Path:
    """Write ``tmp_path/<filename>`` and return its path.

    [mirror] gets directory = tmp_path/mirror, master = the fake's URL, allow-non-https =
    true, workers = 2, timeout = 5, global-timeout = 60, stop-on-error = false, then
    ``mirror_keys`` (Python spellings converted by ``config_key``; None removes a key).
    ``sections`` adds whole sections, e.g. ``{"plugins": {"enabled": ["allowlist_project"]},
    "allowlist": {"packages": ["foo"]}}``. Values are written raw: write ``%%`` for ``%``.
    """
    master = pypi if isinstance(pypi, str) else pypi.url
    mirror: dict[str, ConfigValue] = {
        "directory": tmp_path / "mirror",
        "master": master,
        "allow-non-https": True,
        "workers": 2,
        "timeout": 5,
        "global-timeout": 60,
        "stop-on-error": False,
    }
    for key, value in mirror_keys.items():
        mirror[config_key(key)] = value
    text = render_section("mirror", mirror)
    for name, keys in (sections or {}).items():
        text += "\n" + render_section(name, keys)
    path = tmp_path / filename
    path.write_text(text)
    return path
