"""Tests for tunnel.py: URL parsing of recorded outputs, and the life cycle with a fake ssh/cloudflared."""

from __future__ import annotations

import asyncio
import base64
import os
import random
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from tunnel import (
    Tunnel,
    TunnelError,
    UrlScanner,
    build_command,
    find_executable,
    parse_public_url,
    write_known_hosts,
)

from conftest import holds_for, require_tool, wait_for  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "tunnel"
FAKEBIN = Path(__file__).parent / "fakebin"
PORT = 8790
LHR_URL = "https://8c2f41a9e0b7d3.lhr.life"
CLOUDFLARE_URL = "https://seasonal-harbor-violet-tokens.trycloudflare.com"
# ssh reads no config file, offers no key and forwards no agent or X11.
NO_USER_SETUP = ("-F", "none", "-a", "-x", "-o", "PubkeyAuthentication=no", "-o", "ForwardAgent=no")

RECORDED = {
    "localhost_run.txt": ("localhost.run", LHR_URL),
    "localhost_run_lhr_rocks.txt": ("localhost.run", "https://3f9a0c7e1d2b45.lhr.rocks"),
    "localhost_run_forward_failed.txt": ("localhost.run", None),
    "cloudflared.txt": ("cloudflared", CLOUDFLARE_URL),
    "cloudflared_failed.txt": ("cloudflared", None),
}


def recorded(name: str) -> str:
    """The recorded output exactly as the process wrote it (CRLF and escape codes kept)."""
    return (FIXTURES / name).read_bytes().decode("utf-8")


def alive(pid: int) -> bool:
    """True while `pid` runs; a zombie (dead, not yet reaped) counts as dead."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def read_pids(path: Path) -> list[int]:
    """All pids the fake wrote: its own and its child's, for every run."""
    if not path.exists():
        return []
    return [int(pid) for pid in path.read_text().split()]


def fake_env(tmp_path: Path, output: str, **settings: str) -> dict[str, str]:
    """Environment that puts the fake executables first on PATH and tells them what to do."""
    env = dict(os.environ)
    env["PATH"] = f"{FAKEBIN}{os.pathsep}{env.get('PATH', os.defpath)}"
    env["FAKE_TUNNEL_OUTPUT"] = str(FIXTURES / output)
    env["FAKE_TUNNEL_ARGS_FILE"] = str(tmp_path / "args")
    env["FAKE_TUNNEL_PIDS_FILE"] = str(tmp_path / "pids")
    env.update({f"FAKE_TUNNEL_{key.upper()}": value for key, value in settings.items()})
    return env


class Recorder:
    """Collects what the tunnel reports through its callbacks."""

    def __init__(self) -> None:
        self.urls: list[str | None] = []
        self.statuses: list[str] = []

    def tunnel(self, provider: str, env: dict[str, str], **kwargs: Any) -> Tunnel:
        return Tunnel(
            provider, PORT, on_url=self.urls.append, on_status=self.statuses.append, env=env, **kwargs
        )


async def stop(tunnel: Tunnel) -> None:
    """Stop `tunnel`; a stop that hangs fails the test instead of hanging it."""
    async with asyncio.timeout(10):
        await tunnel.stop()


@asynccontextmanager
async def started(tunnel: Tunnel) -> AsyncIterator[Tunnel]:
    """Start `tunnel` and always stop it, so no fake outlives its test."""
    await tunnel.start()
    try:
        yield tunnel
    finally:
        await stop(tunnel)


# --- parsing -----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_parse_public_url_recorded_output(name: str) -> None:
    provider, expected = RECORDED[name]
    assert parse_public_url(recorded(name), provider) == expected


@pytest.mark.parametrize(
    ("text", "provider"),
    [
        ("To set up and manage custom domains go to https://admin.localhost.run/", "localhost.run"),
        ("see https://localhost.run/docs/forever-free/ for more information.", "localhost.run"),
        ("Follow your favourite reverse tunnel at [https://twitter.com/localhost_run].", "localhost.run"),
        ("https://localhost.run/", "localhost.run"),
        ("are subject to the Terms of Use (https://www.cloudflare.com/website-terms/)", "cloudflared"),
        ("following: https://developers.cloudflare.com/cloudflare-one/", "cloudflared"),
        ('failed to request quick Tunnel: Post "https://api.trycloudflare.com/tunnel"', "cloudflared"),
        ("https://abc.lhr.life.evil.example/", "localhost.run"),
        ("https://abc.lhr.life@evil.example/", "localhost.run"),
        ("http://abc.lhr.life", "localhost.run"),
        (f"|  {CLOUDFLARE_URL}  |", "localhost.run"),
        (f"{LHR_URL} tunneled with tls termination", "cloudflared"),
        ("", "localhost.run"),
    ],
)
def test_parse_public_url_ignores_other_urls(text: str, provider: str) -> None:
    assert parse_public_url(text, provider) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://abc123.lhr.life/some/path?x=1", "https://abc123.lhr.life"),
        ("open https://ABC123.LHR.LIFE.", "https://abc123.lhr.life"),
        ("\x1b[1;32mhttps://abc123.lhr.life\x1b[0m\r\n", "https://abc123.lhr.life"),
        ("\x1b]8;;https://x\x07https://abc123.localhost.run\x1b]8;;\x07", "https://abc123.localhost.run"),
    ],
)
def test_parse_public_url_returns_origin(text: str, expected: str) -> None:
    assert parse_public_url(text, "localhost.run") == expected


