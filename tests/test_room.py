"""Unit tests of the Room with fake peers: no sockets, no sleeps."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from room import CLOSE_POLICY, MAX_JSON_DEPTH, Room, RateLimit, clean_name, decode_json, UserError
from fakes import SDP, FakeClock, FakePeer, connect


def send(room: Room, member_id: str, message: Any) -> None:
    room.receive(member_id, message if isinstance(message, str) else json.dumps(message))


def joined(room: Room, name: str) -> tuple[str, FakePeer]:
    member_id, peer = connect(room)
    send(room, member_id, {"type": "name", "name": name})
    return member_id, peer


def test_room_hello_describes_the_call() -> None:
    room = Room(3, [{"urls": "stun:stun.example.org"}])
    alice, _ = joined(room, "Alice")
    member_id, peer = connect(room)
    hello = peer.sent[0]
    assert len(hello.pop("resume")) >= 22
    assert hello == {"type": "hello", "version": 1, "id": member_id, "capacity": 3, "resumed": False,
                     "roster": [{"id": alice, "name": "Alice", "reconnecting": False}],
                     "iceServers": [{"urls": "stun:stun.example.org"}]}


def test_room_join_broadcasts_roster_to_everyone_including_lobby() -> None:
    room = Room(2)
    lobby_id, lobby = connect(room)
    alice, alice_peer = joined(room, "  Alice  ")
    expected = {"type": "roster", "roster": [{"id": alice, "name": "Alice", "reconnecting": False}]}
    assert lobby.last == expected
    assert alice_peer.last == expected


def test_room_roster_is_in_join_order_and_rename_keeps_place() -> None:
    room = Room(3)
    a, _ = joined(room, "A")
    b, peer_b = joined(room, "B")
    send(room, a, {"type": "name", "name": "A2"})
    assert peer_b.last["roster"] == [{"id": a, "name": "A2", "reconnecting": False}, {"id": b, "name": "B", "reconnecting": False}]


def test_room_full_keeps_socket_in_lobby() -> None:
    room = Room(2)
    joined(room, "A")
    joined(room, "B")
    c, peer_c = joined(room, "C")
    assert peer_c.last == {"type": "full", "capacity": 2}
    assert [m.id for m in room.participants if m.id == c] == []
    assert len(room.participants) == 2


def test_room_ten_joins_into_capacity_two_admit_exactly_two() -> None:
    room = Room(2)
    peers = [joined(room, f"P{i}") for i in range(10)]
    assert len(room.participants) == 2
    assert sum(1 for _, peer in peers if peer.of_type("full")) == 8


@pytest.mark.parametrize("name, code", [("", "bad-name"), ("   ", "bad-name"), ("x" * 33, "bad-name"),
                                        ("a\u0000b", "bad-name"), ("bad\nname", "bad-name"),
                                        ("evil\u202ename", "bad-name"), (42, "bad-message"), (None, "bad-message")])
def test_room_bad_names_are_refused(name: Any, code: str) -> None:
    """A string that breaks the name rule is a bad name; anything else is not a name message at all."""
    room = Room(2)
    member_id, peer = connect(room)
    send(room, member_id, {"type": "name", "name": name})
    assert peer.last["type"] == "error"
    assert peer.last["code"] == code
    assert room.participants == []


@pytest.mark.parametrize("name", ["Борис", "李小龙", "😀 Emoji", "x" * 32, "O'Brien <b>"])
def test_room_names_in_any_script_are_accepted(name: str) -> None:
    assert clean_name(f" {name} ") == name


def test_room_leave_returns_to_lobby_and_frees_seat() -> None:
    room = Room(2)
    a, peer_a = joined(room, "A")
    b, _ = joined(room, "B")
    send(room, a, {"type": "leave"})
    assert peer_a.last == {"type": "roster", "roster": [{"id": b, "name": "B", "reconnecting": False}]}
    c, peer_c = joined(room, "C")
    assert peer_c.last["type"] == "roster"
    send(room, a, {"type": "leave"})
    assert peer_a.last["code"] == "not-joined"


def test_room_disconnect_leaves_at_once_and_rebroadcasts() -> None:
    room = Room(2)
    a, _ = joined(room, "A")
    b, peer_b = joined(room, "B")
    room.disconnect(a)
    assert peer_b.last == {"type": "roster", "roster": [{"id": b, "name": "B", "reconnecting": False}]}
    room.disconnect(a)
    assert len(room.members) == 1


@pytest.mark.parametrize("kind,payload", [("offer", {"sdp": SDP}), ("answer", {"sdp": SDP}),
                                          ("ice", {"candidate": {"candidate": "candidate:1 1 udp 1 1.2.3.4 5 typ host",
                                                                 "sdpMid": "0", "sdpMLineIndex": 0}}),
                                          ("ice", {"candidate": None})])
def test_room_relays_signaling_with_server_set_from(kind: str, payload: dict[str, Any]) -> None:
    room = Room(2)
    a, _ = joined(room, "A")
    b, peer_b = joined(room, "B")
    send(room, a, {"type": kind, "to": b, "from": "spoofed", **payload})
    assert peer_b.last == {"type": kind, "from": a, "to": b, **payload}
    assert room.messages_relayed == 1


def test_room_ice_keeps_only_known_candidate_fields() -> None:
    room = Room(2)
    a, _ = joined(room, "A")
    b, peer_b = joined(room, "B")
    send(room, a, {"type": "ice", "to": b, "candidate": {"candidate": "c", "evil": "x" * 100}})
    assert peer_b.last["candidate"] == {"candidate": "c"}


def test_room_lobby_never_sends_or_receives_offers() -> None:
    room = Room(3)
    a, peer_a = joined(room, "A")
    lobby_id, lobby = connect(room)
    send(room, lobby_id, {"type": "offer", "to": a, "sdp": SDP})
    assert lobby.last["code"] == "not-joined"
    assert not peer_a.of_type("offer")
    send(room, a, {"type": "offer", "to": lobby_id, "sdp": SDP})
    assert peer_a.last["code"] == "unknown-peer"
    assert not lobby.of_type("offer")


@pytest.mark.parametrize("message,code", [
    ("{not json", "bad-json"),
    ("NaN", "bad-json"),
    ("[" * 5000 + "]" * 5000, "bad-json"),
    ("[1, 2]", "bad-message"),
    ('{"type": 5}', "bad-message"),
    ('{"no": "type"}', "bad-message"),
    ('{"type": "dance"}', "unknown-type"),
    ('{"type": "offer", "to": 5, "sdp": "x"}', "bad-message"),
    ('{"type": "offer", "to": "nobody", "sdp": 5}', "bad-message"),
    (json.dumps({"type": "offer", "to": "nobody", "sdp": SDP}), "unknown-peer"),
    ('{"type": "ice", "to": "nobody"}', "bad-message"),
    ('{"type": "ice", "to": "nobody", "candidate": "str"}', "bad-message"),
    ('{"type": "ice", "to": "nobody", "candidate": {"candidate": "c", "sdpMLineIndex": "0"}}', "bad-message"),
    ('{"type": "chat", "text": 5}', "bad-message"),
    ('{"type": "chat", "text": "hi", "mentions": "x"}', "bad-message"),
    ('{"type": "chat", "text": "   "}', "bad-message"),
    ('{"type": "chat", "text": "' + "x" * 2001 + '"}', "too-long"),
    ('{"type": "name"}', "bad-message"),
])
def test_room_bad_input_gets_an_error_and_changes_nothing(message: str, code: str) -> None:
    room = Room(2)
    a, peer_a = joined(room, "A")
    b, peer_b = joined(room, "B")
    before_b = list(peer_b.sent)
    send(room, a, message)
    assert peer_a.last["type"] == "error"
    assert peer_a.last["code"] == code
    assert isinstance(peer_a.last["message"], str) and peer_a.last["message"]
    assert peer_b.sent == before_b
    assert peer_a.closed is None
    send(room, a, {"type": "chat", "text": "still here"})
    assert peer_b.last["text"] == "still here"


def test_room_chat_goes_to_participants_only_with_valid_mentions() -> None:
    room = Room(3, wall_clock=lambda: 1700000000.123)
    a, peer_a = joined(room, "A")
    b, peer_b = joined(room, "Борис")
    lobby_id, lobby = connect(room)
    send(room, a, {"type": "chat", "text": "  hi @Борис  ", "mentions": [b, lobby_id, "ghost", b]})
    expected = {"type": "chat", "from": a, "name": "A", "text": "hi @Борис", "mentions": [b],
                "ts": 1700000000123}
    assert peer_a.last == expected
    assert peer_b.last == expected
    assert not lobby.of_type("chat")
    send(room, lobby_id, {"type": "chat", "text": "let me in"})
    assert lobby.last["code"] == "not-joined"


def test_room_chat_accepts_exactly_2000_characters() -> None:
    room = Room(2)
    a, peer_a = joined(room, "A")
    send(room, a, {"type": "chat", "text": "я" * 2000})
    assert peer_a.last["type"] == "chat"


def test_room_rate_limit_lets_a_join_into_a_full_call_through() -> None:
    """A newcomer into a capacity-12 call: 11 offers and 15 candidates each way, in one burst."""
    clock = FakeClock()
    room = Room(12, clock=clock)
    others = [joined(room, f"P{i}") for i in range(11)]
    newcomer, peer = joined(room, "New")
    for other_id, _ in others:
        send(room, newcomer, {"type": "offer", "to": other_id, "sdp": SDP})
        for n in range(15):
            send(room, newcomer, {"type": "ice", "to": other_id, "candidate": {"candidate": f"c{n}"}})
        send(room, newcomer, {"type": "ice", "to": other_id, "candidate": None})
    assert not [m for m in peer.of_type("error")]
    assert all(len(p.of_type("ice")) == 16 for _, p in others)


def test_room_rate_limit_answers_excess_then_closes_a_flooder() -> None:
    clock = FakeClock()
    room = Room(2, clock=clock, rate_limit=RateLimit(rate=10, burst=20, excess_burst=5, excess_rate=1))
    a, peer_a = joined(room, "A")
    b, peer_b = joined(room, "B")
    for n in range(19):
        send(room, a, {"type": "chat", "text": f"m{n}"})
    assert len(peer_b.of_type("chat")) == 19
    for _ in range(5):
        send(room, a, {"type": "chat", "text": "flood"})
    assert [m["code"] for m in peer_a.of_type("error")] == ["rate-limited"] * 5
    assert peer_a.closed is None
    send(room, a, {"type": "chat", "text": "flood"})
    assert peer_a.closed == (CLOSE_POLICY, "flooding")
    assert peer_b.closed is None


def test_room_rate_limit_refills_over_time() -> None:
    clock = FakeClock()
    room = Room(2, clock=clock, rate_limit=RateLimit(rate=10, burst=10, excess_burst=5, excess_rate=1))
    a, peer_a = joined(room, "A")
    for _ in range(12):
        send(room, a, {"type": "chat", "text": "x"})
    assert len(peer_a.of_type("error")) == 3
    clock.advance(1.0)
    send(room, a, {"type": "chat", "text": "after a pause"})
    assert peer_a.last["type"] == "chat"


def test_room_rate_limit_zero_turns_it_off() -> None:
    room = Room(2, rate_limit=RateLimit.per_second(0))
    a, peer_a = joined(room, "A")
    for _ in range(5000):
        send(room, a, {"type": "chat", "text": "x"})
    assert not peer_a.of_type("error")


def test_room_user_error_has_a_readable_message() -> None:
    error = UserError("not-joined")
    assert error.code == "not-joined" and "Join" in error.detail


# -- drops, grace and resume ----------------------------------------------------------------

def test_room_drop_keeps_the_seat_and_shows_reconnecting() -> None:
    clock = FakeClock()
    room = Room(2, clock=clock, grace=30)
    a, peer_a = joined(room, "A")
    b, peer_b = joined(room, "B")
    room.drop(a, peer_a)
    assert peer_b.last["roster"] == [{"id": a, "name": "A", "reconnecting": True},
                                     {"id": b, "name": "B", "reconnecting": False}]
    c, peer_c = joined(room, "C")
    assert peer_c.last == {"type": "full", "capacity": 2}
    send(room, b, {"type": "offer", "to": a, "sdp": SDP})
    assert peer_b.last["type"] == "roster"


def dropped_for(seconds: float) -> tuple[Room, str, str, str, FakePeer]:
    """A 1x1 call (grace 30 s) whose participant A dropped `seconds` ago: room, a, A's secret, b, B's peer."""
    clock = FakeClock()
    room = Room(2, clock=clock, grace=30)
    a, peer_a = joined(room, "A")
    b, peer_b = joined(room, "B")
    secret = peer_a.sent[0]["resume"]
    room.drop(a, peer_a)
    clock.advance(seconds)
    room.expire()
    return room, a, secret, b, peer_b


def test_room_resume_within_grace_takes_back_id_and_seat() -> None:
    room, a, secret, b, peer_b = dropped_for(29)
    new_peer = FakePeer()
    assert room.connect(new_peer, (a, secret)) == a
    assert new_peer.sent[0]["resumed"] is True and new_peer.sent[0]["id"] == a
    assert peer_b.last["roster"][0] == {"id": a, "name": "A", "reconnecting": False}
    send(room, b, {"type": "offer", "to": a, "sdp": SDP})
    assert new_peer.last["type"] == "offer"


def test_room_grace_expiry_removes_the_participant() -> None:
    room, a, secret, b, peer_b = dropped_for(30)
    assert peer_b.last["roster"] == [{"id": b, "name": "B", "reconnecting": False}]
    late = FakePeer()
    assert room.connect(late, (a, secret)) != a
    assert late.sent[0]["resumed"] is False


def test_room_resume_with_a_wrong_secret_is_a_new_member() -> None:
    room = Room(2)
    a, peer_a = joined(room, "A")
    room.drop(a, peer_a)
    intruder = FakePeer()
    assert room.connect(intruder, (a, "guessed")) != a
    assert room.members[a].reconnecting


def test_room_resume_replaces_a_live_older_socket() -> None:
    room = Room(2)
    a, peer_a = joined(room, "A")
    newer = FakePeer()
    assert room.connect(newer, (a, peer_a.sent[0]["resume"])) == a
    assert peer_a.closed is not None and peer_a.closed[0] == 4409
    room.disconnect(a, peer_a)
    assert a in room.members


def test_room_lobby_drop_is_forgotten_at_once() -> None:
    room = Room(2)
    lobby_id, lobby = connect(room)
    room.drop(lobby_id, lobby)
    assert lobby_id not in room.members


@pytest.mark.parametrize("frame", ['{"type":"chat","text":"\\ud800"}', '{"type":"name","name":"a\\udfffb"}',
                                   '{"type":"offer","to":"x","sdp":"\\udc00"}', '{"type":"chat","text":"ok","\\ud800":1}'])
def test_room_lone_surrogates_are_refused_before_anyone_gets_them(frame: str) -> None:
    room = Room(2)
    a, peer_a = joined(room, "A")
    b, peer_b = joined(room, "B")
    send(room, a, frame.replace('"x"', f'"{b}"'))
    assert peer_a.last["code"] == "bad-message"
    assert not peer_b.of_type("chat") and not peer_b.of_type("offer")
    send(room, a, '{"type":"chat","text":"\\ud83d\\ude00 pair is fine"}')
    assert peer_b.last["text"] == "😀 pair is fine"


def test_room_relays_verify_steps_and_refuses_bad_ones() -> None:
    room = Room(2)
    a, peer_a = joined(room, "A")
    b, peer_b = joined(room, "B")
    send(room, a, {"type": "verify", "to": b, "step": "commit", "value": "ab" * 32, "extra": 1})
    assert peer_b.last == {"type": "verify", "from": a, "to": b, "step": "commit", "value": "ab" * 32}
    for bad, code in (({"step": "steal", "value": "x"}, "bad-message"), ({"step": "reveal", "value": 5}, "bad-message"),
                      ({"step": "reveal", "value": "x" * 129}, "too-long")):
        send(room, a, {"type": "verify", "to": b, **bad})
        assert peer_a.last["code"] == code


# -- what the room refuses to pass on ---------------------------------------------------------

SDP_FIXTURES = sorted((Path(__file__).parent / "fixtures" / "sdp").glob("*.sdp"))


def test_room_sdp_fixtures_cover_every_agent_both_ways() -> None:
    assert {path.stem for path in SDP_FIXTURES} == {f"{agent}-{kind}" for agent in ("chromium", "firefox", "aiortc")
                                                    for kind in ("offer", "answer")}


@pytest.mark.parametrize("path", SDP_FIXTURES, ids=lambda path: path.stem)
def test_room_real_sdp_from_browsers_and_aiortc_passes(path: Path) -> None:
    sdp = path.read_bytes().decode()
    room = Room(2)
    a, _ = joined(room, "A")
    b, peer_b = joined(room, "B")
    kind = path.stem.split("-")[1]
    send(room, a, {"type": kind, "to": b, "sdp": sdp})
    assert peer_b.last == {"type": kind, "from": a, "to": b, "sdp": sdp}
    trickled = "".join(line for line in sdp.splitlines(keepends=True) if not line.startswith("a=candidate"))
    send(room, a, {"type": kind, "to": b, "sdp": trickled})
    assert peer_b.last["sdp"] == trickled


@pytest.mark.parametrize("sdp", [
    "v=0\r\nx", "v=0", "", "x", " v=0\r\nm=audio 9 RTP 0\r\na=fingerprint:sha-256 AB\r\n",
    "v=00\r\nm=audio 9 RTP 0\r\na=fingerprint:sha-256 AB\r\n", "v=0\r\na=fingerprint:sha-256 AB\r\n",
    "v=0\r\nm=audio 9 RTP 0\r\n", "v=0\r\nx m=audio\r\nx a=fingerprint:sha-256 AB\r\n",
    "m=audio 9 RTP 0\r\nv=0\r\na=fingerprint:sha-256 AB\r\n",
])
@pytest.mark.parametrize("kind", ["offer", "answer", "echo"])
def test_room_sdp_that_is_no_session_description_reaches_nobody(sdp: str, kind: str) -> None:
    echo = FakeEcho()
    room = Room(2, echo=echo)
    a, peer_a = joined(room, "A")
    b, peer_b = joined(room, "B")
    before = list(peer_b.sent)
    send(room, a, {"type": kind, "to": b, "sdp": sdp})
    assert peer_a.last["type"] == "error" and peer_a.last["code"] == "bad-message"
    assert "fingerprint" in peer_a.last["message"]
    assert peer_b.sent == before and echo.offers == []


def decodable_depth() -> int:
    """The deepest nesting the room's JSON decoder still decodes (close to the recursion limit)."""
    low, high = 1, 100_000
    while low < high:
        middle = (low + high + 1) // 2
        try:
            decode_json("[" * middle + "]" * middle)
            low = middle
        except RecursionError:
            high = middle - 1
    return low


