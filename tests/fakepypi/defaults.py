"""The small default catalogue the ``fake_pypi`` fixture serves.

- ``Foo.Bar`` (display name is not canonical: ``foo-bar``): 1.0 (wheel + sdist) and 2.0
  (wheel requiring ``dep-lib>=0.1`` with Requires-Python ``>=3.8``, + sdist).
- ``dep-lib``: 0.1 (wheel).
- ``yanky``: 1.0 (wheel, yanked with reason "broken build") and 1.1 (wheel).

Wheels have PEP 658 metadata; sdists do not. Serials end at ``DEFAULT_SERIAL``.
"""

from __future__ import annotations

from .builder import make_sdist, make_wheel
from .index import FakeIndex

__all__ = ["DEFAULT_PROJECTS", "default_index"]

DEFAULT_PROJECTS = ("Foo.Bar", "dep-lib", "yanky")


def default_index() -> FakeIndex:
    index = FakeIndex()
    index.add("dep-lib", "0.1", make_wheel("dep-lib", "0.1", summary="A dependency"))
    index.add("Foo.Bar", "1.0", make_wheel("Foo.Bar", "1.0"), make_sdist("Foo.Bar", "1.0"))
    index.add(
        "Foo.Bar",
        "2.0",
        make_wheel("Foo.Bar", "2.0", requires=["dep-lib>=0.1"], requires_python=">=3.8"),
        make_sdist("Foo.Bar", "2.0", requires=["dep-lib>=0.1"], requires_python=">=3.8"),
    )
    index.add("yanky", "1.0", make_wheel("yanky", "1.0"))
    index.add("yanky", "1.1", make_wheel("yanky", "1.1"))
    index.yank("yanky", "1.0", "broken build")
    return index
