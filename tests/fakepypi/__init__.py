"""A fake pypi.org for frumious' tests: real wheels and sdists, a serial-keeping index, an
aiohttp server on 127.0.0.1 in a background thread, and counted fault injection.

    index = FakeIndex()
    index.add("Foo.Bar", "1.0", make_wheel("Foo.Bar", "1.0"), make_sdist("Foo.Bar", "1.0"))
    with run_fake_pypi(index) as pypi:          # or: async with serve_fake_pypi(index) as pypi:
        pypi.fail("/pypi/foo-bar/json", 503, times=2)
        ...                                      # run the client against pypi.url
        assert pypi.downloads == []
"""

from .app import RequestRecord
from .builder import Artifact, make_sdist, make_wheel
from .config import write_config
from .defaults import DEFAULT_PROJECTS, default_index
from .faults import Fault, FaultKind, Faults
from .index import FakeFile, FakeIndex, FakeProject, FakeRelease, JournalEntry, packages_path
from .memory import mem_index
from .server import FakePyPI, run_fake_pypi, serve_fake_pypi

__all__ = [
    "DEFAULT_PROJECTS",
    "Artifact",
    "FakeFile",
    "FakeIndex",
    "FakeProject",
    "FakePyPI",
    "FakeRelease",
    "Fault",
    "FaultKind",
    "Faults",
    "JournalEntry",
    "RequestRecord",
    "default_index",
    "make_sdist",
    "make_wheel",
    "mem_index",
    "packages_path",
    "run_fake_pypi",
    "serve_fake_pypi",
    "write_config",
]
