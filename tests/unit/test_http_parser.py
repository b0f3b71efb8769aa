"""The sans-I/O HTTP/1.1 parser on bytes alone: no socket, no event loop, any split of the input."""

from __future__ import annotations

import gzip

import pytest

from frumious.errors import ProtocolError
from frumious.http.parser import MAX_HEAD, Buffer, Framing, Head, parse_head
from frumious.protocol.bodies import inflater

URL = "http://x/doc"


def splits(data: bytes) -> list[list[bytes]]:
    """The same bytes whole, byte by byte, and in odd-sized pieces."""
    return [
        [data],
        [data[i : i + 1] for i in range(len(data))],
        [data[i : i + 7] for i in range(0, len(data), 7)],
        [data[:3], data[3:-2], data[-2:]],
    ]


def parse(pieces: list[bytes], limit: int = 5, close: bool = False) -> tuple[Head, bytes, Buffer]:
    """Feed ``pieces`` one at a time as a connection would; the head, the body, what is left."""
    buffer, head, framing, body = Buffer(), None, None, []
    feed = iter(pieces)
    while True:
        if head is None:
            head = parse_head(buffer, URL)
            if head is not None:
                framing = Framing(head, URL)
        if framing is not None:
            while (piece := framing.next(buffer, limit)) is not None and piece:
                assert len(piece) <= limit
                body.append(piece)
            if framing.done:
                for rest in feed:  # what follows the body stays for the next response
                    buffer.feed(rest)
                return head, b"".join(body), buffer  # type: ignore[return-value]
        nxt = next(feed, None)
        if nxt is None:
            if framing is None:
                raise AssertionError("head never completed")
            while piece := framing.next(buffer, limit, eof=True):
                body.append(piece)
            assert close
            return head, b"".join(body), buffer  # type: ignore[return-value]
        buffer.feed(nxt)


LENGTH = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-A: 1\r\nx-a: 2\r\n\r\nhello world"
CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5;name=value;other\r\nhello\r\n1 \r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: yes\r\nAnother: one\r\n\r\n"
)


@pytest.mark.parametrize("pieces", splits(LENGTH + b"HTTP/1.1 204"))
def test_content_length_in_any_split_stops_at_its_end(pieces: list[bytes]) -> None:
    head, body, rest = parse(pieces)
    assert (head.status, body, head.keep_alive) == (200, b"hello world", True)
    assert head.fields["x-a"] == "1, 2"
    assert rest.take(rest.size) == b"HTTP/1.1 204"  # the next response's bytes stay buffered


@pytest.mark.parametrize("pieces", splits(CHUNKED + b"NEXT"))
def test_chunked_with_extensions_and_trailers_in_any_split(pieces: list[bytes]) -> None:
    _, body, rest = parse(pieces, limit=3)
    assert body == b"hello world"
    assert rest.take(rest.size) == b"NEXT"


def test_interim_answers_are_skipped_and_folded_lines_joined() -> None:
    data = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\nX-Long: a\r\n\t b\r\nConnection: keep-alive\r\n\r\n"
    head = parse_head(_buffer(data), URL)
    assert head is not None
    assert (head.status, head.fields["x-long"], head.keep_alive) == (200, "a b", True)


def test_body_until_close_and_no_body_statuses() -> None:
    head, body, _ = parse([b"HTTP/1.1 200 OK\r\n\r\nall", b" of it"], close=True)
    assert body == b"all of it" and not Framing(head, URL).keep_alive
    for status in (b"204", b"304"):
        head = parse_head(_buffer(b"HTTP/1.1 " + status + b" X\r\nContent-Length: 5\r\n\r\n"), URL)
        assert head is not None and Framing(head, URL).done


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"HTTP/1.1 OK\r\n\r\n", "malformed status line"),
        (b"SPDY/3 200 OK\r\n\r\n", "malformed status line"),
        (b"HTTP/1.1 2000 OK\r\n\r\n", "malformed status line"),
        (b"HTTP/1.1 200 OK\r\nbad\r\n\r\n", "malformed header line"),
        (b"HTTP/1.1 200 OK\r\n name: v\r\n\r\n", "malformed header line"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n", "bad Content-Length"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n", "bad chunk size"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX\r\n0\r\n\r\n", "not followed by CRLF"),
    ],
)
def test_malformed_responses_are_protocol_errors(data: bytes, problem: str) -> None:
    with pytest.raises(ProtocolError, match=problem):
        parse([data])


def test_oversize_head_and_chunk_line_are_refused_before_the_end_arrives() -> None:
    buffer = _buffer(b"HTTP/1.1 200 OK\r\nX: " + b"a" * MAX_HEAD)
    with pytest.raises(ProtocolError, match="head longer than"):
        parse_head(buffer, URL)
    head = parse_head(_buffer(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"), URL)
    assert head is not None
    with pytest.raises(ProtocolError, match="line longer than"):
        Framing(head, URL).next(_buffer(b"5;" + b"x" * MAX_HEAD), 10)


def test_a_cut_short_body_is_a_protocol_error_at_eof() -> None:
    with pytest.raises(ProtocolError, match="3 bytes short"):
        parse([b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nhello"], limit=100, close=True)
    with pytest.raises(ProtocolError, match="inside a chunked body"):
        parse([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel"], close=True)


def test_a_length_body_waits_for_a_whole_piece() -> None:
    head = parse_head(_buffer(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n"), URL)
    assert head is not None
    framing, buffer = Framing(head, URL), _buffer(b"abc")
    assert framing.next(buffer, 100) is None  # 3 of 10: one wake-up later, not three pieces
    assert framing.wanted(buffer.size, 100) == 10
    buffer.feed(b"defghij")
    assert b"".join(iter(lambda: framing.next(buffer, 100) or b"", b"")) == b"abcdefghij"
    assert framing.done


def test_gzip_body_decodes_over_the_framing() -> None:
    packed = gzip.compress(b"x" * 5000)
    data = b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % len(packed) + packed
    _, body, _ = parse([data[i : i + 13] for i in range(0, len(data), 13)], limit=64)
    inflate = inflater(URL, {"content-encoding": "gzip"}, ProtocolError)
    assert inflate is not None
    assert b"".join(inflate.feed(body, 1000)) + inflate.end() == b"x" * 5000


def _buffer(data: bytes) -> Buffer:
    buffer = Buffer()
    buffer.feed(data)
    return buffer


@pytest.mark.parametrize("pieces", splits(LENGTH + CHUNKED + LENGTH.replace(b"hello world", b"second body")))
def test_replies_behind_each_other_in_any_split_are_read_in_turn(pieces: list[bytes]) -> None:
    # Pipelined replies arrive together: each head and body is taken from where the last one ended
    # (an offset into the receive), the rest left for the next, whatever the receives' boundaries.
    buffer = Buffer()
    for piece in pieces:
        buffer.feed(piece)
    bodies = []
    for _ in range(3):
        head = parse_head(buffer, URL)
        assert head is not None and head.status == 200
        framing = Framing(head, URL)
        body = []
        while piece := framing.next(buffer, 4):
            body.append(piece)
        assert framing.done
        bodies.append(b"".join(body))
    assert bodies == [b"hello world", b"hello world", b"second body"]
    assert buffer.size == 0 and parse_head(buffer, URL) is None