@pytest.mark.parametrize("depth", ["limit", "limit-10", 9, 100])
@pytest.mark.parametrize("escaped", [True, False])
def test_room_json_nested_near_the_decoder_limit_is_bad_json_not_a_traceback(depth: Any, escaped: bool) -> None:
    levels = {"limit": decodable_depth() - 1, "limit-10": decodable_depth() - 11}.get(depth, depth)
    room = Room(2)
    a, peer_a = joined(room, "A")
    b, peer_b = joined(room, "B")
    leaf = '"caf\\u00e9"' if escaped else '"cafe"'
    send(room, a, '{"type":"chat","text":"hi","x":' + "[" * levels + leaf + "]" * levels + "}")
    assert peer_a.last["type"] == "error" and peer_a.last["code"] == "bad-json"
    assert not peer_b.of_type("chat")
    send(room, a, {"type": "chat", "text": "still here"})
    assert peer_b.last["text"] == "still here"


def test_room_json_nested_as_deep_as_a_message_may_is_fine() -> None:
    room = Room(2)
    a, peer_a = joined(room, "A")
    send(room, a, '{"type":"chat","text":"caf\\u00e9","x":' + "[" * (MAX_JSON_DEPTH - 1) + "1" +
         "]" * (MAX_JSON_DEPTH - 1) + "}")
    assert peer_a.last["type"] == "chat" and peer_a.last["text"] == "café"


