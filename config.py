"""Server configuration: defaults, environment variables and validation."""

from __future__ import annotations

import ipaddress
import json
import logging
import re
import secrets
from dataclasses import dataclass, field, replace
from typing import Any, Mapping
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8790
DEFAULT_CAPACITY = 2
MAX_CAPACITY = 50
DEFAULT_RATE_LIMIT = 50.0
GUI_DEFAULT_TOKEN = "123"
MIN_STRONG_TOKEN = 8  # characters; shorter tokens get the weak-token warning
TUNNELS = ("none", "localhost.run", "cloudflared")
PROVIDERS = TUNNELS[1:]  # the tunnels that make a public link
LOG_LEVELS = ("debug", "info", "warning", "error")
DEFAULT_TURN_PORT = 3478
DEFAULT_TURN_TTL = 24 * 3600
MIN_TURN_TTL = 60
MAX_TURN_TTL = 48 * 3600


class ConfigError(ValueError):
    """A setting has an invalid value; str() names the setting in one line."""


@dataclass(frozen=True)
class Config:
    """Everything the server needs to run, already validated."""

    token: str
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    capacity: int = DEFAULT_CAPACITY
    allowed_origins: tuple[str, ...] = ()
    ice_servers: tuple[dict[str, Any], ...] = ()
    admin_status: bool = False
    status_secret: str | None = None
    rate_limit: float = DEFAULT_RATE_LIMIT
    tunnel: str = "none"
    log_level: str = "info"
    trusted_proxies: tuple[str, ...] = ()
    resume_grace: float = 30.0
    heartbeat: float = 10.0
    max_per_address: int = 32
    max_lobby: int = 64
    allowed_hosts: tuple[str, ...] = ()
    # -- wrong room tokens (access.WrongTokens): each address's first `wrong_token_free` within
    # `wrong_token_window` seconds are answered at once, later ones after `wrong_token_delay`
    # seconds; past `wrong_token_budget` server-wide within the window, every wrong one waits.
    wrong_token_free: int = 5
    wrong_token_window: float = 60.0
    wrong_token_delay: float = 2.0
    wrong_token_budget: int = 50
    tls: bool = False
    cert: str | None = None
    key: str | None = None
    log_file: str | None = None
    sound_check: bool = True
    # -- sound-check limits (the echo peer, echo.py) --
    # At most this many run at once, each for at most this many seconds; one socket, and one
    # client address, may start one every `sound_check_interval` seconds.
    sound_check_sessions: int = 4
    sound_check_seconds: float = 120.0
    sound_check_interval: float = 1.0
    # Calls between networks (STUN/TURN): checked by validate_relay(), used by turn.py.
    stun: str | None = None  # None: automatic (a public STUN server while a public link is on); "none": off
    turn_urls: tuple[str, ...] = ()
    turn_secret: str | None = field(default=None, repr=False)
    turn_ttl: int = DEFAULT_TURN_TTL
    turn: bool = False
    turn_port: int = DEFAULT_TURN_PORT
    turn_external_ip: str | None = None

    def with_changes(self, **changes: Any) -> "Config":
        """A copy with some fields replaced, validated again."""
        return validate(replace(self, **changes))


def generate_token() -> str:
    """A random URL-safe room token with 144 bits of entropy."""
    return secrets.token_urlsafe(18)


def parse_ice_servers(text: str) -> tuple[dict[str, Any], ...]:
    """Parse ICE_SERVERS: a JSON list of RTCIceServer objects, each with "urls"."""
    try:
        value = json.loads(text)
    except ValueError:
        raise ConfigError("ICE_SERVERS is not valid JSON: expected a list such as "
                          '[{"urls": "stun:stun.example.org:3478"}]') from None
    if not isinstance(value, list):
        raise ConfigError("ICE_SERVERS must be a JSON list of objects with \"urls\"")
    servers = []
    for index, server in enumerate(value):
        if not isinstance(server, dict) or "urls" not in server:
            raise ConfigError(f"ICE_SERVERS[{index}] must be an object with \"urls\"")
        urls = server["urls"]
        url_list = [urls] if isinstance(urls, str) else urls
        if not isinstance(url_list, list) or not url_list or not all(
                isinstance(u, str) and u.split(":", 1)[0] in ("stun", "stuns", "turn", "turns")
                for u in url_list):
            raise ConfigError(f"ICE_SERVERS[{index}].urls must be stun:, stuns:, turn: or turns: URLs")
        for key in ("username", "credential"):
            if key in server and not isinstance(server[key], str):
                raise ConfigError(f"ICE_SERVERS[{index}].{key} must be a string")
        servers.append(server)
    return tuple(servers)


