"""Key claims and the file-level safety valve (claims.py) against a real record."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from frumious import claims
from frumious.errors import KeyConflict, MassDeleteRefused
from frumious.models import DistFile, Project, StoredFile
from frumious.project import objects, stored_files
from frumious.record.db import MirrorRecord, ProjectRow
from frumious.settings import MirrorSettings

MIRROR = MirrorSettings(directory="/srv/mirror")
# Directories in PyPI's layout, so a file's key is its URL's tail.
X, Y, Z = (f"{c}{c}/{c}{c}/{c * 60}" for c in "abc")


@pytest.fixture
def index(tmp_path) -> Iterator[MirrorRecord]:
    opened = MirrorRecord(str(tmp_path / "frumious.sqlite"))
    yield opened
    opened.db.close()


def dist(path: str, digest: str = "aa", metadata: str | None = None) -> DistFile:
    core = {"sha256": metadata} if metadata else None
    return DistFile(
        path.rsplit("/", 1)[-1], f"https://files.invalid{path}", 3, {"sha256": digest}, "1.0", core_metadata=core
    )


def project(name: str, *files: DistFile) -> Project:
    return Project(name, 1, {"1.0": files})


def claim(guard: claims.RunGuard, index: MirrorRecord, wanted: Project) -> None:
    claims.claim_keys(guard, index, wanted, objects(stored_files(MIRROR, wanted)))


def own(index: MirrorRecord, name: str, key: str, digest: str = "aa", *, metadata: bool = False) -> None:
    index.record(ProjectRow(name, name, 1), [StoredFile(key, name, "1.0", 3, "sha256", digest, None, metadata)])


def test_a_key_recorded_for_another_project_is_refused(index) -> None:
    own(index, "first", f"web/packages/{X}/a.whl", "aa")
    for digest, said in (("bb", "different bytes"), ("aa", "the same bytes")):
        with pytest.raises(KeyConflict, match=f"already belongs to first \\({said}\\)"):
            claim(claims.RunGuard(), index, project("second", dist(f"/packages/{X}/a.whl", digest)))
    # The owner itself may change its file.
    claim(claims.RunGuard(), index, project("first", dist(f"/packages/{X}/a.whl", "cc")))


def test_claims_of_this_run_count_before_the_index_records_them(index) -> None:
    guard = claims.RunGuard()
    claim(guard, index, project("first", dist(f"/packages/{X}/a.whl")))
    with pytest.raises(KeyConflict, match="first"):
        claim(guard, index, project("second", dist(f"/packages/{X}/a.whl")))
    assert guard.holders(index, [f"web/packages/{X}/a.whl"])[f"web/packages/{X}/a.whl"][0] == "first"
    # Once the project is done the index speaks for its keys; the run keeps no claim in memory.
    guard.release("first")
    assert guard.claims == {} and guard.claimed_by == {}


def test_sidecar_keys_cannot_be_shadowed(index) -> None:
    guard = claims.RunGuard()
    claim(guard, index, project("first", dist(f"/packages/{X}/a.whl", metadata="mm")))
    with pytest.raises(KeyConflict):
        claim(guard, index, project("second", dist(f"/packages/{X}/a.whl.metadata")))
    # Without an advertised sidecar the name is still reserved for one.
    own(index, "third", f"web/packages/{Y}/b.whl")
    with pytest.raises(KeyConflict, match=r"shadow the \.metadata of third"):
        claim(claims.RunGuard(), index, project("fourth", dist(f"/packages/{Y}/b.whl.metadata")))
    # The other way round: a sidecar key that is already someone's release file.
    own(index, "fifth", f"web/packages/{Z}/c.whl.metadata")
    with pytest.raises(KeyConflict, match="fifth"):
        claim(claims.RunGuard(), index, project("sixth", dist(f"/packages/{Z}/c.whl", metadata="m")))


def test_one_project_cannot_collide_with_itself(index) -> None:
    twice = project("p", dist(f"/packages/{X}/a.whl", "aa"), dist(f"/packages/{X}/a.whl", "bb"))
    with pytest.raises(KeyConflict, match="twice"):
        claim(claims.RunGuard(), index, twice)
    shadow = project("p", dist(f"/packages/{X}/a.whl", metadata="mm"), dist(f"/packages/{X}/a.whl.metadata"))
    with pytest.raises(KeyConflict, match=r"both a file and a \.metadata sidecar"):
        claim(claims.RunGuard(), index, shadow)


@pytest.mark.parametrize(
    ("removing", "held", "allowed"),
    [(5, 6, True), (6, 8, False), (4, 8, True), (6, 12, True), (7, 12, False), (10, 10, False), (1, 1, True)],
)
def test_project_share_with_a_floor(index, removing: int, held: int, allowed: bool) -> None:
    index.record(
        ProjectRow("big", "big", 1),
        [StoredFile(f"web/packages/{n}", "big", "1", 1, "sha256", "a", None) for n in range(1000)],
    )
    guard = claims.RunGuard()
    if allowed:
        claims.allow_removal(guard, index, MIRROR, "big", removing, held)
        assert guard.files_removing == removing
    else:
        with pytest.raises(MassDeleteRefused, match=f"{removing} of {held} files of big"):
            claims.allow_removal(guard, index, MIRROR, "big", removing, held)
        assert guard.files_removing == 0


def test_the_run_total_is_bounded_by_the_mirror_share(index) -> None:
    rows = [StoredFile(f"web/packages/{n}", "big", "1", 1, "sha256", "a", None) for n in range(1000)]
    sidecars = [StoredFile(f"web/packages/{n}.metadata", "big", "1", 1, "sha256", "a", None, True) for n in range(1000)]
    index.record(ProjectRow("big", "big", 1), rows + sidecars)
    guard = claims.RunGuard()
    for _ in range(2):  # 1% of 1,000 release files (sidecars do not count) is 10
        claims.allow_removal(guard, index, MIRROR, "p", 5, 10)
    with pytest.raises(MassDeleteRefused, match="11 of the mirror's 1000 files"):
        claims.allow_removal(guard, index, MIRROR, "q", 1, 10)
    guard.allow_mass_delete = True
    claims.allow_removal(guard, index, MIRROR, "q", 100, 100)
    assert guard.files_removing == 110
