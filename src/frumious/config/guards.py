"""Guards on config values that could do harm or fail late: where the mirror writes, URLs, log-config.

``config`` calls these while it validates, so each problem joins the list the user sees at
once (exit 2) instead of surfacing later as a traceback or, worse, as writes into ``/usr``.
Each function answers a problem text without the ``[section] key:`` prefix, or None.
"""

from __future__ import annotations

import configparser
import os
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

__all__ = [
    "SYSTEM_DIRECTORIES",
    "log_config_problem",
    "not_a_directory_problem",
    "system_directory_problem",
    "url_problem",
]

# A mirror writes web/, status, todo, its lock and its record into ``directory`` and may later
# remove what it owns there; none of these may become the mirror's root. Their subdirectories
# (/var/pypi, /home/mirror) are fine.
SYSTEM_DIRECTORIES = frozenset(
    {
        "/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/opt",
        "/proc", "/root", "/run", "/sbin", "/sys", "/tmp", "/usr", "/var",
        "/usr/bin", "/usr/include", "/usr/lib", "/usr/lib64", "/usr/libexec", "/usr/local", "/usr/sbin",
        "/usr/share", "/usr/src", "/var/cache", "/var/lib", "/var/log", "/var/spool", "/var/tmp",
    }
)  # fmt: skip
# Kernel and device filesystems: nothing below them can hold a mirror, except /dev/shm (a tmpfs
# meant for files; the benchmarks and some test rigs keep throwaway mirrors there).
_KERNEL_TREES = ("/proc/", "/sys/", "/dev/")
_FILE_TREES = ("/dev/shm/",)
# Sections logging.config.fileConfig cannot work without.
_LOG_SECTIONS = ("loggers", "handlers", "formatters")


def system_directory_problem(directory: str) -> str | None:
    """Why a filesystem mirror may not have ``directory`` as its root, or None."""
    # realpath too: "/srv/../usr" or a symlink to /etc must not get through.
    for path in dict.fromkeys((_absolute(directory), os.path.realpath(directory))):
        kernel = path.startswith(_KERNEL_TREES) and not path.startswith(_FILE_TREES)
        if path in SYSTEM_DIRECTORIES or kernel:
            return f"{directory!r} is a system directory ({path}); name a directory of its own, such as /srv/pypi"
    return None


def not_a_directory_problem(directory: str) -> str | None:
    """A problem when ``directory`` or its nearest existing ancestor is a file, not a directory."""
    path = Path(_absolute(directory))
    for candidate in (path, *path.parents):
        try:
            if candidate.is_dir():
                return None
            if candidate.exists():
                what = "is" if candidate == path else f"is inside {str(candidate)!r}, which is"
                return f"{directory!r} {what} a file, not a directory"
        except OSError:
            return None  # unreadable: the store reports what it cannot do, with the real error
    return None


def _absolute(directory: str) -> str:
    return os.path.normpath(os.path.join(os.getcwd(), directory))


def url_problem(raw: str, schemes: Sequence[str]) -> str | None:
    """Why ``raw`` is not a URL frumious can request, or None."""
    wanted = f"a URL with a host and one of the schemes {', '.join(schemes)}"
    if any(ch.isspace() or not ch.isprintable() for ch in raw):
        return f"{raw!r} contains spaces or control characters; it must be {wanted}"
    try:
        parts = urlsplit(raw)
        port = parts.port  # parsing the port raises ValueError when it is not a number in range
    except ValueError:
        return f"{raw!r} is not {wanted}"
    if parts.scheme.lower() not in schemes or not parts.hostname:
        return f"{raw!r} is not {wanted}"
    if port == 0:
        return f"{raw!r} has port 0; it must be {wanted}"
    return None


def log_config_problem(path: str) -> str | None:
    """Why ``path`` cannot be a logging.config.fileConfig file, or None."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return f"{path} does not exist"
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return f"cannot read {path}: {reason}"
    parser = configparser.RawConfigParser()
    try:
        parser.read_string(text, source=path)
    except configparser.Error as exc:
        return f"{path} is not a logging config file: {' '.join(str(exc).split())}"
    missing = [f"[{name}]" for name in _LOG_SECTIONS if not parser.has_option(name, "keys")]
    if missing:
        return f"{path} is not a logging config file: it has no {', '.join(missing)} with keys ="
    return None
