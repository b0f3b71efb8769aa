"""Reading a backend's own config section, as config reads [mirror]: every problem at once.

The built-in object stores parse ``settings.sections[NAME]`` in ``from_settings`` like any
third-party backend; this is the little they share: a ``Reader`` over the parsed sections,
warnings for keys the section sets but the backend does not know, and one ``ConfigError``
listing every problem found.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from typing import TypeVar

from frumious.config.reader import Reader, did_you_mean
from frumious.errors import ConfigError
from frumious.settings import Settings

__all__ = ["read_section"]

log = logging.getLogger(__name__)

T = TypeVar("T")


def read_section(
    settings: Settings, section: str, read: Callable[[Reader], T], known: Collection[str], prefix: str = ""
) -> T:
    """``read``'s value, or a ConfigError with every problem it recorded; keys neither ``known``
    nor starting with ``prefix`` are logged as warnings."""
    reader = Reader(settings.sections)
    value = read(reader)
    if reader.problems:
        raise ConfigError(reader.problems)
    # Only the keys the section writes itself: one inherited from [DEFAULT] is not a typo here.
    for key in settings.own_keys.get(section, ()):
        if key not in known and not (prefix and key.startswith(prefix)):
            reader.warn(section, key, f"unknown key, ignored{did_you_mean(key, known)}")
    for warning in reader.warnings:
        log.warning("%s", warning)
    return value
