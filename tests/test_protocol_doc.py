"""docs/PROTOCOL.md and the code describe the same messages, codes and limits."""

from __future__ import annotations

import re
from pathlib import Path

from core import MAX_FRAME
from names import MAX_NAME
from room import (CLOSE_BROWSER_ONLY, CLOSE_GOING_AWAY, CLOSE_POLICY, CLOSE_REPLACED, CLOSE_SERVER_ERROR, CLOSE_TOO_BIG,
                  CLOSE_UNAUTHORIZED, CLOSE_UNSUPPORTED, ERROR_MESSAGES, MAX_CHAT, Room)

DOC = (Path(__file__).resolve().parent.parent / "docs" / "PROTOCOL.md").read_text()
SERVER_TYPES = {"hello", "roster", "full", "offer", "answer", "ice", "verify", "chat", "error", "browser-only", "echo",
                "echo-stop"}


def sections(heading: str) -> set[str]:
    """Message names listed as ### entries under a ## heading."""
    body = DOC.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for title in re.findall(r"^### (.+)$", body, re.M):
        names.update(part.strip() for part in re.sub(r"\(.*?\)", "", title).split(","))
    return names


def test_protocol_doc_lists_every_client_message_type() -> None:
    assert sections("Client → server") | sections("Sound check") == set(Room(2).message_types)


def test_protocol_doc_lists_every_server_message_type() -> None:
    assert sections("Server → client") == SERVER_TYPES


def test_protocol_doc_lists_every_error_code() -> None:
    documented = set(re.findall(r"^\| `([a-z-]+)` \|", DOC, re.M)) - {"secret-call.v1"}
    assert set(ERROR_MESSAGES) <= documented
    assert documented - set(ERROR_MESSAGES) <= {"auth.<token>"}


def test_protocol_doc_states_the_limits_and_close_codes() -> None:
    for code in (CLOSE_BROWSER_ONLY, CLOSE_POLICY, CLOSE_TOO_BIG, CLOSE_UNAUTHORIZED, CLOSE_UNSUPPORTED, CLOSE_REPLACED,
                 CLOSE_GOING_AWAY, CLOSE_SERVER_ERROR):
        assert f"| {code} |" in DOC
    assert f"{MAX_FRAME // 1024} KiB" in DOC and f"1–{MAX_NAME}" in DOC and f"1–{MAX_CHAT}" in DOC
