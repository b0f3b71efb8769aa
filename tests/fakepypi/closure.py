"""A catalogue with dependencies for the dependency-closure tests: ``requests``- and ``django``-like trees.

Every wheel carries PEP 658 metadata with ``Requires-Dist`` lines: plain dependencies, extras
(``requests[socks]``), platform markers (``tzdata; sys_platform == "win32"``), Python markers
(``typing-extensions; python_version < "3.12"``) and platform wheels (``charset-normalizer``
has one per target). ``CLOSURE_TARGETS`` name two environments; ``EXPECTED_CLOSURE`` is what
``requests[socks]`` and ``django`` need in them with ``pysocks`` blocklisted (the hole).
"""

from __future__ import annotations

from .builder import make_sdist, make_wheel
from .index import FakeIndex

__all__ = ["CLOSURE_TARGETS", "EXPECTED_CLOSURE", "NOT_NEEDED", "closure_index"]

CLOSURE_TARGETS = ("cp312-manylinux_2_28_x86_64", "cp311-win_amd64")
EXPECTED_CLOSURE = frozenset(
    {
        "requests", "charset-normalizer", "idna", "urllib3", "certifi",
        "django", "asgiref", "sqlparse", "tzdata", "typing-extensions",
    }
)  # fmt: skip
# On the index but not needed: an extra nobody asks for, an older release's dependency, a stranger.
NOT_NEEDED = frozenset({"chardet", "argon2-cffi", "oldthing", "unrelated", "pysocks"})


def closure_index() -> FakeIndex:
    index = FakeIndex()
    for name, version in (("idna", "3.7"), ("certifi", "2024.2.2"), ("chardet", "5.2.0"), ("sqlparse", "0.5.0"),
                          ("tzdata", "2024.1"), ("typing-extensions", "4.12.0"), ("pysocks", "1.7.1"),
                          ("argon2-cffi", "23.1.0"), ("oldthing", "1.0"), ("unrelated", "1.0")):  # fmt: skip
        index.add(name, version, make_wheel(name, version))
    index.add("urllib3", "2.2.1", make_wheel("urllib3", "2.2.1", extras={"socks": ["pysocks>=1.5.6,!=1.5.7"]}))
    index.add(
        "charset-normalizer",
        "3.3.2",
        make_wheel("charset-normalizer", "3.3.2", tag="cp312-cp312-manylinux_2_17_x86_64"),
        make_wheel("charset-normalizer", "3.3.2", tag="cp311-cp311-win_amd64"),
        make_wheel("charset-normalizer", "3.3.2", tag="py3-none-any"),
    )
    requests = ["charset-normalizer>=2,<4", "idna>=2.5,<4", "urllib3>=1.21.1,<3", "certifi>=2017.4.17"]
    extras = {"socks": ["pysocks>=1.5.6,!=1.5.7"], "use-chardet-on-py3": ["chardet>=3.0.2,<6"]}
    index.add("requests", "2.32.3", make_wheel("requests", "2.32.3", requires=requests, extras=extras),
              make_sdist("requests", "2.32.3", requires=requests))  # fmt: skip
    index.add(
        "asgiref", "3.8.1", make_wheel("asgiref", "3.8.1", requires=['typing-extensions>=4; python_version < "3.12"'])
    )
    index.add("django", "4.2", make_wheel("django", "4.2", requires=["asgiref>=3.6", "sqlparse>=0.3.1", "oldthing"]))
    django = ["asgiref>=3.7,<4", "sqlparse>=0.3.1", 'tzdata; sys_platform == "win32"']
    index.add(
        "django", "5.0.6", make_wheel("django", "5.0.6", requires=django, extras={"argon2": ["argon2-cffi>=19.1.0"]})
    )
    return index
