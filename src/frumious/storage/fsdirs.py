"""A new release file's directory, made before its rename instead of after the rename fails.

A release file lands in ``web/packages/<aa>/<bb>/<hash>/``, named by the file's own digest, so
that directory is new for almost every file written. Renaming first (and making the directory
when the rename says ENOENT) cost, per 10,000 files of a fresh full sync, 10,000 failed renames
and 9,800 failed mkdirs (``os.makedirs`` trying the leaf before its new bucket): measured with
``strace -f -Z`` on 400 x 5 files, 2,000 and 1,965. Here the leaf is made first, and the buckets
(``<aa>`` and ``<aa>/<bb>``) are remembered: those that exist, and those this process made,
inside which nothing exists that it did not make (only the lock holder writes the tree), so a
new bucket under one is made without trying first; ``web/packages`` and each ``<aa>`` are listed
(and the few directories above) once when first needed, for the same certainty on a mirror
that has them already. Leaves are not
remembered: memory stays bounded by the buckets (at most 65,792), whatever the mirror's size, and
a bucket is a bit, not its path (as two sets of paths the buckets took 8.4 MiB at 40,000 projects,
about 14 MiB with every bucket: tracemalloc). ``.metadata`` sidecars follow their file into the
directory it made, so they are renamed straight away, as before.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from frumious.protocol import layout

__all__ = ["PackageDirs"]

_SIDECAR = ".metadata"
_HEX = {f"{i:02x}": i for i in range(256)}  # a bucket's name (lowercase, as PyPI and the layout spell it)
_OUTER = 256 * 256  # slots 0..65535: ``<aa>/<bb>``; then 256 for ``<aa>``


class _Dirs:
    """A set of directory paths: the buckets under ``packages`` as one byte each, any other path as itself."""

    __slots__ = ("_others", "_packages", "bits")

    def __init__(self, packages: str, *paths: str) -> None:
        self._packages = packages
        self.bits = bytearray(_OUTER + 256)  # 66 KB, whatever the mirror's size
        self._others: set[str] = set(paths)

    def slot(self, path: str) -> int:
        """The bucket's slot, or -1 for a path that is not ``<packages><aa>`` or ``<packages><aa>/<bb>``."""
        if not path.startswith(self._packages):
            return -1
        rel = path[len(self._packages) :]
        if len(rel) == 5 and rel[2] == "/":
            outer, inner = _HEX.get(rel[:2], -1), _HEX.get(rel[3:], -1)
            return outer * 256 + inner if outer >= 0 and inner >= 0 else -1
        outer = _HEX.get(rel, -1) if len(rel) == 2 else -1
        return -1 if outer < 0 else _OUTER + outer

    def add(self, path: str) -> None:
        slot = self.slot(path)
        if slot < 0:
            self._others.add(path)
        else:
            self.bits[slot] = 1

    def update(self, paths: Iterable[str]) -> None:
        for path in paths:
            self.add(path)

    def __contains__(self, path: object) -> bool:
        # ``slot`` inlined for the two lengths a bucket has: asked about twice per file written.
        if not isinstance(path, str):
            return False
        packages = self._packages
        if path.startswith(packages):
            rel = path[len(packages) :]
            if len(rel) == 5 and rel[2] == "/":
                outer, inner = _HEX.get(rel[:2], -1), _HEX.get(rel[3:], -1)
                if outer >= 0 and inner >= 0:
                    return self.bits[outer * 256 + inner] == 1
            elif len(rel) == 2 and (outer := _HEX.get(rel, -1)) >= 0:
                return self.bits[_OUTER + outer] == 1
        return path in self._others


