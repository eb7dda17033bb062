"""Configuration parsing and validation."""

from __future__ import annotations

import pytest

from config import (GUI_DEFAULT_TOKEN, Config, ConfigError, from_environment, generate_token, is_weak_token,
                    parse_hosts, parse_ice_servers, parse_origins)


def test_config_ice_servers_accepts_a_list_of_servers() -> None:
    servers = parse_ice_servers('[{"urls": "stun:stun.example.org:3478"},'
                                ' {"urls": ["turn:t.example.org"], "username": "u", "credential": "p"}]')
    assert servers[0]["urls"] == "stun:stun.example.org:3478"
    assert parse_ice_servers("[]") == ()


@pytest.mark.parametrize("text,needle", [
    ("{", "not valid JSON"), ('{"urls": "stun:x"}', "JSON list"), ("[1]", "ICE_SERVERS[0]"),
    ('[{"url": "stun:x"}]', "ICE_SERVERS[0]"), ('[{"urls": "http://x"}]', "stun:"),
    ('[{"urls": []}]', "urls"), ('[{"urls": "turn:x", "credential": 5}]', "credential"),
])
def test_config_bad_ice_servers_name_the_setting(text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_ice_servers(text)
    assert "ICE_SERVERS" in str(error.value) and needle in str(error.value)


def test_config_origins() -> None:
    assert parse_origins("https://A.example, http://b.example:8080/ ,,") == (
        "https://a.example", "http://b.example:8080")
    assert parse_origins("*") == ("*",)
    for bad in ("example.org", "ftp://x", "https://x/path"):
        with pytest.raises(ConfigError, match="ALLOWED_ORIGINS"):
            parse_origins(bad)


def test_config_allowed_hosts() -> None:
    assert parse_hosts(" Call.Example.org, [::1],192.168.1.5,, call.example.org. ") == (
        "call.example.org", "::1", "192.168.1.5", "call.example.org")
    assert from_environment({"ALLOWED_HOSTS": "proxy.example"}).allowed_hosts == ("proxy.example",)
    for bad in ("https://x.example", "x.example:8790", "*", "*.example.org", "a b", "x/y", "-x.example"):
        with pytest.raises(ConfigError, match="ALLOWED_HOSTS") as error:
            parse_hosts(bad)
        assert "no port" in str(error.value)


def test_config_weak_tokens_are_the_short_ones() -> None:
    assert is_weak_token(GUI_DEFAULT_TOKEN) and is_weak_token("1234567") and is_weak_token("Ключ")
    assert not is_weak_token("12345678") and not is_weak_token(generate_token())


def test_config_precedence_flag_over_environment_over_default() -> None:
    env = {"ROOM_TOKEN": "from-env"}
    assert from_environment(env, token="from-flag").token == "from-flag"
    assert from_environment(env, default_token="123").token == "from-env"
    assert from_environment({}, default_token="123").token == "123"


def test_config_headless_default_token_is_random_and_strong() -> None:
    first, second = from_environment({}).token, from_environment({}).token
    assert first != second and len(first) >= 22
    assert all(c.isalnum() or c in "-_" for c in generate_token())


def test_config_reads_every_variable() -> None:
    config = from_environment({"ROOM_TOKEN": "t", "ALLOWED_ORIGINS": "https://x.example",
                               "ICE_SERVERS": '[{"urls":"stun:s.example"}]', "ADMIN_STATUS": "1",
                               "STATUS_SECRET": "shh"}, port=9000, capacity=5)
    assert config == Config(token="t", port=9000, capacity=5, allowed_origins=("https://x.example",),
                            ice_servers=({"urls": "stun:s.example"},), admin_status=True, status_secret="shh")


@pytest.mark.parametrize("changes,needle", [
    ({"capacity": 1}, "--capacity"), ({"capacity": 51}, "--capacity"), ({"port": 70000}, "--port"),
    ({"host": "not a host"}, "--host"), ({"rate_limit": -1}, "--rate-limit"), ({"tunnel": "ngrok"}, "--tunnel"),
    ({"token": ""}, "token"), ({"wrong_token_delay": -1}, "wrong_token_delay"),
    ({"wrong_token_window": 0}, "wrong_token_window"), ({"wrong_token_free": -1}, "wrong_token_free"),
])
def test_config_invalid_values_name_the_setting(changes: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        Config(token="t").with_changes(**changes)


def test_config_admin_status_must_be_a_boolean() -> None:
    with pytest.raises(ConfigError, match="ADMIN_STATUS"):
        from_environment({"ADMIN_STATUS": "maybe"})