# -- the sound check's pace ---------------------------------------------------------------------

class FakeEcho:
    """Records the sound-check offers the room lets through, with the client's address."""

    def __init__(self) -> None:
        self.offers: list[tuple[str, str | None]] = []

    def offer(self, member_id: str, sdp: str, reply: Any, *, address: str | None = None) -> None:
        self.offers.append((member_id, address))

    def stop(self, member_id: str) -> None:
        pass


def echo_room(interval: float = 1.0) -> tuple[Room, FakeEcho, FakeClock]:
    clock, echo = FakeClock(), FakeEcho()
    return Room(2, clock=clock, echo=echo, echo_interval=interval), echo, clock


def test_room_sound_check_starts_once_a_second_per_socket() -> None:
    room, echo, clock = echo_room()
    peer = FakePeer()
    member_id = room.connect(peer, address="203.0.113.5")
    for _ in range(3):
        send(room, member_id, {"type": "echo", "sdp": SDP})
    assert echo.offers == [(member_id, "203.0.113.5")]
    assert [m["code"] for m in peer.of_type("error")] == ["rate-limited"] * 2
    clock.advance(0.99)
    send(room, member_id, {"type": "echo", "sdp": SDP})
    assert len(echo.offers) == 1
    clock.advance(0.02)
    send(room, member_id, {"type": "echo", "sdp": SDP})
    assert len(echo.offers) == 2


