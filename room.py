"""The room: who is in the call, what each may send, and where it goes (protocol v1).

Pure logic with no aiohttp: membership and capacity, message validation, routing, rate buckets,
resume and grace, the outgoing encoder and the error codes. `core.py` adapts it to WebSockets.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any, Callable, Protocol

from names import name_key, name_problem

logger = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
SUBPROTOCOL = "secret-call.v1"  # the WebSocket subprotocol of this version (js/signaling.js has it too)
PROBE_AGENT = "SecretCallProbe/"  # the User-Agent prefix of the Python probe peer (probe.py)
# The pages show this many leading hex digits of an id as a participant's tag.
TAG_LENGTH = 4
MAX_CHAT = 2000
MAX_SDP = 60_000
MAX_MENTIONS = 50
VERIFY_STEPS = ("commit", "reveal")
MAX_VERIFY_VALUE = 128
# No message nests deeper than an ice candidate in its envelope: a deeper one is an attack.
MAX_JSON_DEPTH = 8

# Close codes (documented in docs/PROTOCOL.md).
CLOSE_GOING_AWAY = 1001
CLOSE_SERVER_ERROR = 1011  # the server could not send to a socket (core.py; a bug, logged)
CLOSE_UNSUPPORTED = 1003
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_BROWSER_ONLY = 4400
CLOSE_UNAUTHORIZED = 4401
CLOSE_REPLACED = 4409

ERROR_MESSAGES = {
    "bad-json": "The message is not valid JSON.",
    "bad-message": "A field of the message is missing or has the wrong type.",
    "unknown-type": "The message type is unknown.",
    "bad-name": "A name must be 1 to 32 characters, with something visible and no control, format or "
                "invisible characters.",
    "name-taken": "Someone in the call already uses this name (or one that looks the same); choose another.",
    "not-joined": "Join the call first.",
    "unknown-peer": "That participant is not in the call.",
    "too-long": "The message is too long.",
    "rate-limited": "Too many messages; slow down.",
    "unauthorized": "The room token is wrong.",
    "unavailable": "The sound check is not available on this server.",
}


class Peer(Protocol):
    """One connected socket as the room sees it."""

    def send(self, message: dict[str, Any]) -> None: ...

    def close(self, code: int, reason: str) -> None: ...


class EchoHandler(Protocol):
    """The sound check, as the room sees it (echo.py implements it with aiortc).

    `address` is the client's address (None when unknown): it decides which candidates the
    echo may use.
    """

    def offer(self, member_id: str, sdp: str, reply: Callable[[dict[str, Any]], None], *,
              address: str | None = None) -> None: ...

    def stop(self, member_id: str) -> None: ...


class UserError(Exception):
    """A message the room refuses; the sender gets an error reply and stays connected."""

    def __init__(self, code: str, detail: str | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.detail = detail or ERROR_MESSAGES[code]


class TokenBucket:
    """A token bucket: `rate` tokens per second, holding at most `burst`."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.clock = clock
        self.stamp = clock()

    def take(self) -> bool:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass(frozen=True)
class RateLimit:
    """Per-socket limits: a sustained rate with a burst, and how much excess is tolerated."""

    rate: float = 50.0
    burst: float = 400.0
    excess_burst: float = 50.0
    excess_rate: float = 5.0

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    @classmethod
    def per_second(cls, rate: float) -> "RateLimit":
        return cls(rate=rate, burst=max(400.0, rate * 8))


@dataclass
class Member:
    """A connection: in the lobby while `name` is None, a participant otherwise.

    A participant whose socket dropped keeps its seat for the grace period with `peer` None,
    so that it can resume with its id and secret.
    """

    id: str
    secret: str
    peer: Peer | None
    limiter: TokenBucket | None
    patience: TokenBucket | None
    name: str | None = None
    joined_at: int = 0
    dropped_at: float | None = None
    address: str | None = None
    echo_at: float | None = None

    @property
    def joined(self) -> bool:
        return self.name is not None

    @property
    def reconnecting(self) -> bool:
        return self.peer is None

    def send(self, message: dict[str, Any]) -> None:
        if self.peer is not None:
            self.peer.send(message)