def parse_origins(text: str) -> tuple[str, ...]:
    """Parse ALLOWED_ORIGINS: comma-separated exact origins, or "*"."""
    origins = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if item != "*":
            parts = urlsplit(item)
            if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
                raise ConfigError(f"ALLOWED_ORIGINS entry {item!r} is not an origin such as https://example.org")
            item = f"{parts.scheme}://{parts.netloc}".lower()
        origins.append(item)
    return tuple(origins)


def parse_proxies(text: str) -> tuple[str, ...]:
    """Parse TRUSTED_PROXIES: comma-separated addresses or networks (CIDR)."""
    proxies = []
    for item in (part.strip() for part in text.split(",")):
        if item:
            try:
                proxies.append(str(ipaddress.ip_network(item, strict=False)))
            except ValueError:
                raise ConfigError(f"TRUSTED_PROXIES entry {item!r} is not an address or network") from None
    return tuple(proxies)


_LABEL = r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?"
_HOST_NAME = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?")


def parse_hosts(text: str) -> tuple[str, ...]:
    """Parse ALLOWED_HOSTS: comma-separated host names or IP addresses, without scheme or port."""
    hosts = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name = item[1:-1] if item.startswith("[") and item.endswith("]") else item
        try:
            hosts.append(str(ipaddress.ip_address(name)))
            continue
        except ValueError:
            pass
        if not _HOST_NAME.fullmatch(name.lower()):
            raise ConfigError(f"ALLOWED_HOSTS entry {item!r} is not a host name such as call.example.org "
                              f"(no scheme, no port, no wildcard)")
        hosts.append(name.lower().rstrip("."))
    return tuple(hosts)


def is_weak_token(token: str) -> bool:
    """A token short enough to guess (the window's placeholder "123" among them)."""
    return len(token) < MIN_STRONG_TOKEN


def parse_bool(name: str, text: str) -> bool:
    """Parse a yes/no environment variable."""
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("", "0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be 1 or 0, not {text!r}")


def validate_wrong_tokens(config: Config) -> None:
    """The wrong-token limits: counts of 0 or more, a positive window, a delay of 0 or more."""
    if config.wrong_token_free < 0 or config.wrong_token_budget < 0:
        raise ConfigError("wrong_token_free and wrong_token_budget must be 0 or more")
    if not config.wrong_token_window > 0 or not config.wrong_token_delay >= 0:
        raise ConfigError("wrong_token_window must be more than 0 and wrong_token_delay 0 or more seconds")


def validate(config: Config) -> Config:
    """Check every field; raise ConfigError naming the first bad one."""
    validate_wrong_tokens(config)
    if not 0 <= config.port <= 65535:
        raise ConfigError(f"--port must be between 1 and 65535 (or 0 for any free port), not {config.port}")
    if not 2 <= config.capacity <= MAX_CAPACITY:
        raise ConfigError(f"--capacity must be between 2 and {MAX_CAPACITY}, not {config.capacity}")
    if not config.token:
        raise ConfigError("the room token must not be empty")
    if len(config.token.encode()) > 256:
        raise ConfigError("the room token must be at most 256 bytes")
    if config.rate_limit < 0:
        raise ConfigError("--rate-limit must be 0 (off) or a positive number of messages per second")
    if config.tunnel not in TUNNELS:
        raise ConfigError(f"--tunnel must be one of {', '.join(TUNNELS)}")
    if (config.cert is None) != (config.key is None):
        raise ConfigError("--cert and --key go together: give both files, or neither")
    if config.log_level not in LOG_LEVELS:
        raise ConfigError(f"--log-level must be one of {', '.join(LOG_LEVELS)}")
    try:
        ipaddress.ip_address(config.host)
    except ValueError:
        if config.host != "localhost":
            raise ConfigError(f"--host must be an IP address such as 127.0.0.1, not {config.host!r}") from None
    validate_sound_check(config)
    return validate_relay(config)


def validate_sound_check(config: Config) -> None:
    """The sound-check limits: whole sessions, positive durations."""
    if config.sound_check_sessions < 0:
        raise ConfigError(f"sound_check_sessions must be 0 or more, not {config.sound_check_sessions}")
    if not config.sound_check_seconds > 0:
        raise ConfigError(f"sound_check_seconds must be more than 0, not {config.sound_check_seconds}")
    if not config.sound_check_interval >= 0:
        raise ConfigError(f"sound_check_interval must be 0 or more, not {config.sound_check_interval}")