def test_room_sound_check_starts_once_a_second_per_address() -> None:
    room, echo, clock = echo_room()
    ids = [room.connect(FakePeer(), address=address) for address in ("198.51.100.7", "198.51.100.7", "192.0.2.8")]
    for member_id in ids:
        send(room, member_id, {"type": "echo", "sdp": SDP})
    assert [member_id for member_id, _ in echo.offers] == [ids[0], ids[2]]
    assert room.members[ids[1]].peer.last["code"] == "rate-limited"  # type: ignore[union-attr]
    clock.advance(1.0)
    send(room, ids[1], {"type": "echo", "sdp": SDP})
    assert echo.offers[-1] == (ids[1], "198.51.100.7")


def test_room_sound_check_pace_zero_turns_it_off_and_resume_updates_the_address() -> None:
    room, echo, _ = echo_room(interval=0)
    member_id = room.connect(FakePeer(), address="192.0.2.1")
    for _ in range(5):
        send(room, member_id, {"type": "echo", "sdp": SDP})
    assert len(echo.offers) == 5
    secret = room.members[member_id].secret
    assert room.connect(FakePeer(), (member_id, secret), address="192.0.2.99") == member_id
    send(room, member_id, {"type": "echo", "sdp": SDP})
    assert echo.offers[-1] == (member_id, "192.0.2.99")