def clean_name(value: Any) -> str:
    """Trim and check a display name (names.py has the rules); raise bad-name."""
    if not isinstance(value, str):
        raise UserError("bad-message", "name must be a string.")
    name = value.strip()
    if name_problem(name) is not None:
        raise UserError("bad-name")
    return name


# A client message's optional `id`, echoed in the error that refuses it (docs/PROTOCOL.md).
REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
# Where a rate-limited frame is not parsed (that is the point of the limit), its id is looked for plainly.
_PEEK_ID = re.compile(r'"id"\s*:\s*"([A-Za-z0-9_-]{1,32})"')


def peek_request_id(text: str) -> str | None:
    """The `id` of a frame that is not decoded, if its text plainly has one."""
    match = _PEEK_ID.search(text)
    return match.group(1) if match else None


_SDP_MEDIA = re.compile(r"^m=", re.M)
_SDP_FINGERPRINT = re.compile(r"^a=fingerprint:", re.M)


def checked_sdp(message: dict[str, Any]) -> str:
    """The message's SDP, if it is plausibly one (a version line, a media line, a DTLS fingerprint).

    Every browser and aiortc sends all three (tests/fixtures/sdp/ holds real ones), so junk is
    refused here and never reaches a page, which could only fail on it. Raise bad-message or too-long.
    """
    sdp = message.get("sdp")
    if not isinstance(sdp, str):
        raise UserError("bad-message", "sdp must be a string.")
    if len(sdp) > MAX_SDP:
        raise UserError("too-long")
    if sdp[:4] not in ("v=0\r", "v=0\n") or not _SDP_MEDIA.search(sdp) or not _SDP_FINGERPRINT.search(sdp):
        raise UserError("bad-message", "sdp is not a session description: it needs v=0, an m= line and "
                                       "an a=fingerprint: line.")
    return sdp


def clean_candidate(value: Any) -> dict[str, Any] | None:
    """Keep only the RTCIceCandidateInit fields, each with its right type."""
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("candidate"), str):
        raise UserError("bad-message", "candidate must be an object with a string \"candidate\", or null.")
    if len(value["candidate"]) > 2048:
        raise UserError("too-long")
    clean: dict[str, Any] = {"candidate": value["candidate"]}
    for key, kinds in (("sdpMid", (str, type(None))), ("sdpMLineIndex", (int, type(None))),
                       ("usernameFragment", (str, type(None)))):
        if key in value:
            if not isinstance(value[key], kinds) or isinstance(value[key], bool):
                raise UserError("bad-message", f"candidate.{key} has the wrong type.")
            clean[key] = value[key]
    return clean


_SURROGATE = re.compile("[\ud800-\udfff]")


