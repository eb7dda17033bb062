"""In-memory fakes for the Room's peers and clock."""

from __future__ import annotations

from typing import Any

from room import Room

# The least that passes the room's SDP check (room.checked_sdp); tests/fixtures/sdp/ has real ones.
SDP = ("v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
       "a=fingerprint:sha-256 " + ":".join(["AB"] * 32) + "\r\n")


class FakePeer:
    """Records what the room sends to it and how it was closed."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.closed: tuple[int, str] | None = None

    def send(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.sent if m["type"] == kind]

    @property
    def last(self) -> dict[str, Any]:
        return self.sent[-1]


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def connect(room: Room) -> tuple[str, FakePeer]:
    peer = FakePeer()
    return room.connect(peer), peer
