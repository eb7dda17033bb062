"""Names cannot impersonate: invisible characters are refused, and no two participants share a name."""

from __future__ import annotations

import json
from typing import Any

import pytest

import room as room_module
from room import ERROR_MESSAGES, Room, UserError, clean_name
from fakes import FakeClock, FakePeer, connect
from names import name_key

# Each looks like a name someone else could have, or like no name at all.
INVISIBLE = [
    "\u200bAlice", "Al\u200bice", "Alice\u2060", "\u2060", "\u3164", "\u3164\u3164", "\u2800", "A\u2800B",
    "\u115f", "\u1160Bob", "\uffa0", "Al\ufeffice", "\u00adAlice", "Al\u200cice", "Alice\u200d", "A\u202eb",
    "A\u2066b\u2069", "\u200fBob", "Bob\u061c", "A\ue000", "A\U000f0000", "A\u0378", "A\U000e0041", "A\u034fB",
    "\U0001d159", "\U0001d173x", "\u0301\u0301", "a\u2028b", "a\u0007b",
]

WELCOME = ["Борис", "李小龙", "Zoë", "O'Brien <b>", "👩\u200d💻 Anna", "🏳\ufe0f\u200d🌈", "❤\ufe0f Ира", "👍🏽",
           "x" * 32, "😀" * 32, "Jean  Luc", "Ali\u00a0ce", "٣٤", "...", "$"]


def send(room: Room, member_id: str, message: dict[str, Any]) -> None:
    room.receive(member_id, json.dumps(message))


def joined(room: Room, name: str) -> tuple[str, FakePeer]:
    member_id, peer = connect(room)
    send(room, member_id, {"type": "name", "name": name})
    return member_id, peer


def names(room: Room) -> list[str]:
    return [m.name or "" for m in room.participants]


@pytest.mark.parametrize("name", INVISIBLE)
def test_names_with_invisible_or_format_characters_are_refused(name: str) -> None:
    room = Room(3)
    member_id, peer = connect(room)
    send(room, member_id, {"type": "name", "name": name})
    assert peer.last["type"] == "error" and peer.last["code"] == "bad-name"
    assert room.participants == []


@pytest.mark.parametrize("name", WELCOME)
def test_names_in_any_script_and_emoji_sequences_are_welcome(name: str) -> None:
    room = Room(2)
    member_id, peer = joined(room, f" {name}\u3000")
    assert peer.last["type"] == "roster", peer.last
    assert names(room) == [name]


def test_names_the_joiner_only_counts_inside_an_emoji_sequence() -> None:
    for name in ("👍🏽\u200d", "\u200d👍", "a\u200d💻", "💻\u200da"):
        with pytest.raises(UserError):
            clean_name(name)


@pytest.mark.parametrize("first,second", [
    ("Alice", "alice"), ("Alice", "ALICE"), ("Alice", "Ａｌｉｃｅ"), ("Alice", "Alice\ufe0f"), ("Alice", "𝐀lice"),
    ("Jeff", "Jeﬀ"), ("Straße", "STRASSE"), ("Борис", "БОРИС"), ("Al ice", "Al  ice"), ("Al ice", "Al\u00a0ice"),
    ("Kelvin", "\u212aelvin"), ("Ǆ", "ǆ"),
])
def test_names_equal_after_nfkc_and_case_folding_are_taken(first: str, second: str) -> None:
    room = Room(3)
    a, _ = joined(room, first)
    b, peer_b = joined(room, second)
    assert peer_b.last == {"type": "error", "code": "name-taken", "message": ERROR_MESSAGES["name-taken"]}
    assert names(room) == [first] and not room.members[b].joined
    send(room, b, {"type": "name", "name": "Someone else"})
    assert names(room) == [first, "Someone else"]


def test_names_different_names_in_one_script_are_not_taken() -> None:
    room = Room(4)
    for name in ("Борис", "Боря", "Bob", "Bób"):
        joined(room, name)
    assert names(room) == ["Борис", "Боря", "Bob", "Bób"]
    assert len({name_key(name) for name in names(room)}) == 4


def test_names_rename_to_a_taken_name_is_refused_and_keeps_the_old_one() -> None:
    room = Room(3)
    alice, _ = joined(room, "Alice")
    eve, peer_eve = joined(room, "Eve")
    before = len(peer_eve.of_type("roster"))
    send(room, eve, {"type": "name", "name": "ALICE"})
    assert peer_eve.last["code"] == "name-taken"
    assert names(room) == ["Alice", "Eve"] and len(peer_eve.of_type("roster")) == before
    send(room, alice, {"type": "name", "name": "alice"})
    assert names(room) == ["alice", "Eve"], "another spelling of one's own name is fine"


def test_names_a_dropped_participant_keeps_its_name_until_its_seat_expires() -> None:
    clock = FakeClock()
    room = Room(3, clock=clock, grace=30)
    alice, peer_alice = joined(room, "Alice")
    room.drop(alice, peer_alice)
    impostor, peer_impostor = joined(room, "Alice")
    assert peer_impostor.last["code"] == "name-taken"
    clock.advance(30)
    room.expire()
    send(room, impostor, {"type": "name", "name": "Alice"})
    assert names(room) == ["Alice"] and room.participants[0].id == impostor


def test_names_no_two_members_share_the_tag_of_four_hex_digits(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn = iter(["abcd0001", "abcd0002", "abcdffff", "0123abcd"])
    monkeypatch.setattr(room_module.secrets, "token_hex", lambda n: next(drawn))
    room = Room(2)
    first, _ = connect(room)
    second, _ = connect(room)
    assert (first, second) == ("abcd0001", "0123abcd")


def test_names_key_is_what_the_protocol_doc_says() -> None:
    assert name_key("  Ａｌｉ\u00a0\u00a0ＣＥ\ufe0f ") == "ali ce"
    assert name_key("👩\u200d💻") == name_key("👩💻")