def test_parse_public_url_unknown_provider() -> None:
    with pytest.raises(TunnelError, match="unknown tunnel provider 'ngrok'"):
        parse_public_url(LHR_URL, "ngrok")


def scan(provider: str, chunks: list[str]) -> list[str]:
    """Every URL a fresh scanner reports for `chunks` followed by end of output."""
    scanner = UrlScanner(provider)
    found = [scanner.feed(chunk) for chunk in chunks] + [scanner.flush()]
    return [url for url in found if url is not None]


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_url_scanner_split_at_every_position(name: str) -> None:
    provider, expected = RECORDED[name]
    text = recorded(name)
    want = [expected] if expected else []
    for cut in range(len(text) + 1):
        assert scan(provider, [text[:cut], text[cut:]]) == want, f"split at {cut}: {text[:cut][-30:]!r}"


@pytest.mark.parametrize("name", sorted(RECORDED))
def test_url_scanner_random_chunks_and_single_characters(name: str) -> None:
    provider, expected = RECORDED[name]
    text = recorded(name)
    want = [expected] if expected else []
    rng = random.Random(name)
    for _ in range(200):
        cuts = sorted(rng.sample(range(len(text) + 1), rng.randint(2, 40)))
        chunks = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)])]
        assert scan(provider, chunks) == want, cuts
    assert scan(provider, list(text)) == want


def test_url_scanner_waits_for_the_end_of_the_line() -> None:
    scanner = UrlScanner("localhost.run")
    assert scanner.feed("abc123.lhr.life tunneled with tls termination, https://abc12") is None
    assert scanner.feed("3.lhr.life") is None
    assert scanner.feed("\r") == "https://abc123.lhr.life"
    assert scanner.feed("\n") is None


def test_url_scanner_flush_reads_a_final_line_without_line_break() -> None:
    scanner = UrlScanner("cloudflared")
    assert scanner.feed(f"INF |  {CLOUDFLARE_URL}") is None
    assert scanner.flush() == CLOUDFLARE_URL
    assert scanner.flush() is None


def test_url_scanner_reports_each_new_url_once() -> None:
    scanner = UrlScanner("localhost.run")
    assert scanner.feed(f"{LHR_URL}\n{LHR_URL}\n") == LHR_URL
    assert scanner.feed(f"{LHR_URL}\n") is None
    assert scanner.feed("https://fedcba987.lhr.life\n") == "https://fedcba987.lhr.life"


# --- commands and host keys ---------------------------------------------------


def test_build_command_localhost_run() -> None:
    assert build_command("localhost.run", PORT, "/usr/bin/ssh") == [
        "/usr/bin/ssh", "-tt", *NO_USER_SETUP,
        "-o", "StrictHostKeyChecking=accept-new",
        "-o", "ServerAliveInterval=30",
        "-o", "ExitOnForwardFailure=yes",
        "-R", "80:127.0.0.1:8790",
        "nokey@localhost.run",
    ]


def test_build_command_localhost_run_pinned_host_key() -> None:
    assert build_command("localhost.run", 9000, "ssh", known_hosts="/cfg/known_hosts") == [
        "ssh", "-tt", *NO_USER_SETUP,
        "-o", "StrictHostKeyChecking=yes",
        "-o", "UserKnownHostsFile=/cfg/known_hosts",
        "-o", "ServerAliveInterval=30",
        "-o", "ExitOnForwardFailure=yes",
        "-R", "80:127.0.0.1:9000",
        "nokey@localhost.run",
    ]


