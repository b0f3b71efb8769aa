"""Typed reading of interpolated config values, collecting problems instead of raising.

``config`` validates every section through a ``Reader`` so that one run reports every
problem at once; the reader knows types and ranges, not what any key means.
"""

from __future__ import annotations

import configparser
import difflib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence

__all__ = ["Reader", "did_you_mean"]


class Reader:
    """Typed access to interpolated values that records problems instead of raising."""

    def __init__(self, values: Mapping[str, Mapping[str, str]]) -> None:
        self.values = values
        self.problems: list[str] = []
        self.warnings: list[str] = []

    def bad(self, section: str, key: str, what: str) -> None:
        self.problems.append(f"[{section}] {key}: {what}")

    def warn(self, section: str, key: str, what: str) -> None:
        self.warnings.append(f"[{section}] {key}: {what}" if key else f"[{section}]: {what}")

    def text(self, section: str, key: str, default: str = "") -> str:
        return self.values.get(section, {}).get(key, default)

    def boolean(self, section: str, key: str, default: bool = False) -> bool:
        raw = self.text(section, key, str(default))
        state = configparser.ConfigParser.BOOLEAN_STATES.get(raw.lower())
        if state is None:
            self.bad(section, key, f"{raw!r} is not a boolean; use true/false, yes/no, on/off or 1/0")
            return default
        return state

    def integer(self, section: str, key: str, default: int, low: int, high: int | None = None) -> int:
        raw = self.text(section, key, str(default))
        wanted = f"from {low} to {high}" if high is not None else f"of at least {low}"
        try:
            value = int(raw)
        except ValueError:
            self.bad(section, key, f"{raw!r} is not a whole number; use a whole number {wanted}")
            return default
        if value < low or (high is not None and value > high):
            self.bad(section, key, f"{value} is out of range; use a whole number {wanted}")
            return default
        return value

    def number(self, section: str, key: str, ok: Callable[[float], bool], wanted: str, percent: bool = False) -> float:
        raw = self.text(section, key)
        try:
            value = float(raw[:-1]) / 100 if percent and raw.endswith("%") else float(raw)
        except ValueError:
            value = math.nan
        if not (math.isfinite(value) and ok(value)):
            self.bad(section, key, f"{raw!r} is not {wanted}")
            return 1.0  # a placeholder: the ConfigError will be raised
        return value

    def size(self, section: str, key: str, zero: bool = False) -> int:
        """A byte count: a whole number, optionally with a K, M or G suffix (powers of 1024); 0 only if ``zero``."""
        raw = self.text(section, key)
        text = raw.strip().upper().removesuffix("B")
        if zero and text.rstrip("KMG") == "0":
            return 0
        scale: int = 1024 ** (" KMG".index(text[-1]) if text and text[-1] in "KMG" else 0)
        digits = text[:-1] if scale > 1 else text
        # Bounded before int(): Python refuses to convert thousands of digits (a ValueError, not a config error).
        if not (digits.isascii() and digits.isdigit()) or len(digits) > 18 or int(digits) == 0:
            shown = raw if len(raw) <= 40 else raw[:37] + "..."
            self.bad(section, key, f"{shown!r} is not a size; use a whole number of bytes, or one with K, M or G")
            return 1  # a placeholder: the ConfigError will be raised
        return int(digits) * scale

    def choice(self, section: str, key: str, options: Sequence[str], normalize: Callable[[str], str]) -> str:
        raw = self.text(section, key, options[0])
        value = normalize(raw)
        if value not in options:
            self.bad(section, key, f"{raw!r} is not supported; use one of {', '.join(options)}")
            return options[0]
        return value


def did_you_mean(key: str, known: Iterable[str]) -> str:
    folded = {name.lower().replace("_", "-"): name for name in known}
    wanted = key.lower().replace("_", "-")
    match = folded.get(wanted)
    if match is None:  # a typo (``prune-filterd``), not only another spelling: the closest known key
        close = difflib.get_close_matches(wanted, sorted(folded), n=1, cutoff=0.8)
        match = folded[close[0]] if close else None
    return f" (did you mean {match}?)" if match else ""
