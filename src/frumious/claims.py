"""What one project's sync may claim and remove: keys that cannot collide, bounded deletions.

A stored file belongs to one project. The store key is the file URL's path alone, so two
projects (or two hosts) can name the same key; the second claimant is refused, because its
bytes would replace the first project's file under the first project's page. A release file
may not take the key of another file's ``.metadata`` sidecar either.

A project's sync may not remove more than ``max-delete-file-share`` of its files (beyond a
floor of ``FILE_FLOOR``), and the run may not remove more than ``max-delete-share`` of the
mirror's files, unless ``--allow-mass-delete``: an upstream glitch that lists a project with
no files must not empty it.

Every check and the bookkeeping after it run without an ``await`` in between, so projects
synced concurrently cannot both pass a check that only one of them should.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from frumious.errors import KeyConflict, MassDeleteRefused
from frumious.models import Project, StoredFile
from frumious.record.db import MirrorRecord
from frumious.settings import MirrorSettings

# Up to this many files may go in one project (and in one run) whatever the shares say:
# a yank of 1 of 2 files is normal, and a small mirror's 1% is less than one file.
FILE_FLOOR = 5


class RunGuard(msgspec.Struct):
    """What the projects of one run have claimed and are removing (one per run, shared by workers)."""

    allow_mass_delete: bool = False
    # key -> (project, digest) for projects still in flight: until a project's sync records its
    # files in the index (or fails), its claims are what keeps another project off its keys.
    claims: dict[str, tuple[str, str]] = msgspec.field(default_factory=dict)
    claimed_by: dict[str, list[str]] = msgspec.field(default_factory=dict)
    files_removing: int = 0
    mirror_files: int | None = None

    def holders(self, record: MirrorRecord, keys: Iterable[str]) -> dict[str, tuple[str, str]]:
        """Who holds each of ``keys`` that is held: a claim of this run, else the index."""
        wanted = list(keys)
        found = record.holders(key for key in wanted if key not in self.claims)
        found.update((key, self.claims[key]) for key in wanted if key in self.claims)
        return found

    def release(self, project: str) -> None:
        """The project's sync recorded its files (the index speaks for them now) or failed."""
        for key in self.claimed_by.pop(project, []):
            if self.claims.get(key, ("",))[0] == project:
                del self.claims[key]


def split_keys(project: Project, stored: Iterable[StoredFile]) -> tuple[dict[str, str], dict[str, str]]:
    """The release-file keys and the .metadata sidecar keys of ``stored``, each with its digest."""
    files: dict[str, str] = {}
    sidecars: dict[str, str] = {}
    for file in stored:
        digest = file.digest.lower()
        if file.metadata:
            sidecars[file.key] = digest
        elif files.setdefault(file.key, digest) != digest:
            raise KeyConflict(f"{project.name}: {file.key} is advertised twice with different digests")
    return files, sidecars


def claim_keys(guard: RunGuard, record: MirrorRecord, project: Project, stored: Iterable[StoredFile]) -> None:
    """Claim every key of the project's ``stored`` files (and sidecars), or raise KeyConflict naming who holds one."""
    name = project.canonical
    files, sidecars = split_keys(project, stored)
    # A release file named like a sidecar must not take the sidecar of the file it is named after.
    bases = {key: key.removesuffix(".metadata") for key in files if key.endswith(".metadata")}
    for key, base in bases.items():
        if key in sidecars or base in files:
            raise KeyConflict(f"{project.name}: {key} would be both a file and a .metadata sidecar")
    wanted = files | sidecars
    held = guard.holders(record, [*wanted, *bases.values()])
    for key, digest in wanted.items():
        owner, their_digest = held.get(key, (name, ""))
        if owner != name:
            same = "the same bytes" if their_digest.lower() == digest else "different bytes"
            raise KeyConflict(
                f"{project.name}: {key} already belongs to {owner} ({same}); a file belongs to one project"
            )
    for key, base in bases.items():
        owner = held.get(base, (name, ""))[0]
        if owner != name:
            raise KeyConflict(f"{project.name}: {key} would shadow the .metadata of {owner}'s file {base}")
    guard.claims.update((key, (name, digest)) for key, digest in wanted.items())
    guard.claimed_by.setdefault(name, []).extend(wanted)


def allow_removal(
    guard: RunGuard, record: MirrorRecord, mirror: MirrorSettings, display: str, removing: int, held: int
) -> None:
    """Reserve ``removing`` of the project's ``held`` files for removal, or raise MassDeleteRefused."""
    if not removing:
        return
    if not guard.allow_mass_delete:
        limit = max(FILE_FLOOR, int(held * mirror.max_delete_file_share))
        if removing > limit:
            raise MassDeleteRefused(
                f"refusing to remove {removing} of {held} files of {display} in one run"
                f" (max-delete-file-share allows {limit}); if that is intended, rerun with --allow-mass-delete"
            )
        if guard.mirror_files is None:
            guard.mirror_files = record.count_release_files()
        total = guard.files_removing + removing
        run_limit = file_limit(guard.mirror_files, mirror.max_delete_share)
        if total > run_limit:
            raise MassDeleteRefused(
                f"refusing to remove {removing} files of {display}: the run would remove {total} of the"
                f" mirror's {guard.mirror_files} files (max-delete-share allows {run_limit});"
                " if that is intended, rerun with --allow-mass-delete"
            )
    guard.files_removing += removing


def file_limit(mirror_files: int, share: float) -> int:
    """How many release files one run may remove: ``share`` of the mirror's, at least ``FILE_FLOOR``."""
    return max(FILE_FLOOR, int(mirror_files * share))


def owned_files(record: MirrorRecord, names: Iterable[str]) -> int:
    """The release files the index records for these projects (what removing them all removes)."""
    return sum(1 for name in names for row in record.files(name) if not row.metadata)