def test_room_module_imports_no_aiohttp() -> None:
    """The room is pure logic: importing it (in a fresh interpreter) loads no aiohttp."""
    import subprocess
    import sys
    code = "import sys, room; print(sorted(m for m in sys.modules if m.split('.')[0] == 'aiohttp'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent,
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_room_error_carries_the_id_of_the_message_it_refuses() -> None:
    room = Room(2)
    lobby_id, lobby = connect(room)
    send(room, lobby_id, {"type": "chat", "text": "let me in", "id": "c1"})
    assert lobby.last == {"type": "error", "code": "not-joined", "message": "Join the call first.", "id": "c1"}
    send(room, lobby_id, {"type": "chat", "text": "again"})
    assert "id" not in lobby.last, "no id, none echoed"
    a, peer_a = joined(room, "A")
    send(room, a, {"type": "chat", "text": "x" * 2001, "id": "c-2_"})
    assert (peer_a.last["code"], peer_a.last["id"]) == ("too-long", "c-2_")
    send(room, a, {"type": "nope", "id": "k9"})
    assert (peer_a.last["code"], peer_a.last["id"]) == ("unknown-type", "k9")


@pytest.mark.parametrize("bad_id", [7, "", "x" * 33, "a b", "<b>", ["c1"]])
def test_room_a_malformed_id_is_a_bad_message(bad_id: Any) -> None:
    room = Room(2)
    a, peer = joined(room, "A")
    send(room, a, {"type": "chat", "text": "hi", "id": bad_id})
    assert peer.last["code"] == "bad-message" and "id" not in peer.last
    assert not peer.of_type("chat")


def test_room_rate_limited_error_names_the_dropped_message() -> None:
    clock = FakeClock()
    room = Room(2, clock=clock, rate_limit=RateLimit(rate=1, burst=1, excess_burst=5, excess_rate=1))
    a, peer = joined(room, "A")
    send(room, a, {"type": "chat", "text": "one", "id": "m1"})
    send(room, a, {"type": "chat", "text": "two", "id": "m2"})
    assert (peer.last["code"], peer.last["id"]) == ("rate-limited", "m2")