@pytest.mark.parametrize("known_hosts", [None, "/cfg/known_hosts"])
def test_build_command_localhost_run_uses_no_key_agent_or_config_of_the_user(known_hosts: str | None) -> None:
    """What the real ssh makes of the command (ssh -G prints its settings without connecting)."""
    command = build_command("localhost.run", PORT, require_tool("ssh"), known_hosts=known_hosts)
    effective = subprocess.run([command[0], "-G", *command[1:]], capture_output=True, text=True, check=True,
                               stdin=subprocess.DEVNULL)
    settings = dict(line.split(" ", 1) for line in effective.stdout.splitlines() if " " in line)
    assert settings["pubkeyauthentication"] in ("no", "false")
    assert settings["forwardagent"] == "no" and settings["forwardx11"] == "no"
    assert settings["remoteforward"] == f"80 [127.0.0.1]:{PORT}"
    if known_hosts is None:
        assert settings["stricthostkeychecking"] == "accept-new"
    else:
        assert settings["stricthostkeychecking"] in ("yes", "true")
        assert settings["userknownhostsfile"] == known_hosts


def test_build_command_cloudflared() -> None:
    assert build_command("cloudflared", PORT, "/opt/cloudflared") == [
        "/opt/cloudflared", "tunnel", "--url", "http://127.0.0.1:8790",
    ]


def test_find_executable_on_given_path() -> None:
    assert find_executable("localhost.run", str(FAKEBIN)) == str(FAKEBIN / "ssh")
    assert find_executable("cloudflared", str(FAKEBIN)) == str(FAKEBIN / "cloudflared")


@pytest.mark.parametrize(
    ("provider", "message"),
    [
        ("localhost.run", "ssh was not found on PATH; install OpenSSH client"),
        ("cloudflared", "cloudflared was not found on PATH; install it from https://developers.cloudflare.com/"),
    ],
)
def test_find_executable_missing(tmp_path: Path, provider: str, message: str) -> None:
    with pytest.raises(TunnelError) as caught:
        find_executable(provider, str(tmp_path))
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def fingerprint(key_file: Path) -> str:
    """The key fingerprint as ssh-keygen reads it from `key_file`."""
    listing = subprocess.run(["ssh-keygen", "-l", "-f", key_file], capture_output=True, text=True, check=True)
    return listing.stdout.split()[1]


def test_write_known_hosts_pins_key_that_ssh_accepts(tmp_path: Path) -> None:
    key_file = tmp_path / "id"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key_file)], check=True)
    public_key = (tmp_path / "id.pub").read_text()
    known_hosts = tmp_path / "cfg" / "known_hosts"

    write_known_hosts(str(known_hosts), public_key)

    key_type, key = public_key.split()[:2]
    assert known_hosts.read_text() == f"localhost.run {key_type} {key}\n"
    lookup = subprocess.run(["ssh-keygen", "-F", "localhost.run", "-f", known_hosts], capture_output=True, text=True)
    assert lookup.returncode == 0 and key in lookup.stdout
    assert fingerprint(known_hosts) == fingerprint(tmp_path / "id.pub")

    # ssh-keyscan's "<host> <type> <key>" form is accepted too.
    write_known_hosts(str(known_hosts), f"# localhost.run:22 SSH-2.0\nlocalhost.run {key_type} {key}\n")
    assert known_hosts.read_text() == f"localhost.run {key_type} {key}\n"


def _blob(key_type: str) -> str:
    name = key_type.encode()
    raw = len(name).to_bytes(4, "big") + name + (32).to_bytes(4, "big") + bytes(range(32))
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    "host_key",
    [
        "",
        "# only a comment",
        "not a key",
        "ssh-ed25519",
        "ssh-ed25519 !!!notbase64!!!",
        f"ssh-rsa {_blob('ssh-ed25519')}",  # the blob says it is another type
    ],
)
def test_write_known_hosts_rejects_what_is_not_a_key(tmp_path: Path, host_key: str) -> None:
    with pytest.raises(TunnelError, match="SSH host key"):
        write_known_hosts(str(tmp_path / "known_hosts"), host_key)
    assert not (tmp_path / "known_hosts").exists()


# --- life cycle with fake executables -----------------------------------------


async def test_tunnel_reports_url_from_fake_ssh(tmp_path: Path) -> None:
    rec = Recorder()
    async with started(rec.tunnel("localhost.run", fake_env(tmp_path, "localhost_run.txt"))) as tunnel:
        assert await tunnel.wait_url(5) == LHR_URL
        assert tunnel.public_url == LHR_URL
        assert rec.urls == [LHR_URL]
        assert rec.statuses[:2] == ["starting ssh tunnel", f"tunnel up: {LHR_URL}"]
        assert (tmp_path / "args").read_text().splitlines() == [
            "-tt", *NO_USER_SETUP,
            "-o", "StrictHostKeyChecking=accept-new",
            "-o", "ServerAliveInterval=30",
            "-o", "ExitOnForwardFailure=yes",
            "-R", "80:127.0.0.1:8790",
            "nokey@localhost.run",
        ]
        assert tunnel.restarts == 0
    assert tunnel.public_url is None
    assert rec.urls == [LHR_URL, None]


