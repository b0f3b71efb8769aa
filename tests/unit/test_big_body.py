"""A big body read whole (PyPI's listing, 31-37 MB) costs its size once at peak, not twice (issue 12, item 3)."""

from __future__ import annotations

import tracemalloc

from frumious.protocol.bodies import BIG_BODY, Collector

PIECE = 256 * 1024


def gather(size: int, *, declared: int | None, exact: bool = True) -> tuple[bytes, int]:
    """The body ``Collector`` gives for ``size`` bytes in pieces, and the peak bytes traced while gathering."""
    pieces = [bytes([i % 251]) * min(PIECE, size - at) for i, at in enumerate(range(0, size, PIECE))]
    tracemalloc.start()
    try:
        collector = Collector("http://upstream/simple/", None)
        if declared is not None:
            collector.declared(declared, exact=exact)
        for piece in pieces:
            collector.add(piece)
        body = collector.body()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert body == b"".join(pieces)
    return body, peak


def test_a_big_declared_body_is_gathered_into_one_buffer() -> None:
    size = BIG_BODY * 2
    _body, peak = gather(size, declared=size)
    assert peak < size * 1.1  # the pieces joined at the end: twice the size


def test_a_body_longer_or_shorter_than_declared_or_decoded_comes_back_whole() -> None:
    size = BIG_BODY + 3 * PIECE + 5
    gather(size, declared=size - PIECE)
    gather(size, declared=size + 100)
    gather(size, declared=size // 3, exact=False)  # decoded: the declared length is the wire's
    body, _peak = gather(1000, declared=1000)
    assert isinstance(body, bytes)  # a small body stays bytes
