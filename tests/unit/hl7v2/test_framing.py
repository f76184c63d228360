from __future__ import annotations

import contextlib
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from producers.hl7v2.errors import (
    FrameFault,
    FramingError,
    MalformedFrameError,
    OversizedFrameError,
    UnexpectedBytesError,
)
from producers.hl7v2.framing import MllpDecoder, encode_frame

SB, EB, CR = b"\x0b", b"\x1c", b"\x0d"
MSG_A = b"MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5\rPID|1||42\r"
MSG_B = b"MSH|^~\\&|A|B|C|D|20240101||ADT^A08|2|P|2.5\r"


def drain(decoder: MllpDecoder) -> list[bytes | FramingError]:
    """Every frame and every framing error, in stream order."""
    out: list[bytes | FramingError] = []
    while True:
        try:
            frame = decoder.next_frame()
        except FramingError as exc:
            out.append(exc)
            continue
        if frame is None:
            return out
        out.append(frame)


def decode_all(data: bytes, **options: int) -> list[bytes | FramingError]:
    decoder = MllpDecoder(**options)
    decoder.feed(data)
    return drain(decoder)


def test_one_frame() -> None:
    assert decode_all(encode_frame(MSG_A)) == [MSG_A]


def test_frames_back_to_back_in_one_chunk() -> None:
    assert decode_all(encode_frame(MSG_A) + encode_frame(MSG_B)) == [MSG_A, MSG_B]


def test_nothing_until_the_end_block_and_its_cr_arrive() -> None:
    decoder = MllpDecoder()
    for chunk in (SB, MSG_A[:10], MSG_A[10:], EB):
        decoder.feed(chunk)
        assert decoder.next_frame() is None
    decoder.feed(CR)
    assert decoder.next_frame() == MSG_A
    assert decoder.buffered == 0


def test_empty_frame_is_returned_for_the_caller_to_judge() -> None:
    assert decode_all(SB + EB + CR) == [b""]


def test_encode_frame_wraps_the_payload() -> None:
    assert encode_frame(b"MSH|x") == b"\x0bMSH|x\x1c\x0d"


@pytest.mark.parametrize("payload", [b"MSH|\x0b|", b"MSH|\x1c|"])
def test_encode_frame_refuses_framing_bytes_in_the_payload(payload: bytes) -> None:
    with pytest.raises(ValueError, match="cannot contain"):
        encode_frame(payload)


# --- bytes outside frames ------------------------------------------------------------------------


def test_garbage_before_a_frame_is_reported_not_merged() -> None:
    events = decode_all(b"GET / HTTP/1.1" + encode_frame(MSG_A))
    assert isinstance(events[0], UnexpectedBytesError)
    assert events[0].size == 14
    assert not events[0].whitespace_only
    assert events[1:] == [MSG_A]


def test_stray_line_break_between_frames_is_flagged_as_whitespace() -> None:
    events = decode_all(encode_frame(MSG_A) + b"\r\n" + encode_frame(MSG_B))
    assert events[0] == MSG_A
    assert isinstance(events[1], UnexpectedBytesError)
    assert (events[1].size, events[1].whitespace_only) == (2, True)
    assert events[2:] == [MSG_B]


def test_garbage_is_reported_as_it_arrives_without_being_buffered() -> None:
    decoder = MllpDecoder()
    decoder.feed(b"x" * 1000)
    with pytest.raises(UnexpectedBytesError) as caught:
        decoder.next_frame()
    assert caught.value.size == 1000
    assert decoder.buffered == 0
    assert decoder.next_frame() is None


def test_unexpected_bytes_error_names_a_count_never_the_bytes() -> None:
    events = decode_all(b"PID|1||SECRET-NAME" + encode_frame(MSG_A))
    assert "SECRET" not in str(events[0])
    assert "18 bytes" in str(events[0])


# --- size limit ----------------------------------------------------------------------------------


def test_oversized_frame_is_reported_and_skipped_then_decoding_resumes() -> None:
    big = b"MSH|" + b"x" * 100
    events = decode_all(encode_frame(big) + encode_frame(MSG_B), max_frame_size=len(MSG_B))
    assert isinstance(events[0], OversizedFrameError)
    assert events[0].limit == len(MSG_B)
    assert events[1:] == [MSG_B]


def test_oversized_frame_is_reported_before_its_end_arrives_and_memory_stays_bounded() -> None:
    decoder = MllpDecoder(max_frame_size=64)
    decoder.feed(SB + b"x" * 50)
    assert decoder.next_frame() is None
    decoder.feed(b"x" * 50)
    with pytest.raises(OversizedFrameError) as caught:
        decoder.next_frame()
    assert caught.value.size == 100
    for _ in range(10):
        decoder.feed(b"y" * 1000)
        assert decoder.next_frame() is None
        assert decoder.buffered == 0
    decoder.feed(EB)
    assert decoder.next_frame() is None
    decoder.feed(CR + encode_frame(MSG_B))
    assert decoder.next_frame() == MSG_B


def test_a_frame_exactly_at_the_limit_is_accepted() -> None:
    assert decode_all(encode_frame(MSG_A), max_frame_size=len(MSG_A)) == [MSG_A]


def test_oversized_error_asks_for_ar_with_internal_error() -> None:
    error = OversizedFrameError(limit=10, size=11)
    assert (error.ack_code, int(error.error_code)) == ("AR", 207)


def test_max_frame_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        MllpDecoder(max_frame_size=0)


# --- broken frames -------------------------------------------------------------------------------


