"""A small blocking MLLP client: frame a message, send it, wait for its ACK. Used by `carebus hl7 send`.

Also `split_messages`, which cuts a file holding several messages (one after another, each starting
with `MSH`) into single messages, byte for byte, and `read_ack`, which pulls MSA-1, MSA-2 and the
error text out of an ACK.
"""

from __future__ import annotations

import re
import socket
import ssl
from dataclasses import dataclass
from types import TracebackType

from producers.hl7v2.framing import MllpDecoder, encode_frame

__all__ = ["AckSummary", "MllpClient", "read_ack", "split_messages"]

_MESSAGE_START = re.compile(rb"(?:^|(?<=[\r\n]))(?:\xef\xbb\xbf)?MSH")
RECV_SIZE = 65536


@dataclass(frozen=True)
class AckSummary:
    code: str  # MSA-1
    control_id: str  # MSA-2
    error: str  # ERR-8 (v2.5+) or MSA-3, as the receiver wrote it


def split_messages(data: bytes) -> list[bytes]:
    """The messages in `data`, each from its MSH up to the next one; blank trailing lines dropped."""
    starts = [match.start() for match in _MESSAGE_START.finditer(data)]
    if not starts:
        return [data] if data.strip() else []
    bounds = [*starts[1:], len(data)]
    return [data[start:end].rstrip(b"\r\n") for start, end in zip(starts, bounds, strict=True)]


def read_ack(ack: bytes) -> AckSummary:
    text = ack.decode("utf-8", errors="replace")
    segments = [line for line in re.split(r"[\r\n]+", text) if line]
    field_sep = segments[0][3] if segments and segments[0].startswith("MSH") and len(segments[0]) > 3 else "|"
    code = control_id = error = ""
    for segment in segments:
        fields = segment.split(field_sep)
        if fields[0] == "MSA":
            code = fields[1] if len(fields) > 1 else ""
            control_id = fields[2] if len(fields) > 2 else ""
            error = error or (fields[3] if len(fields) > 3 else "")
        elif fields[0] == "ERR":
            user_message = fields[8] if len(fields) > 8 else ""  # ERR-8
            legacy = fields[1] if len(fields) > 1 else ""  # ERR-1, before v2.5
            error = user_message or error or legacy
    return AckSummary(code, control_id, error)


class MllpClient:
    def __init__(self, host: str, port: int, *, timeout_s: float = 30.0,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self._host = host
        self._port = port
        self._timeout_s = timeout_s
        self._ssl_context = ssl_context
        self._sock: socket.socket | None = None
        self._decoder = MllpDecoder()

    def connect(self) -> None:
        sock = socket.create_connection((self._host, self._port), timeout=self._timeout_s)
        if self._ssl_context is not None:
            sock = self._ssl_context.wrap_socket(sock, server_hostname=self._host)
        self._sock = sock

    def send(self, message: bytes) -> bytes:
        """Send one message and return the ACK's payload (raises OSError on timeout or a closed socket)."""
        if self._sock is None:
            self.connect()
        sock = self._sock
        if sock is None:
            raise ConnectionError("not connected")
        sock.sendall(encode_frame(message))
        while True:
            frame = self._decoder.next_frame()
            if frame:
                return frame
            chunk = sock.recv(RECV_SIZE)
            if not chunk:
                raise ConnectionError("the receiver closed the connection before acknowledging")
            self._decoder.feed(chunk)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self) -> MllpClient:
        self.connect()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()