async def test_tunnel_pins_host_key_on_ssh_command_line(tmp_path: Path) -> None:
    known_hosts = str(tmp_path / "known_hosts")
    rec = Recorder()
    env = fake_env(tmp_path, "localhost_run.txt")
    async with started(rec.tunnel("localhost.run", env, known_hosts=known_hosts)) as tunnel:
        assert await tunnel.wait_url(5) == LHR_URL
        args = (tmp_path / "args").read_text().splitlines()
    assert "StrictHostKeyChecking=yes" in args and f"UserKnownHostsFile={known_hosts}" in args
    assert "StrictHostKeyChecking=accept-new" not in args


async def test_tunnel_reports_url_from_fake_cloudflared(tmp_path: Path) -> None:
    rec = Recorder()
    async with started(rec.tunnel("cloudflared", fake_env(tmp_path, "cloudflared.txt"))) as tunnel:
        assert await tunnel.wait_url(5) == CLOUDFLARE_URL
        assert (tmp_path / "args").read_text().splitlines() == ["tunnel", "--url", "http://127.0.0.1:8790"]
        assert rec.statuses[0] == "starting cloudflared tunnel"


async def test_tunnel_restarts_after_the_process_dies(tmp_path: Path) -> None:
    rec = Recorder()
    env = fake_env(tmp_path, "localhost_run.txt", exit_after="0.2", exit_code="255")
    async with started(rec.tunnel("localhost.run", env, backoff=(0.05,))) as tunnel:
        await wait_for(lambda: rec.urls.count(LHR_URL) >= 2, message="the URL to be reported twice")
        assert tunnel.restarts >= 1
        assert rec.urls[:3] == [LHR_URL, None, LHR_URL]
        assert "tunnel process exited (code 255); restarting in 0.05 s" in rec.statuses
        assert len(read_pids(tmp_path / "pids")) >= 2


async def test_tunnel_backoff_grows_then_stays_at_its_last_step(tmp_path: Path) -> None:
    rec = Recorder()
    env = fake_env(tmp_path, "localhost_run_forward_failed.txt", exit_after="0", exit_code="255")
    async with started(rec.tunnel("localhost.run", env, backoff=(0.01, 0.02, 0.04))) as tunnel:
        await wait_for(lambda: tunnel.restarts >= 4, message="four restarts")
    delays = [s.rsplit(" in ", 1)[1] for s in rec.statuses if "restarting in" in s]
    assert delays[:4] == ["0.01 s", "0.02 s", "0.04 s", "0.04 s"]
    assert rec.urls == []


async def test_tunnel_backoff_resets_after_a_stable_run(tmp_path: Path) -> None:
    rec = Recorder()
    env = fake_env(tmp_path, "localhost_run.txt", exit_after="0.1", exit_code="255")
    tunnel = rec.tunnel("localhost.run", env, backoff=(0.01, 0.5), stable_after=0.0)
    async with started(tunnel):
        await wait_for(lambda: tunnel.restarts >= 3, message="three restarts")
    delays = [s.rsplit(" in ", 1)[1] for s in rec.statuses if "restarting in" in s]
    assert delays[:3] == ["0.01 s"] * 3


async def test_tunnel_stop_ends_the_whole_process_group(tmp_path: Path) -> None:
    rec = Recorder()
    env = fake_env(tmp_path, "localhost_run.txt", child="1")
    async with started(rec.tunnel("localhost.run", env)) as tunnel:
        assert await tunnel.wait_url(5) == LHR_URL
        pids = read_pids(tmp_path / "pids")
        assert len(pids) == 2 and all(alive(pid) for pid in pids)
    await wait_for(lambda: not any(alive(pid) for pid in pids), message=f"pids {pids} to end")
    assert tunnel.public_url is None and rec.urls == [LHR_URL, None]
    assert rec.statuses[-1] == "tunnel stopped"


async def test_tunnel_restarts_when_a_leftover_child_keeps_the_output_open(tmp_path: Path) -> None:
    rec = Recorder()
    env = fake_env(tmp_path, "localhost_run.txt", exit_after="0", child="1")
    async with started(rec.tunnel("localhost.run", env, backoff=(0.01,))) as tunnel:
        await wait_for(lambda: tunnel.restarts >= 1, message="a restart")
        first_run = read_pids(tmp_path / "pids")[:2]
        await wait_for(lambda: not any(alive(pid) for pid in first_run), message="the first run's child to end")


