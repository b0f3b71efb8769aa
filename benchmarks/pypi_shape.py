"""PyPI's shape, derived from a seed: projects, their files and a serial journal (nothing stored).

A ``Shape`` answers every question about project ``i`` from a hash of ``(seed, i)``, so 700,000
projects and ~10 million files cost no memory until asked for, and the same seed always gives
the same index:

* **file counts** are long-tailed like PyPI's: ``n = min(max_files, floor(1.3 / u))`` for a
  uniform ``u``, so half the projects have 1-2 files, about 94 % have at most 20, one in ~800
  has over 1,000 and a few dozen reach the cap (40,000 by default). 700,000 projects give
  about 9.5 million files (PyPI: ~700k projects, ~10M files);
* **empty projects** (5 %): listed with a serial, their JSON has no releases;
* **deleted projects** (1 %): never listed, 404 (their names leave gaps, as on PyPI);
* **the journal**: generation ``g`` (1, 2, ...) applies ``journal[g - 1]``: ``"K"`` gives K
  listed projects one new wheel and a new serial each, ``"0"`` moves only the listing's
  ``_last-serial`` (the listing changes, no project needs syncing), ``"dK"`` deletes K projects.
  Generation 0 is the initial index; the projects a generation picks depend only on the seed.

File bytes are ``size`` bytes derived from (seed, project, version, file name); the digests are
computed when asked (a 100-byte file hashes in about 2 us). A file's URL path is PyPI's
``/packages/<blake2b[:2]>/<[2:4]>/<[4:]>/<filename>`` and its file name encodes the project
number and version, so the server finds any file from its path alone (``locate``).
Not a test; ``tests/unit/test_bench_pypi_shape.py`` checks that the shape stays as described.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

EPOCH = 1_600_000_000  # upload time of serial s: EPOCH + 60 s
REQUIRES_PYTHON = ">=3.8"
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
SERIAL_STRIDE = 10  # gen-0 serial of project i: 1 + i * STRIDE + (hash % STRIDE)
EMPTY_PER_MILLE = 50
DELETED_PER_MILLE = 10


def _hash64(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


@dataclass(frozen=True, slots=True)
class FileInfo:
    index: int  # project number
    filename: str
    version: str
    url_path: str
    size: int
    uploaded: int
    md5: str
    sha256: str
    blake2b_256: str
    wheel: bool


@dataclass(frozen=True, slots=True)
class Event:
    serial: int
    generation: int
    kind: str  # "update" (one new wheel), "touch" (listing serial only), "delete"
    index: int  # project number, -1 for a touch


class Shape:
    """The synthetic index at one generation; ``at(g)`` moves it along the journal."""

    def __init__(
        self,
        projects: int = 700_000,
        *,
        seed: int = 1,
        max_files: int = 40_000,
        size: int = 100,
        journal: tuple[str, ...] = (),
        spread: bool = False,
    ) -> None:
        if projects < 1 or max_files < 1 or size < 40:
            raise ValueError("need projects >= 1, max_files >= 1, size >= 40")
        self.n = projects
        self.seed = seed
        self.max_files = max_files
        self.size = size
        self.journal = journal
        # Names "pkg-000123" all share their first characters; ``spread`` names start with two letters
        # that grow with the number ("aa-000000" ... "zz-699999"), 676 even groups in the same order.
        self.spread = spread
        self._hashes = [_hash64(f"{seed}:{i}") for i in range(projects)]
        self.base_serial = max(self.serial0(i) for i in range(projects))
        self.events = self._events()
        self.generation = 0

    # -- generation 0 --------------------------------------------------------------------

    def deleted0(self, i: int) -> bool:
        return self._hashes[i] % 1000 < DELETED_PER_MILLE

    def empty(self, i: int) -> bool:
        return DELETED_PER_MILLE <= self._hashes[i] % 1000 < DELETED_PER_MILLE + EMPTY_PER_MILLE

    def base_files(self, i: int) -> int:
        """How many files project i has at generation 0 (0 for an empty or deleted project)."""
        if self._hashes[i] % 1000 < DELETED_PER_MILLE + EMPTY_PER_MILLE:
            return 0
        u = ((self._hashes[i] >> 12) & ((1 << 40) - 1)) + 1
        return max(1, min(self.max_files, int(1.3 * (1 << 40) / u)))

    def serial0(self, i: int) -> int:
        return 1 + i * SERIAL_STRIDE + (self._hashes[i] >> 56) % SERIAL_STRIDE

    def stem(self, i: int) -> str:
        """The name's letters: "pkg", or with ``spread`` two that grow with ``i``."""
        if not self.spread:
            return "pkg"
        k = i * 676 // self.n
        return _LETTERS[k // 26] + _LETTERS[k % 26]

    def name(self, i: int) -> str:
        """The listed (display) name; one in ten needs PEP 503 normalising each way."""
        stem = self.stem(i)
        if i % 10 == 3:
            return f"{stem.capitalize()}_{i:06d}"
        if i % 10 == 7:
            return f"{stem}.{i:06d}"
        return f"{stem}-{i:06d}"

    def canonical(self, i: int) -> str:
        return f"{self.stem(i)}-{i:06d}"

    # -- the journal ---------------------------------------------------------------------

    def _events(self) -> list[Event]:
        events: list[Event] = []
        serial = self.base_serial
        gone = {i for i in range(self.n) if self.deleted0(i)}
        for g, spec in enumerate(self.journal, start=1):
            rng = random.Random(f"{self.seed}:journal:{g}")
            if spec == "0":
                serial += 1
                events.append(Event(serial, g, "touch", -1))
                continue
            kind, count = ("delete", int(spec[1:])) if spec.startswith("d") else ("update", int(spec))
            picked: set[int] = set()
            while len(picked) < count:
                i = rng.randrange(self.n)
                if i not in gone:
                    picked.add(i)
            for i in sorted(picked):
                serial += 1
                events.append(Event(serial, g, kind, i))
            if kind == "delete":
                gone |= picked
        return events

    def at(self, generation: int) -> Shape:
        if not 0 <= generation <= len(self.journal):
            raise ValueError(f"generation {generation} is not in 0..{len(self.journal)}")
        self.generation = generation
        self._state = self._replay(generation)
        return self

    def _replay(self, generation: int) -> tuple[int, dict[int, list[int]], set[int]]:
        serial = self.base_serial
        updates: dict[int, list[int]] = {}  # project -> generations that added a wheel
        deleted: set[int] = set()
        for event in self.events:
            if event.generation > generation:
                break
            serial = event.serial
            if event.kind == "update":
                updates.setdefault(event.index, []).append(event.generation)
            elif event.kind == "delete":
                deleted.add(event.index)
        self._serials = {e.index: e.serial for e in self.events if e.generation <= generation and e.index >= 0}
        return serial, updates, deleted

    @property
    def last_serial(self) -> int:
        return self._current()[0]

    def _current(self) -> tuple[int, dict[int, list[int]], set[int]]:
        if not hasattr(self, "_state"):
            self.at(self.generation)
        return self._state

    def listed(self, i: int) -> bool:
        return 0 <= i < self.n and not self.deleted0(i) and i not in self._current()[2]

    def serial(self, i: int) -> int:
        self._current()
        return self._serials.get(i, self.serial0(i))

    def changed(self, generation: int) -> list[int]:
        """Projects whose serial generation ``generation`` moved (updated or deleted)."""
        return [e.index for e in self.events if e.generation == generation and e.index >= 0]

    # -- files ---------------------------------------------------------------------------

    def versions(self, i: int) -> list[tuple[str, bool]]:
        """(version, is wheel) of each of project i's files now, oldest first."""
        out = [(f"1.{j // 2}", j % 2 == 1) for j in range(self.base_files(i))]
        out.extend((f"2.{g}", True) for g in self._current()[1].get(i, ()))
        return out

    def file_count(self, i: int) -> int:
        return len(self.versions(i)) if self.listed(i) else 0

    def filename(self, i: int, version: str, wheel: bool) -> str:
        dist = f"{self.stem(i)}_{i:06d}"
        return f"{dist}-{version}-py3-none-any.whl" if wheel else f"{dist}-{version}.tar.gz"

    def content(self, i: int, version: str, wheel: bool) -> bytes:
        head = f"{self.seed}:{i}:{version}:{int(wheel)}\n".encode()
        return (head * (self.size // len(head) + 1))[: self.size]

    def file(self, i: int, version: str, wheel: bool) -> FileInfo:
        data = self.content(i, version, wheel)
        b2 = hashlib.blake2b(data, digest_size=32).hexdigest()
        name = self.filename(i, version, wheel)
        major, minor = (int(part) for part in version.split("."))
        serial = (
            self.serial0(i)
            if major == 1
            else next(e.serial for e in self.events if e.generation == minor and e.index == i)
        )
        return FileInfo(
            i, name, version, f"/packages/{b2[:2]}/{b2[2:4]}/{b2[4:]}/{name}", self.size,
            EPOCH + 60 * serial + minor % 60, hashlib.md5(data).hexdigest(), hashlib.sha256(data).hexdigest(),
            b2, wheel,
        )  # fmt: skip

    def files(self, i: int) -> Iterator[FileInfo]:
        if self.listed(i):
            for version, wheel in self.versions(i):
                yield self.file(i, version, wheel)

    def _has(self, i: int, version: str, wheel: bool) -> bool:
        major, _, minor = version.partition(".")
        if not minor.isdigit():
            return False
        if major == "1":
            return 2 * int(minor) + int(wheel) < self.base_files(i)
        return major == "2" and wheel and int(minor) in self._current()[1].get(i, ())

    def locate(self, url_path: str) -> FileInfo | None:
        """The file at ``url_path`` now, or None (the server's 404)."""
        parts = url_path.split("/")
        if len(parts) != 6 or parts[1] != "packages":
            return None
        name = parts[5]
        wheel = name.endswith("-py3-none-any.whl")
        stem = name.removesuffix("-py3-none-any.whl") if wheel else name.removesuffix(".tar.gz")
        dist, _, version = stem.partition("-")
        letters, _, digits = dist.partition("_")
        if not digits.isdigit() or not 0 <= int(digits) < self.n or letters != self.stem(int(digits)):
            return None
        i = int(digits)
        if not self.listed(i) or not self._has(i, version, wheel):
            return None
        info = self.file(i, version, wheel)
        return info if info.url_path == url_path else None

    # -- documents -----------------------------------------------------------------------

    def listing(self) -> bytes:
        """The PEP 691 JSON root listing, as PyPI serves it (projects in number order)."""
        parts = [
            f'{{"name":"{self.name(i)}","_last-serial":{self.serial(i)}}}' for i in range(self.n) if self.listed(i)
        ]
        head = f'{{"meta":{{"api-version":"1.1","_last-serial":{self.last_serial}}},"projects":['
        return (head + ",".join(parts) + "]}").encode()

    def warehouse_json(self, i: int, base_url: str) -> bytes:
        """``/pypi/<name>/json``: Warehouse's document (files with three digests, upload times, yanked)."""
        releases: dict[str, list[dict[str, Any]]] = {}
        for info in self.files(i):
            releases.setdefault(info.version, []).append(_file_json(info, base_url))
        latest = list(releases)[-1] if releases else None
        doc = {
            "info": {
                "name": self.name(i), "version": latest or "", "summary": f"Synthetic project {i}",
                "requires_python": REQUIRES_PYTHON, "license": "MIT", "yanked": False,
            },
            "last_serial": self.serial(i),
            "releases": releases,
            "urls": releases[latest] if latest else [],
            "vulnerabilities": [],
        }  # fmt: skip
        return json.dumps(doc, separators=(",", ":")).encode()

    def simple_json(self, i: int, base_url: str) -> bytes:
        """``/simple/<name>/`` in PEP 691 JSON."""
        files = [
            {
                "filename": f.filename, "url": base_url + f.url_path, "hashes": {"sha256": f.sha256},
                "requires-python": REQUIRES_PYTHON, "size": f.size, "upload-time": _iso(f.uploaded), "yanked": False,
            }
            for f in sorted(self.files(i), key=lambda f: f.filename)
        ]  # fmt: skip
        versions = sorted({f.version for f in self.files(i)}, key=lambda v: tuple(map(int, v.split("."))))
        page = {"meta": {"api-version": "1.1", "_last-serial": self.serial(i)}, "name": self.canonical(i)}
        return json.dumps({**page, "files": files, "versions": versions}, separators=(",", ":")).encode()

    def index_of(self, name: str) -> int | None:
        """Project number of a (normalised or not) name, None when it is not one of ours."""
        digits, head = name[-6:], name[:-6].lower()
        if not digits.isdigit() or int(digits) >= self.n or head[-1:] not in ("-", "_", "."):
            return None
        return int(digits) if head[:-1] == self.stem(int(digits)) else None


def _iso(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime(seconds))


def _file_json(info: FileInfo, base_url: str) -> dict[str, Any]:
    return {
        "digests": {"blake2b_256": info.blake2b_256, "md5": info.md5, "sha256": info.sha256},
        "filename": info.filename, "md5_digest": info.md5, "packagetype": "bdist_wheel" if info.wheel else "sdist",
        "python_version": "py3" if info.wheel else "source", "requires_python": REQUIRES_PYTHON, "size": info.size,
        "upload_time": _iso(info.uploaded)[:19], "upload_time_iso_8601": _iso(info.uploaded),
        "url": base_url + info.url_path, "yanked": False, "yanked_reason": None,
    }  # fmt: skip
