"""MLLP framing: `<SB> payload <EB><CR>` (0x0B, then the message, then 0x1C 0x0D).

The decoder is incremental and does no I/O: feed it bytes as they arrive, in any chunking, and pull
complete frames out. Anything wrong with the stream is raised as a FramingError at the point where it
happens in the stream, after the frames before it and before the frames after it; the decoder keeps
its place, so the caller handles the error and keeps pulling:

    decoder.feed(chunk)
    while True:
        try:
            frame = decoder.next_frame()
        except OversizedFrameError:               # NAK (AR) or close; the rest of that frame is skipped
            continue
        except UnexpectedBytesError:              # log exc.size; there is nothing to acknowledge
            continue
        except MalformedFrameError:               # dead-letter exc.frame, NAK
            continue
        if frame is None:
            break
        ...                                       # parse, map, publish, ACK
    # at end of stream:
    last = decoder.close()

Decisions:

- Bytes outside a frame are reported, never glued onto the next message: UnexpectedBytesError with
  their count, raised when the run ends (a start block, or the end of what has arrived so far). The
  common case, a stray CR/LF after an end block, is flagged `whitespace_only`.
- A frame bigger than `max_frame_size` payload bytes raises OversizedFrameError as soon as it is known,
  without buffering the rest; the decoder then skips to that frame's end block and carries on, so the
  server may NAK it and stay in step with the sender, or close the connection.
- Inside a frame, 0x1C must be followed by 0x0D (MLLP release 1 and 2). 0x1C followed by anything
  else is a broken frame (MalformedFrameError, `end-block-without-cr`), not a complete message nor
  a data byte: HL7 content cannot hold 0x1C, so either reading could accept a cut-off message. The
  bytes after it are outside any frame. A 0x0B before the end block likewise ends the broken frame
  (`start-block-in-frame`) and starts a new one.
- At end of stream, a frame whose last byte is 0x1C is accepted (`close()` returns it): some senders
  omit the final CR and close the connection, and the message itself is complete. A frame with no
  end block at all is `truncated`.
- An empty frame (`<SB><EB><CR>`, a keep-alive for some senders) is returned as b""; the caller decides.
"""

from __future__ import annotations

from enum import Enum, auto
from typing import Final

from producers.hl7v2.errors import FrameFault, MalformedFrameError, OversizedFrameError, UnexpectedBytesError

__all__ = [
    "CARRIAGE_RETURN",
    "DEFAULT_MAX_FRAME_SIZE",
    "END_BLOCK",
    "START_BLOCK",
    "MllpDecoder",
    "encode_frame",
]

START_BLOCK: Final = b"\x0b"
END_BLOCK: Final = b"\x1c"
CARRIAGE_RETURN: Final = b"\x0d"
# Room for an ORU carrying a base64 PDF in OBX-5 (ED), while one connection cannot exhaust memory.
DEFAULT_MAX_FRAME_SIZE: Final = 16 * 1024 * 1024


class _State(Enum):
    OUTSIDE = auto()
    INSIDE = auto()
    SKIPPING = auto()