class PackageDirs:
    """The package directories known to exist under one mirror root, down to the buckets."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.root = f"{base}/{layout.PACKAGES}"
        self.packages = self.root + "/"
        self.known = _Dirs(self.packages, base)  # directories that exist (buckets and their ancestors)
        # Of those, the ones whose every subdirectory is in ``known``: made by this process (only
        # the lock holder writes the tree), or listed (``web/packages`` and each ``<aa>``: at most
        # 256 entries each, so a listing costs less than the failed calls it saves).
        self.complete = _Dirs(self.packages)

    def fresh_leaf(self, path: str) -> str | None:
        """The directory of ``path`` when it is a release file's own ``<hash>`` directory, else None."""
        if not path.startswith(self.packages) or path.endswith(_SIDECAR):
            return None
        if path.count("/", len(self.packages)) != 3:  # <aa>/<bb>/<hash>/<file>; other shapes rename first
            return None
        return path.rpartition("/")[0]  # the path is absolute: os.path.dirname's checks cost more than this

    def make_leaf(self, leaf: str) -> None:
        """Make ``leaf`` (existing is fine: a file written again) with any missing bucket above it."""
        if self._made_quickly(leaf):
            return
        try:
            self._make(leaf, remember=False)
        except FileNotFoundError:
            # A bucket remembered here was removed (a pruned project emptied it): forget them all.
            self.known, self.complete = _Dirs(self.packages, self.base), _Dirs(self.packages)
            os.makedirs(leaf, exist_ok=True)

    def _made_quickly(self, leaf: str) -> bool:
        """The two cases of nearly every file, from the bucket's slot alone (no walk up the path).

        The bucket ``<aa>/<bb>`` is known to exist: the leaf alone is made. Or its ``<aa>`` is complete,
        so the bucket is missing (unless a write outside this path made it, which ``_mkdir`` takes as
        made): both are made, without a try first. Else False: ``_make`` walks.
        """
        end = len(self.packages) + 5
        if leaf[end : end + 1] != "/":
            return False
        bucket = leaf[:end]
        slot = self.known.slot(bucket)
        if slot < 0:
            return False
        try:
            if self.known.bits[slot]:
                _mkdir(leaf)
                return True
            if self.complete.bits[_OUTER + (slot >> 8)]:
                _mkdir(bucket)
                _mkdir(leaf)
                self.known.bits[slot] = self.complete.bits[slot] = 1
                return True
        except FileNotFoundError:
            pass  # a bucket removed meanwhile (a pruned project emptied it): ``make_leaf``'s slow path
        return False

    def _make(self, directory: str, remember: bool) -> None:
        missing, above = self._missing(directory)
        while missing and above not in self.complete and self._listable(above):
            self._list(above)
            missing, above = self._missing(directory)
        if not missing:
            return
        if above in self.complete:
            # Every subdirectory of ``above`` is known, so these are certainly missing: no try first.
            for each in reversed(missing):
                _mkdir(each)  # a leaf is not remembered, so a file written again finds its directory there
                if each != directory or remember:
                    self.known.add(each)
                    self.complete.add(each)
            return
        parent = os.path.dirname(directory)
        try:
            made = _mkdir(directory)
        except FileNotFoundError:
            self._make(parent, remember=True)
            made = _mkdir(directory)
        else:
            self.known.add(parent)
        if remember:
            self.known.add(directory)
            if made:
                self.complete.add(directory)

    def _missing(self, directory: str) -> tuple[list[str], str]:
        """The directories from ``directory`` up that are not known to exist, and the known one above."""
        missing, above = [], directory
        while above not in self.known:
            parent = os.path.dirname(above)
            if parent == above:
                raise FileNotFoundError(directory)
            missing.append(above)
            above = parent
        return missing, above

    def _listable(self, directory: str) -> bool:
        """``web/packages``, each ``<aa>``, and the few directories above them (a handful of entries each)."""
        return (
            self.root.startswith(directory + "/") or directory == self.root or os.path.dirname(directory) == self.root
        )

    def _list(self, directory: str) -> None:
        with os.scandir(directory) as entries:
            self.known.update(entry.path for entry in entries if entry.is_dir(follow_symlinks=False))
        self.complete.add(directory)


def _mkdir(directory: str) -> bool:
    """Whether ``directory`` was made now (False: it was there)."""
    try:
        os.mkdir(directory)
    except FileExistsError:
        return False
    return True