def test_end_block_without_cr_breaks_the_frame_and_keeps_its_bytes() -> None:
    events = decode_all(SB + MSG_A + EB + b"X" + encode_frame(MSG_B))
    assert isinstance(events[0], MalformedFrameError)
    assert events[0].fault is FrameFault.END_BLOCK_WITHOUT_CR
    assert events[0].frame == MSG_A
    assert isinstance(events[1], UnexpectedBytesError)
    assert events[1].size == 1
    assert events[2:] == [MSG_B]


def test_end_block_then_straight_into_the_next_frame() -> None:
    events = decode_all(SB + MSG_A + EB + encode_frame(MSG_B))
    assert isinstance(events[0], MalformedFrameError)
    assert events[0].fault is FrameFault.END_BLOCK_WITHOUT_CR
    assert events[1:] == [MSG_B]


def test_start_block_inside_a_frame_ends_the_broken_one_and_starts_anew() -> None:
    events = decode_all(SB + MSG_A + encode_frame(MSG_B))
    assert isinstance(events[0], MalformedFrameError)
    assert events[0].fault is FrameFault.START_BLOCK_IN_FRAME
    assert events[0].frame == MSG_A
    assert events[1:] == [MSG_B]


def test_malformed_frame_text_never_quotes_the_frame() -> None:
    error = MalformedFrameError(FrameFault.TRUNCATED, frame=b"PID|1||SECRET")
    assert "SECRET" not in str(error)


# --- end of stream -------------------------------------------------------------------------------


def test_close_accepts_a_last_frame_missing_only_its_cr() -> None:
    decoder = MllpDecoder()
    decoder.feed(encode_frame(MSG_A) + SB + MSG_B + EB)
    assert drain(decoder) == [MSG_A]
    assert decoder.close() == MSG_B


def test_close_reports_a_frame_cut_short() -> None:
    decoder = MllpDecoder()
    decoder.feed(SB + MSG_A[:20])
    assert decoder.next_frame() is None
    with pytest.raises(MalformedFrameError) as caught:
        decoder.close()
    assert caught.value.fault is FrameFault.TRUNCATED
    assert caught.value.frame == MSG_A[:20]


def test_close_on_a_clean_stream_returns_nothing() -> None:
    decoder = MllpDecoder()
    decoder.feed(encode_frame(MSG_A))
    assert drain(decoder) == [MSG_A]
    assert decoder.close() is None


def test_close_before_draining_is_a_bug() -> None:
    decoder = MllpDecoder()
    decoder.feed(encode_frame(MSG_A))
    with pytest.raises(ValueError, match="drain"):
        decoder.close()


# --- properties ----------------------------------------------------------------------------------

payloads = st.lists(
    st.binary(max_size=300).map(lambda b: b.replace(SB, b"").replace(EB, b"")), min_size=1, max_size=6
)


@st.composite
def chunked(draw: st.DrawFn, data: bytes) -> list[bytes]:
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=20)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=200)
@given(frames=payloads, data=st.data())
def test_any_chunking_of_valid_frames_reassembles_them_exactly(frames: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(encode_frame(frame) for frame in frames)
    decoder = MllpDecoder()
    out: list[bytes] = []
    for chunk in data.draw(chunked(stream)):
        decoder.feed(chunk)
        while (frame := decoder.next_frame()) is not None:
            out.append(frame)
    assert out == frames
    assert decoder.close() is None


@settings(max_examples=300)
@given(
    chunks=st.lists(
        st.one_of(st.binary(max_size=64), st.sampled_from([SB, EB, CR, EB + CR, SB + b"MSH|", b"\r\n"])),
        max_size=30,
    ),
    limit=st.integers(1, 128),
)
def test_garbage_never_raises_anything_but_framing_errors(chunks: list[bytes], limit: int) -> None:
    decoder = MllpDecoder(max_frame_size=limit)
    for chunk in chunks:
        decoder.feed(chunk)
        for event in drain(decoder):
            if isinstance(event, bytes):
                assert len(event) <= limit
        assert decoder.buffered <= limit + 1
    with contextlib.suppress(FramingError):
        decoder.close()


def normalised(events: list[bytes | FramingError]) -> list[object]:
    """Events with the chunk-dependent parts (how a run of stray bytes was cut up) folded away."""
    out: list[object] = []
    for event in events:
        if isinstance(event, UnexpectedBytesError):
            if out[-1:] != ["stray"]:
                out.append("stray")
        elif isinstance(event, OversizedFrameError):
            out.append("oversized")
        elif isinstance(event, MalformedFrameError):
            out.append((event.fault, event.frame))
        else:
            out.append(event)
    return out


@settings(max_examples=300)
@given(
    parts=st.lists(st.sampled_from([SB, EB, CR, b"a", b"\n"]), max_size=60),
    data=st.data(),
    limit=st.integers(1, 12),
)
def test_chunking_never_changes_what_is_decoded(parts: list[bytes], data: st.DataObject, limit: int) -> None:
    stream = b"".join(parts)

    def run(chunks: list[bytes]) -> list[object]:
        decoder = MllpDecoder(max_frame_size=limit)
        events: list[bytes | FramingError] = []
        for chunk in chunks:
            decoder.feed(chunk)
            events += drain(decoder)
        try:
            last = decoder.close()
        except MalformedFrameError as exc:
            events.append(exc)
        else:
            events += [last] if last is not None else []
        return normalised(events)

    assert run(data.draw(chunked(stream))) == run([stream])