def from_environment(env: Mapping[str, str], *, token: str | None = None, **overrides: Any) -> Config:
    """Build a Config from the environment; keyword overrides (flags) win over it.

    Precedence is flag > environment > caller default: `token` is the flag value,
    and when neither it nor ROOM_TOKEN is set a random token is generated.
    """
    chosen = token or env.get("ROOM_TOKEN") or overrides.pop("default_token", None) or generate_token()
    overrides.pop("default_token", None)
    settings = {**relay_environment(env), **{key: value for key, value in overrides.items() if value is not None}}
    return validate(Config(
        token=chosen,
        allowed_origins=parse_origins(env.get("ALLOWED_ORIGINS", "")),
        allowed_hosts=parse_hosts(env.get("ALLOWED_HOSTS", "")),
        ice_servers=parse_ice_servers(env["ICE_SERVERS"]) if env.get("ICE_SERVERS", "").strip() else (),
        admin_status=parse_bool("ADMIN_STATUS", env.get("ADMIN_STATUS", "")),
        status_secret=env.get("STATUS_SECRET") or None,
        trusted_proxies=parse_proxies(env.get("TRUSTED_PROXIES", "")),
        **settings,
    ))


# -- calls between networks: STUN and TURN ---------------------------------------------------

_HOST = r"(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*)"
STUN_URL_PATTERN = re.compile(rf"stuns?:{_HOST}(?::(\d{{1,5}}))?")
TURN_URL_PATTERN = re.compile(rf"(turns?):{_HOST}(?::(\d{{1,5}}))?(?:\?transport=(udp|tcp))?")


def _port_ok(text: str | None) -> bool:
    return text is None or 1 <= int(text) <= 65535


def is_stun_url(url: str) -> bool:
    """stun:host[:port] or stuns:host[:port] (RFC 7064)."""
    match = STUN_URL_PATTERN.fullmatch(url)
    return match is not None and _port_ok(match.group(1))


def is_turn_url(url: str) -> bool:
    """turn:host[:port][?transport=udp|tcp] or turns:host[:port][?transport=tcp] (RFC 7065)."""
    match = TURN_URL_PATTERN.fullmatch(url)
    return match is not None and _port_ok(match.group(2)) and not (
        match.group(1) == "turns" and match.group(3) == "udp")


def relay_environment(env: Mapping[str, str]) -> dict[str, Any]:
    """The STUN/TURN settings found in the environment (STUN_URL, TURN_URLS, TURN_SECRET, TURN_TTL)."""
    settings: dict[str, Any] = {}
    if env.get("STUN_URL", "").strip():
        settings["stun"] = env["STUN_URL"].strip()
    urls = tuple(part.strip() for part in env.get("TURN_URLS", "").split(",") if part.strip())
    if urls:
        settings["turn_urls"] = urls
    if env.get("TURN_SECRET"):
        settings["turn_secret"] = env["TURN_SECRET"]
    ttl = env.get("TURN_TTL", "").strip()
    if ttl:
        try:
            settings["turn_ttl"] = int(ttl)
        except ValueError:
            raise ConfigError(f"TURN_TTL must be a whole number of seconds, not {ttl[:20]!r}") from None
    return settings


def validate_relay(config: Config) -> Config:
    """Check the STUN/TURN settings; raise ConfigError naming the first bad one."""
    stun = config.stun
    if stun is not None:
        stun = stun.strip()
        if stun.lower() == "none":
            stun = "none"
        elif not is_stun_url(stun):
            raise ConfigError(f"--stun (STUN_URL) must be a URL such as stun:stun.example.org:3478, or none; "
                              f"not {stun[:60]!r}")
    for url in config.turn_urls:
        if not is_turn_url(url):
            raise ConfigError(f"TURN_URLS entry {url[:60]!r} is not a TURN URL such as "
                              "turn:turn.example.org:3478 or turn:turn.example.org:443?transport=tcp")
    if config.turn_urls and not config.turn_secret:
        raise ConfigError("TURN_URLS needs TURN_SECRET: the TURN server's shared secret (coturn's static-auth-secret)")
    if config.turn_secret and not config.turn_urls:
        raise ConfigError("TURN_SECRET needs TURN_URLS: the turn: URLs of the server that secret belongs to")
    if not MIN_TURN_TTL <= config.turn_ttl <= MAX_TURN_TTL:
        raise ConfigError(f"TURN_TTL must be from {MIN_TURN_TTL} to {MAX_TURN_TTL} seconds (48 h), "
                          f"not {config.turn_ttl}")
    if config.turn and config.turn_urls:
        raise ConfigError("--turn and TURN_URLS exclude each other: --turn runs a TURN server here, "
                          "TURN_URLS points at another one")
    if not 1 <= config.turn_port <= 65535:
        raise ConfigError(f"--turn-port must be between 1 and 65535, not {config.turn_port}")
    if config.turn and config.turn_port == config.port:
        raise ConfigError(f"--turn-port {config.turn_port} is also the web server's --port; choose another")
    if config.turn_external_ip is not None:
        if not config.turn:
            raise ConfigError("--turn-external-ip goes with --turn")
        try:
            ipaddress.ip_address(config.turn_external_ip)
        except ValueError:
            raise ConfigError(f"--turn-external-ip must be an IP address such as 203.0.113.7, "
                              f"not {config.turn_external_ip[:60]!r}") from None
    return config if stun == config.stun else replace(config, stun=stun)