def json_problem(value: Any, *, surrogates: bool = True, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """Why a decoded JSON value cannot be handled: "depth" (nested deeper than `max_depth`) or
    "surrogate" (a string holds a lone surrogate, not encodable as UTF-8); None when it is fine.

    A loop with its own stack, not recursion: the decoder accepts nesting almost as deep as
    Python's recursion limit, and a recursive walk on top of it would overflow.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if surrogates and _SURROGATE.search(item) is not None:
                return "surrogate"
        elif isinstance(item, (dict, list)):
            if depth > max_depth:
                return "depth"
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return None



def _reject_constant(name: str) -> None:
    raise ValueError(name)


# One decoder and one encoder for every message: building them per call costs more than the parse.
decode_json = json.JSONDecoder(parse_constant=_reject_constant).decode
encode_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class Outgoing(dict[str, Any]):
    """A message for many sockets (a roster, a chat): encoded to JSON once, not once per socket."""

    @property
    def text(self) -> str:
        cached = self.__dict__.get("_text")
        if cached is None:
            cached = self.__dict__["_text"] = encode_json(self)
        return cached


class Room:
    """One call: who is connected, who is in the call, and what goes to whom."""

    def __init__(self, capacity: int, ice_servers: list[dict[str, Any]] | tuple[dict[str, Any], ...] = (),
                 *, rate_limit: RateLimit = RateLimit(), clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time, grace: float = 30.0,
                 echo: EchoHandler | None = None, echo_interval: float = 1.0,
                 ice_servers_for: Callable[[str], list[dict[str, Any]]] | None = None) -> None:
        self.capacity = capacity
        # Per-participant ICE servers (TURN credentials are minted for each one) win over the fixed list.
        self.ice_servers_for = ice_servers_for
        self.grace = grace
        self.echo = echo
        self.echo_interval = echo_interval
        self._echo_by_address: dict[str, float] = {}
        self.ice_servers = list(ice_servers)
        self.rate_limit = rate_limit
        self.clock = clock
        self.wall_clock = wall_clock
        self.members: dict[str, Member] = {}
        self.messages_relayed = 0
        # Told the number of participants whenever the roster goes out (hosting.py pushes it to the window).
        self.roster_watchers: list[Callable[[int], None]] = []
        self._join_counter = 0
        self._handlers: dict[str, Callable[[Member, dict[str, Any]], None]] = {
            "name": self._on_name,
            "leave": self._on_leave,
            "offer": self._on_description,
            "answer": self._on_description,
            "ice": self._on_ice,
            "verify": self._on_verify,
            "chat": self._on_chat,
            "echo": self._on_echo,
            "echo-stop": self._on_echo_stop,
        }

    @property
    def message_types(self) -> list[str]:
        """The client-to-server message types this room accepts."""
        return list(self._handlers)

    @property
    def participants(self) -> list[Member]:
        return sorted((m for m in self.members.values() if m.joined), key=lambda m: m.joined_at)

    def roster(self) -> list[dict[str, Any]]:
        return [{"id": m.id, "name": m.name or "", "reconnecting": m.reconnecting} for m in self.participants]

    # -- connection life cycle -------------------------------------------------

    def connect(self, peer: Peer, resume: tuple[str, str] | None = None, *, address: str | None = None) -> str:
        """Admit a socket and greet it; return its id.

        With `resume` (id, secret) of a member that is still known, the socket takes that
        member's place, id and seat back; any older socket of it is closed. `address` is the
        client's real address (behind a proxy or tunnel, the forwarded one), or None if unknown.
        """
        member = self._resumable(resume)
        resumed = member is not None
        if member is not None:
            old, member.peer, member.dropped_at = member.peer, peer, None
            if old is not None:
                old.close(CLOSE_REPLACED, "replaced by a newer connection")
            logger.info("peer %s resumed", member.id)
        else:
            member = self._new_member(peer)
        member.address = address
        peer.send({"type": "hello", "version": PROTOCOL_VERSION, "id": member.id, "resume": member.secret,
                   "resumed": resumed, "roster": self.roster(),
                   "capacity": self.capacity,
                   "iceServers": self.ice_servers_for(member.id) if self.ice_servers_for else self.ice_servers})
        if member.joined:
            self._broadcast_roster()
        return member.id

    def _resumable(self, resume: tuple[str, str] | None) -> Member | None:
        if resume is None:
            return None
        member = self.members.get(resume[0])
        if member is None or not hmac.compare_digest(member.secret.encode(), resume[1].encode()):
            return None
        return member

    def _new_member(self, peer: Peer) -> Member:
        # Pages show the first 4 hex digits next to each name (two "Alice"s are told apart by
        # them), so no two members share those.
        taken = {other[:TAG_LENGTH] for other in self.members}
        member_id = secrets.token_hex(4)
        while member_id[:TAG_LENGTH] in taken:
            member_id = secrets.token_hex(4)
        limiter = patience = None
        if self.rate_limit.enabled:
            limiter = TokenBucket(self.rate_limit.rate, self.rate_limit.burst, self.clock)
            patience = TokenBucket(self.rate_limit.excess_rate, self.rate_limit.excess_burst, self.clock)
        member = self.members[member_id] = Member(member_id, secrets.token_urlsafe(16), peer, limiter, patience)
        logger.info("peer %s connected (%d connections)", member_id, len(self.members))
        return member

    def disconnect(self, member_id: str, peer: Peer | None = None) -> None:
        """A clean close: forget the member at once; if it was in the call, everyone sees it leave.

        With `peer`, only if that peer is still the member's socket (a resumed member's old
        socket closing late must not remove it).
        """
        member = self.members.get(member_id)
        if member is None or (peer is not None and member.peer is not peer):
            return
        del self.members[member_id]
        if self.echo is not None:
            self.echo.stop(member_id)
        logger.info("peer %s disconnected", member_id)
        if member.joined:
            self._broadcast_roster()

    def drop(self, member_id: str, peer: Peer) -> None:
        """The socket vanished without a close frame: a participant keeps its seat for the grace period."""
        member = self.members.get(member_id)
        if member is None or member.peer is not peer:
            return
        if not member.joined or self.grace <= 0:
            self.disconnect(member_id)
            return
        member.peer, member.dropped_at = None, self.clock()
        if self.echo is not None:
            self.echo.stop(member_id)
        logger.info("peer %s dropped; keeping its seat for %.0f s", member_id, self.grace)
        self._broadcast_roster()

    def expire(self) -> None:
        """Remove the participants whose grace period is over."""
        horizon = self.clock() - self.grace
        for member in list(self.members.values()):
            if member.dropped_at is not None and member.dropped_at <= horizon:
                logger.info("peer %s did not come back", member.id)
                self.disconnect(member.id)

    @property
    def lobby_size(self) -> int:
        return sum(1 for m in self.members.values() if not m.joined)

    # -- incoming messages -------------------------------------------------------

    def receive(self, member_id: str, text: str) -> None:
        """Handle one text frame from a socket. Never raises for bad input."""
        member = self.members.get(member_id)
        if member is None or member.peer is None:
            return
        if member.limiter is not None and not member.limiter.take():
            assert member.patience is not None
            if member.patience.take():
                self._error(member, "rate-limited", request_id=peek_request_id(text))
            else:
                logger.warning("peer %s closed for flooding", member_id)
                member.peer.close(CLOSE_POLICY, "flooding")
                self.disconnect(member_id)
            return
        try:
            message = decode_json(text)
        except (ValueError, RecursionError):
            self._error(member, "bad-json")
            return
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            self._error(member, "bad-message", "A message is a JSON object with a string \"type\".")
            return
        request_id = message.get("id")
        if request_id is not None and not (isinstance(request_id, str) and REQUEST_ID.fullmatch(request_id)):
            self._error(member, "bad-message", "id must be 1–32 letters, digits, - or _.")
            return
        surrogates = "\\u" in text
        # Counting brackets is cheap; only a frame with enough of them can nest too deeply.
        if surrogates or text.count("{") + text.count("[") > MAX_JSON_DEPTH:
            problem = json_problem(message, surrogates=surrogates)
            if problem == "depth":
                self._error(member, "bad-json", f"The message nests deeper than {MAX_JSON_DEPTH} levels.")
                return
            if problem == "surrogate":
                self._error(member, "bad-message", "The message has invalid Unicode (a lone surrogate).",
                            request_id=request_id)
                return
        handler = self._handlers.get(message["type"])
        if handler is None:
            self._error(member, "unknown-type", f"Unknown message type {message['type'][:40]!r}.", request_id=request_id)
            return
        try:
            handler(member, message)
        except UserError as error:
            self._error(member, error.code, error.detail, request_id=request_id)

    def _error(self, member: Member, code: str, detail: str | None = None, *, request_id: str | None = None) -> None:
        """Refuse a message; the error carries the message's `id`, when it had one, so the page knows which."""
        error = {"type": "error", "code": code, "message": detail or ERROR_MESSAGES[code]}
        if request_id is not None:
            error["id"] = request_id
        member.send(error)

    def _on_name(self, member: Member, message: dict[str, Any]) -> None:
        name = clean_name(message.get("name"))
        if not member.joined and len(self.participants) >= self.capacity:
            member.send({"type": "full", "capacity": self.capacity})
            return
        key = name_key(name)
        if any(name_key(other.name or "") == key for other in self.participants if other is not member):
            raise UserError("name-taken")
        if not member.joined:
            self._join_counter += 1
            member.joined_at = self._join_counter
            logger.info("peer %s joined the call", member.id)
        member.name = name
        self._broadcast_roster()

    def _on_leave(self, member: Member, message: dict[str, Any]) -> None:
        self._require_joined(member)
        member.name = None
        logger.info("peer %s left the call", member.id)
        self._broadcast_roster()

    def _on_description(self, member: Member, message: dict[str, Any]) -> None:
        self._require_joined(member)
        self._relay(member, message, {"sdp": checked_sdp(message)})

    def _on_ice(self, member: Member, message: dict[str, Any]) -> None:
        if "candidate" not in message:
            raise UserError("bad-message", "candidate is missing (null ends the candidates).")
        self._relay(member, message, {"candidate": clean_candidate(message["candidate"])})

    def _on_verify(self, member: Member, message: dict[str, Any]) -> None:
        step, value = message.get("step"), message.get("value")
        if step not in VERIFY_STEPS or not isinstance(value, str):
            raise UserError("bad-message", "verify needs a step (commit or reveal) and a string value.")
        if len(value) > MAX_VERIFY_VALUE:
            raise UserError("too-long")
        self._relay(member, message, {"step": step, "value": value})

    def _on_chat(self, member: Member, message: dict[str, Any]) -> None:
        text, mentions = message.get("text"), message.get("mentions", [])
        if not isinstance(text, str) or not isinstance(mentions, list) or not all(
                isinstance(m, str) for m in mentions):
            raise UserError("bad-message", "chat needs a string text and a list of id strings as mentions.")
        self._require_joined(member)
        text = text.strip()
        if not text:
            raise UserError("bad-message", "The message is empty.")
        if len(text) > MAX_CHAT:
            raise UserError("too-long", f"A chat message is at most {MAX_CHAT} characters.")
        participants = self.participants
        known = {m.id for m in participants}
        mentioned = list(dict.fromkeys(m for m in mentions[:MAX_MENTIONS] if m in known))
        out = Outgoing(type="chat", name=member.name, text=text, mentions=mentioned,
                       ts=int(self.wall_clock() * 1000), **{"from": member.id})
        for other in participants:
            other.send(out)
        self.messages_relayed += 1

    def _on_echo(self, member: Member, message: dict[str, Any]) -> None:
        sdp = checked_sdp(message)
        if self.echo is None:
            raise UserError("unavailable")
        self._pace_echo(member)
        self.echo.offer(member.id, sdp, member.send, address=member.address)

    def _pace_echo(self, member: Member) -> None:
        """At most one sound-check start per `echo_interval` per socket and per client address:
        each start makes the server gather candidates and send connectivity checks."""
        now = self.clock()
        horizon = now - self.echo_interval
        starts = self._echo_by_address
        while starts and next(iter(starts.values())) <= horizon:
            del starts[next(iter(starts))]
        if (member.echo_at is not None and member.echo_at > horizon) or (
                member.address is not None and member.address in starts):
            raise UserError("rate-limited", f"Wait {self.echo_interval:g} s between sound checks.")
        member.echo_at = now
        if member.address is not None:
            starts[member.address] = now

    def _on_echo_stop(self, member: Member, message: dict[str, Any]) -> None:
        if self.echo is not None:
            self.echo.stop(member.id)

    # -- helpers -------------------------------------------------------------------

    def _require_joined(self, member: Member) -> None:
        if not member.joined:
            raise UserError("not-joined")

    def _relay(self, member: Member, message: dict[str, Any], payload: dict[str, Any]) -> None:
        target_id = message.get("to")
        if not isinstance(target_id, str):
            raise UserError("bad-message", "to must be a participant id string.")
        self._require_joined(member)
        target = self.members.get(target_id)
        if target is None or not target.joined or target is member:
            raise UserError("unknown-peer")
        target.send({"type": message["type"], "from": member.id, "to": target_id, **payload})
        self.messages_relayed += 1

    def _broadcast_roster(self) -> None:
        out = Outgoing(type="roster", roster=self.roster())
        for other in list(self.members.values()):
            other.send(out)
        count = len(out["roster"])
        for watcher in list(self.roster_watchers):
            try:
                watcher(count)
            except Exception:  # a listener's bug must not break the call
                logger.exception("roster watcher failed")
