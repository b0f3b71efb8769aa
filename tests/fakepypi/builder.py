"""Real, deterministic distribution files built at test time.

``make_wheel`` builds a pure-Python wheel pip can install; ``make_sdist`` builds a
``.tar.gz`` that pip can build with setuptools. The same arguments always give the same
bytes (fixed zip/tar timestamps, sorted entries, gzip mtime 0), so digests are stable
across runs. ``Artifact(filename=..., content=b"...")`` wraps arbitrary bytes for cheap
tests that never unpack the file.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import tarfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from packaging.tags import parse_tag
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

__all__ = ["Artifact", "make_sdist", "make_wheel"]

ZIP_DATE = (2020, 2, 2, 0, 0, 0)
TAR_MTIME = 1580601600  # 2020-02-02T00:00:00Z
DEFAULT_SUMMARY = "A fake project for frumious tests"


@dataclass(frozen=True)
class Artifact:
    """One distribution file: its name and bytes, plus what the index reports about it.

    ``metadata`` is the wheel's METADATA, byte-identical (served as ``<url>.metadata``,
    PEP 658); None for sdists and opaque blobs. ``pkg_info`` is the core metadata the
    index uses to fill ``info`` (METADATA for wheels, PKG-INFO for sdists).
    ``packagetype`` and ``python_version`` are inferred from the filename when empty.
    """

    filename: str
    content: bytes
    metadata: bytes | None = None
    packagetype: str = ""
    python_version: str = ""
    requires_python: str | None = None
    pkg_info: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.packagetype:
            object.__setattr__(self, "packagetype", _infer_packagetype(self.filename))
        if not self.python_version:
            object.__setattr__(self, "python_version", _infer_python_version(self.filename))
        if self.pkg_info is None and self.metadata is not None:
            object.__setattr__(self, "pkg_info", self.metadata)

    @property
    def size(self) -> int:
        return len(self.content)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()

    @property
    def md5(self) -> str:
        return hashlib.md5(self.content).hexdigest()

    @property
    def blake2b_256(self) -> str:
        return hashlib.blake2b(self.content, digest_size=32).hexdigest()

    @property
    def digests(self) -> dict[str, str]:
        return {"md5": self.md5, "sha256": self.sha256, "blake2b_256": self.blake2b_256}

    @property
    def metadata_sha256(self) -> str | None:
        return None if self.metadata is None else hashlib.sha256(self.metadata).hexdigest()


def _infer_packagetype(filename: str) -> str:
    if filename.endswith(".whl"):
        return "bdist_wheel"
    if filename.endswith(".egg"):
        return "bdist_egg"
    if filename.endswith(".exe"):
        return "bdist_wininst"
    if filename.endswith((".rpm", ".msi", ".dmg")):
        return "bdist_dumb"
    return "sdist"


def _infer_python_version(filename: str) -> str:
    if filename.endswith(".whl"):
        parts = filename[: -len(".whl")].split("-")
        return parts[-3] if len(parts) >= 5 else "py3"
    if filename.endswith(".egg"):
        return filename.rsplit("-", 1)[-1][: -len(".egg")].removeprefix("py")
    return "source"


def dist_name(name: str) -> str:
    """The name as it appears in wheel and sdist filenames (PEP 427 / PEP 625)."""
    return canonicalize_name(name).replace("-", "_")


def normal_version(version: str) -> str:
    try:
        return str(Version(version))
    except InvalidVersion:
        return version


def core_metadata(
    name: str,
    version: str,
    *,
    summary: str,
    requires: Sequence[str] = (),
    requires_python: str | None = None,
    extras: Mapping[str, Sequence[str]] | None = None,
) -> bytes:
    """METADATA / PKG-INFO text (Metadata-Version 2.1), as bytes."""
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}", f"Summary: {summary}"]
    if requires_python:
        lines.append(f"Requires-Python: {requires_python}")
    lines += [f"Requires-Dist: {req}" for req in requires]
    for extra, reqs in (extras or {}).items():
        lines.append(f"Provides-Extra: {extra}")
        lines += [f'Requires-Dist: {req}; extra == "{extra}"' for req in reqs]
    return ("\n".join(lines) + "\n\n").encode()


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def _wheel_file(tag: str, generator: str = "fakepypi 1.0") -> bytes:
    tags = sorted(str(t) for t in parse_tag(tag))
    purelib = all(t.endswith("-none-any") for t in tags)
    lines = ["Wheel-Version: 1.0", f"Generator: {generator}", f"Root-Is-Purelib: {str(purelib).lower()}"]
    lines += [f"Tag: {t}" for t in tags]
    return ("\n".join(lines) + "\n").encode()


def _zip_bytes(entries: Iterable[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in entries:
            info = zipfile.ZipInfo(path, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def make_wheel(
    name: str,
    version: str,
    *,
    requires: Sequence[str] = (),
    requires_python: str | None = None,
    extras: Mapping[str, Sequence[str]] | None = None,
    tag: str = "py3-none-any",
    summary: str = DEFAULT_SUMMARY,
    build: str | None = None,
) -> Artifact:
    """A valid wheel with ``<pkg>/__init__.py``, METADATA, WHEEL and a hashed RECORD."""
    stem = dist_name(name)
    version = normal_version(version)
    dist_info = f"{stem}-{version}.dist-info"
    metadata = core_metadata(
        name, version, summary=summary, requires=requires, requires_python=requires_python, extras=extras
    )
    files = [
        (f"{stem}/__init__.py", f'"""{name} {version}."""\n\n__version__ = "{version}"\n'.encode()),
        (f"{dist_info}/METADATA", metadata),
        (f"{dist_info}/WHEEL", _wheel_file(tag)),
    ]
    record_lines = [f"{path},{_record_hash(data)},{len(data)}" for path, data in files]
    record_lines.append(f"{dist_info}/RECORD,,")
    files.append((f"{dist_info}/RECORD", ("\n".join(record_lines) + "\n").encode()))
    build_part = f"-{build}" if build else ""
    filename = f"{stem}-{version}{build_part}-{tag}.whl"
    return Artifact(filename, _zip_bytes(files), metadata=metadata, requires_python=requires_python)


def _pyproject(name: str, version: str, requires: Sequence[str], requires_python: str | None) -> bytes:
    lines = [
        "[build-system]",
        'requires = ["setuptools>=61"]',
        'build-backend = "setuptools.build_meta"',
        "",
        "[project]",
        f'name = "{name}"',
        f'version = "{version}"',
    ]
    if requires_python:
        lines.append(f'requires-python = "{requires_python}"')
    lines.append("dependencies = [" + ", ".join(f'"{req}"' for req in requires) + "]")
    lines += ["", "[tool.setuptools]", f'packages = ["{dist_name(name)}"]']
    return ("\n".join(lines) + "\n").encode()


def _tar_gz_bytes(entries: Iterable[tuple[str, bytes]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path, data in entries:
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mtime = TAR_MTIME
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, mtime=0) as stream:
        stream.write(raw.getvalue())
    return packed.getvalue()


def make_sdist(
    name: str,
    version: str,
    *,
    requires: Sequence[str] = (),
    requires_python: str | None = None,
    summary: str = DEFAULT_SUMMARY,
) -> Artifact:
    """A ``<name>-<version>.tar.gz`` with PKG-INFO, pyproject.toml (setuptools) and one package."""
    stem = dist_name(name)
    version = normal_version(version)
    root = f"{stem}-{version}"
    pkg_info = core_metadata(name, version, summary=summary, requires=requires, requires_python=requires_python)
    files = [
        (f"{root}/PKG-INFO", pkg_info),
        (f"{root}/pyproject.toml", _pyproject(name, version, requires, requires_python)),
        (f"{root}/{stem}/__init__.py", f'__version__ = "{version}"\n'.encode()),
    ]
    return Artifact(f"{root}.tar.gz", _tar_gz_bytes(files), requires_python=requires_python, pkg_info=pkg_info)