class MllpDecoder:
    """Turns an MLLP byte stream, fed in any chunks, into frame payloads."""

    def __init__(self, *, max_frame_size: int = DEFAULT_MAX_FRAME_SIZE) -> None:
        if max_frame_size < 1:
            raise ValueError("max_frame_size must be positive")
        self.max_frame_size = max_frame_size
        self._buffer = bytearray()
        self._state = _State.OUTSIDE
        # Where the search for the end block resumes, so a frame arriving in many small chunks is not
        # rescanned from its start on every feed.
        self._scanned = 0

    @property
    def buffered(self) -> int:
        """Bytes held, waiting for the rest of their frame."""
        return len(self._buffer)

    def feed(self, data: bytes) -> None:
        self._buffer += data

    def next_frame(self) -> bytes | None:
        """The next complete payload, or None until more bytes arrive. Raises FramingError subclasses."""
        while True:
            if self._state is _State.OUTSIDE:
                if not self._leave_outside():
                    return None
            elif self._state is _State.SKIPPING:
                if not self._skip_oversized():
                    return None
            else:
                return self._take_frame()

    def close(self) -> bytes | None:
        """End of stream, once next_frame() has returned None: the last frame if it lacks only its
        final CR; raises MalformedFrameError if a frame was cut short."""
        buffer, state = bytes(self._buffer), self._state
        if state is _State.OUTSIDE:
            drained = not buffer
        elif state is _State.INSIDE:
            drained = START_BLOCK not in buffer and END_BLOCK not in buffer[:-1]
        else:
            drained = buffer in (b"", END_BLOCK)
        if not drained:
            raise ValueError("drain next_frame() before close()")
        self._buffer.clear()
        self._state, self._scanned = _State.OUTSIDE, 0
        if state is not _State.INSIDE:
            return None
        if buffer.endswith(END_BLOCK):
            return buffer[:-1]
        raise MalformedFrameError(FrameFault.TRUNCATED, frame=buffer)

    def _leave_outside(self) -> bool:
        start = self._buffer.find(START_BLOCK)
        stray = len(self._buffer) if start == -1 else start
        if stray:
            whitespace = bytes(self._buffer[:stray]).isspace()
            del self._buffer[:stray]
            raise UnexpectedBytesError(stray, whitespace_only=whitespace)
        if start == -1:
            return False
        del self._buffer[:1]
        self._state, self._scanned = _State.INSIDE, 0
        return True

    def _take_frame(self) -> bytes | None:
        buffer = self._buffer
        end = buffer.find(END_BLOCK, self._scanned)
        restart = buffer.find(START_BLOCK, self._scanned, end if end != -1 else len(buffer))
        size = restart if restart != -1 else end if end != -1 else len(buffer)
        if size > self.max_frame_size:
            del buffer[:size]
            self._state, self._scanned = _State.SKIPPING, 0
            raise OversizedFrameError(limit=self.max_frame_size, size=size)
        if restart != -1:
            frame = bytes(buffer[:restart])
            del buffer[:restart + 1]
            self._scanned = 0
            raise MalformedFrameError(FrameFault.START_BLOCK_IN_FRAME, frame=frame)
        if end == -1 or end + 1 == len(buffer):
            # No end block yet, or 0x1C is the last byte so far and its CR may be in the next chunk.
            self._scanned = size
            return None
        frame = bytes(buffer[:end])
        self._state, self._scanned = _State.OUTSIDE, 0
        if buffer[end + 1:end + 2] != CARRIAGE_RETURN:
            del buffer[:end + 1]
            raise MalformedFrameError(FrameFault.END_BLOCK_WITHOUT_CR, frame=frame)
        del buffer[:end + 2]
        return frame

    def _skip_oversized(self) -> bool:
        buffer = self._buffer
        end = buffer.find(END_BLOCK)
        restart = buffer.find(START_BLOCK, 0, end if end != -1 else len(buffer))
        if restart != -1:
            del buffer[:restart]
            self._state = _State.OUTSIDE
            return True
        if end == -1:
            buffer.clear()
            return False
        if end + 1 == len(buffer):
            del buffer[:end]
            return False
        del buffer[:end + 2 if buffer[end + 1:end + 2] == CARRIAGE_RETURN else end + 1]
        self._state = _State.OUTSIDE
        return True


def encode_frame(payload: bytes) -> bytes:
    """Wrap one message for MLLP. A payload holding 0x0B or 0x1C cannot be framed: that is a bug."""
    if START_BLOCK in payload or END_BLOCK in payload:
        raise ValueError("an MLLP payload cannot contain 0x0B or 0x1C")
    return START_BLOCK + payload + END_BLOCK + CARRIAGE_RETURN