async def test_tunnel_stop_is_idempotent_and_final(tmp_path: Path) -> None:
    rec = Recorder()
    env = fake_env(tmp_path, "localhost_run.txt", exit_after="0")
    tunnel = rec.tunnel("localhost.run", env, backoff=(0.02,))
    await stop(tunnel)  # before start: nothing to do
    await tunnel.start()
    await wait_for(lambda: tunnel.restarts >= 2, message="two restarts")
    await asyncio.gather(stop(tunnel), stop(tunnel))
    await stop(tunnel)
    restarts, runs = tunnel.restarts, len(read_pids(tmp_path / "pids"))
    assert rec.statuses.count("tunnel stopped") == 1
    # A restart would come within one backoff step (0.02 s); watch for 25 of them.
    await holds_for(
        lambda: tunnel.restarts == restarts and len(read_pids(tmp_path / "pids")) == runs,
        0.5,
        what="no restart after stop",
    )
    await wait_for(lambda: not any(alive(pid) for pid in read_pids(tmp_path / "pids")), message="every run to end")
    assert tunnel.public_url is None


@pytest.mark.parametrize(("provider", "program"), [("localhost.run", "ssh"), ("cloudflared", "cloudflared")])
async def test_tunnel_start_without_executable_fails_clearly(tmp_path: Path, provider: str, program: str) -> None:
    rec = Recorder()
    tunnel = rec.tunnel(provider, {"PATH": str(tmp_path)})
    with pytest.raises(TunnelError, match=f"^{program} was not found on PATH; install"):
        await tunnel.start()
    assert len(rec.statuses) == 1 and rec.statuses[0].startswith(f"{program} was not found on PATH")
    assert tunnel.public_url is None and rec.urls == []
    await stop(tunnel)


async def test_tunnel_stop_while_starting_ends_the_new_process(tmp_path: Path) -> None:
    rec = Recorder()
    tunnel = rec.tunnel("localhost.run", fake_env(tmp_path, "localhost_run.txt", child="1"))
    starting = asyncio.create_task(tunnel.start())
    await asyncio.sleep(0)  # let start() reach the spawn
    await stop(tunnel)
    await starting
    assert rec.statuses == ["starting ssh tunnel", "tunnel stopped"]
    await wait_for(lambda: not any(alive(pid) for pid in read_pids(tmp_path / "pids")), message="the run to end")
    assert tunnel.public_url is None and tunnel.restarts == 0


async def test_tunnel_survives_callbacks_that_raise(tmp_path: Path) -> None:
    def broken(_: object) -> None:
        raise RuntimeError("GUI bug")

    env = fake_env(tmp_path, "cloudflared.txt")
    async with started(Tunnel("cloudflared", PORT, on_url=broken, on_status=broken, env=env)) as tunnel:
        assert await tunnel.wait_url(5) == CLOUDFLARE_URL


async def test_tunnel_wait_url_gives_none_when_no_url_comes(tmp_path: Path) -> None:
    rec = Recorder()
    async with started(rec.tunnel("cloudflared", fake_env(tmp_path, "cloudflared_failed.txt"))) as tunnel:
        assert await tunnel.wait_url(0.2) is None
        assert rec.urls == [] and tunnel.public_url is None


async def test_tunnel_host_key_from_the_environment_pins_localhost_run(tmp_path: Path) -> None:
    """TUNNEL_HOST_KEY makes ssh check localhost.run's key against a known_hosts file we write."""
    key = "ssh-ed25519 " + base64.b64encode(b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + b"k" * 32).decode()
    args_file = tmp_path / "args"
    env = {"PATH": f"{FAKEBIN}:{os.environ['PATH']}", "XDG_CONFIG_HOME": str(tmp_path),
           "TUNNEL_HOST_KEY": key, "FAKE_TUNNEL_OUTPUT": str(FIXTURES / "localhost_run.txt"),
           "FAKE_TUNNEL_ARGS_FILE": str(args_file)}
    tunnel = Tunnel("localhost.run", 8790, env=env)
    await tunnel.start()
    try:
        assert await tunnel.wait_url(10)
        args = args_file.read_text().splitlines()
        known_hosts = tmp_path / "secret-call" / "localhost.run_known_hosts"
        assert "StrictHostKeyChecking=yes" in args and f"UserKnownHostsFile={known_hosts}" in args
        assert args[1:1 + len(NO_USER_SETUP)] == list(NO_USER_SETUP)
        assert known_hosts.read_text().split()[:2] == ["localhost.run", "ssh-ed25519"]
    finally:
        await tunnel.stop()
