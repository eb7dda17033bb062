"""Public HTTPS tunnel to the local server through localhost.run (ssh) or cloudflared."""

from __future__ import annotations

import asyncio
import base64
import binascii
import codecs
import logging
import os
import re
import shutil
import signal
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from children import READ_SIZE as _READ_SIZE
from children import end_process_group as _end_process_group
from children import signal_group as _signal_group
from children import keep_running, spawn_group
from config import PROVIDERS
from folders import config_dir

logger = logging.getLogger(__name__)

HOST_KEY_VARIABLE = "TUNNEL_HOST_KEY"

SSH_HOST = "localhost.run"
_EXECUTABLES = {"localhost.run": "ssh", "cloudflared": "cloudflared"}
_INSTALL_HINTS = {
    "localhost.run": "install OpenSSH client (e.g. apt install openssh-client) "
    "or choose the cloudflared provider",
    "cloudflared": "install it from https://developers.cloudflare.com/cloudflare-one/"
    "connections/connect-networks/downloads/ or choose the localhost.run provider",
}
# A tunnel's own host is one label under these domains; other hosts in the
# output (banners, docs, terms of use, the API) are not the tunnel.
_TUNNEL_DOMAINS = {
    "localhost.run": ("lhr.life", "lhr.rocks", "localhost.run"),
    "cloudflared": ("trycloudflare.com",),
}
_RESERVED_LABELS = frozenset({"admin", "api", "docs", "www"})

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
_URL = re.compile(r"https://([^\s/?#\"'<>|\\]+)", re.IGNORECASE)
_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_AUTHORITY = re.compile(rf"({_LABEL}(?:\.{_LABEL})+)(:\d{{1,5}})?")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_KEY_TYPE = re.compile(r"[a-z][a-z0-9@.-]*")
_KEY_FORMAT = "(expected '<type> <base64>', e.g. 'ssh-ed25519 AAAA…')"

_MAX_LINE = 8192  # a longer run without a line break is not a URL line
_EXIT_POLL = 1.0  # seconds between checks that the process is still alive


class TunnelError(Exception):
    """A tunnel could not be started; str() is a clear one-line message for users."""


def _check_provider(provider: str) -> None:
    if provider not in PROVIDERS:
        raise TunnelError(f"unknown tunnel provider {provider!r}; choose one of: {', '.join(PROVIDERS)}")


def find_executable(provider: str, path: str | None = None) -> str:
    """Return the full path of the provider's program, looked up on PATH (or `path`)."""
    _check_provider(provider)
    name = _EXECUTABLES[provider]
    found = shutil.which(name, path=path)
    if found is None:
        raise TunnelError(f"{name} was not found on PATH; {_INSTALL_HINTS[provider]}")
    return found


def build_command(provider: str, port: int, executable: str, *, known_hosts: str | None = None) -> list[str]:
    """Return the command line that tunnels public HTTPS to 127.0.0.1:`port` (the server's tunnel listener)."""
    _check_provider(provider)
    if not 0 < port < 65536:
        raise ValueError(f"port out of range: {port}")
    if provider == "cloudflared":
        return [executable, "tunnel", "--url", f"http://127.0.0.1:{port}"]
    if known_hosts is None:
        host_key_options = ["-o", "StrictHostKeyChecking=accept-new"]
    else:
        host_key_options = ["-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known_hosts}"]
    # No config file, no agent, no X11, no key of the user's: localhost.run needs none of them, and
    # IdentitiesOnly=yes alone would still offer the default key files.
    return [
        executable, "-tt", "-F", "none", "-a", "-x",
        "-o", "PubkeyAuthentication=no", "-o", "ForwardAgent=no", *host_key_options,
        "-o", "ServerAliveInterval=30", "-o", "ExitOnForwardFailure=yes",
        "-R", f"80:127.0.0.1:{port}", f"nokey@{SSH_HOST}",
    ]


def _is_host_key(key_type: str, key: str) -> bool:
    if not _KEY_TYPE.fullmatch(key_type):
        return False
    try:
        blob = base64.b64decode(key, validate=True)
    except binascii.Error:
        return False
    # The key blob starts with its own length-prefixed type name.
    length = int.from_bytes(blob[:4], "big")
    return blob[4:4 + length] == key_type.encode()


def write_known_hosts(path: str, host_key: str) -> None:
    """Write a known_hosts file that pins localhost.run to `host_key` (one key per line)."""
    entries = []
    for line in host_key.splitlines():
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        # Accept "<type> <base64> [comment]" and ssh-keyscan's "<host> <type> <base64>".
        pairs = [(fields[i], fields[i + 1]) for i in range(min(2, len(fields) - 1))]
        key = next((f"{t} {k}" for t, k in pairs if _is_host_key(t, k)), None)
        if key is None:
            raise TunnelError(f"not an SSH host key {_KEY_FORMAT}: {line[:40]!r}")
        entries.append(f"{SSH_HOST} {key}\n")
    if not entries:
        raise TunnelError(f"no SSH host key given {_KEY_FORMAT}")
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text("".join(entries), encoding="ascii")


def parse_public_url(text: str, provider: str) -> str | None:
    """Return the tunnel's public URL in origin form ("https://host") found in `text`, else None."""
    _check_provider(provider)
    for match in _URL.finditer(_ANSI.sub("", text)):
        authority = match.group(1).rstrip(".,;:)]}").lower()
        parts = _AUTHORITY.fullmatch(authority)
        if parts is None:
            continue
        label, _, domain = parts.group(1).partition(".")
        if domain in _TUNNEL_DOMAINS[provider] and label not in _RESERVED_LABELS:
            return f"https://{authority}"
    return None


class UrlScanner:
    """Feeds chunks of process output (possibly split mid-line) and reports the public URL once a complete line contains it."""

    def __init__(self, provider: str) -> None:
        _check_provider(provider)
        self._provider = provider
        self._partial = ""
        self._last: str | None = None

    def feed(self, chunk: str) -> str | None:
        """Add output; return a newly seen URL if a line completed by this chunk holds one."""
        lines = _LINE_BREAK.split(self._partial + chunk)
        self._partial = lines.pop()[-_MAX_LINE:]
        found = None
        for line in lines:
            found = self._scan_line(line) or found
        return found

    def flush(self) -> str | None:
        """Treat what is left as a final line (at end of output) and scan it."""
        line, self._partial = self._partial, ""
        return self._scan_line(line)

    def _scan_line(self, line: str) -> str | None:
        url = parse_public_url(line, self._provider)
        if url is None or url == self._last:
            return None
        self._last = url
        return url


class Tunnel:
    """Runs ssh/cloudflared as a child process, parses its public URL, restarts it with backoff when it dies."""

    def __init__(
        self,
        provider: str,
        port: int,
        *,
        on_url: Callable[[str | None], None] | None = None,
        on_status: Callable[[str], None] | None = None,
        backoff: Sequence[float] = (1, 2, 4, 8, 16, 30),
        known_hosts: str | None = None,
        env: Mapping[str, str] | None = None,
        stable_after: float = 60.0,
    ) -> None:
        _check_provider(provider)
        if not backoff:
            raise ValueError("backoff must not be empty")
        self.provider = provider
        self.port = port
        self._on_url = on_url
        self._on_status = on_status
        self._backoff = tuple(backoff)
        self._known_hosts = known_hosts
        self._env = dict(env) if env is not None else None
        self._stable_after = stable_after
        self._name = _EXECUTABLES[provider]
        self._command: list[str] = []
        self._task: asyncio.Task[None] | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._stopping = False
        self._url: str | None = None
        self._url_since: float | None = None
        self._url_event = asyncio.Event()
        self._restarts = 0

    @property
    def public_url(self) -> str | None:
        """The public https URL, or None while it is not known."""
        return self._url

    @property
    def restarts(self) -> int:
        """How many times the process was restarted."""
        return self._restarts

    async def start(self) -> None:
        """Spawn the tunnel process and supervise it; TunnelError if it cannot be spawned."""
        if self._task is not None:
            if not self._stopping and not self._task.done():
                return
            await self.stop()
        self._stopping = False
        try:
            path = self._env.get("PATH") if self._env is not None else None
            executable = find_executable(self.provider, path)
            known_hosts = self._known_hosts or self._pinned_known_hosts()
            self._command = build_command(self.provider, self.port, executable, known_hosts=known_hosts)
            proc = await self._spawn()
        except TunnelError as exc:
            self._status(str(exc))
            raise
        if self._stopping:  # stop() was called while the process was being spawned
            self._proc = None
            await _end_process_group(proc)
            self._status("tunnel stopped")
            return
        self._task = asyncio.create_task(self._supervise(proc), name=f"tunnel {self.provider}")

    def _pinned_known_hosts(self) -> str | None:
        """With TUNNEL_HOST_KEY set, pin localhost.run to that key in a known_hosts file of ours."""
        env = self._env if self._env is not None else os.environ
        host_key = env.get(HOST_KEY_VARIABLE, "").strip()
        if not host_key or self.provider != "localhost.run":
            return None
        folder = config_dir(env)
        folder.mkdir(parents=True, exist_ok=True)
        path = str(folder / "localhost.run_known_hosts")
        write_known_hosts(path, host_key)
        return path

    async def wait_url(self, timeout: float) -> str | None:
        """Wait up to `timeout` seconds for the public URL; None if it did not come."""
        try:
            async with asyncio.timeout(timeout):
                await self._url_event.wait()
        except TimeoutError:
            pass
        return self._url

    async def stop(self) -> None:
        """End the process group and the supervisor; idempotent."""
        task = self._task
        if task is None:
            self._stopping = True  # a start() still spawning will not go on
            return
        if not self._stopping:
            self._stopping = True
            task.cancel()
        await asyncio.wait([task])
        if self._task is task:
            self._task = None
            self._status("tunnel stopped")

    async def _spawn(self) -> asyncio.subprocess.Process:
        self._status(f"starting {self._name} tunnel")
        try:
            proc = await spawn_group(self._command, self._env)
        except OSError as exc:
            raise TunnelError(f"could not start {self._name}: {exc.strerror or exc}") from exc
        logger.debug("%s tunnel started, pid %d", self.provider, proc.pid)
        self._proc = proc
        return proc

    async def _supervise(self, proc: asyncio.subprocess.Process | None) -> None:
        try:
            await keep_running(proc, spawn=self._spawn, watch=self._watch, backoff=self._backoff,
                               spawn_errors=(TunnelError,), restarting=self._restarting, restarted=self._restarted)
        except Exception:
            logger.exception("%s tunnel supervisor failed", self.provider)
            self._status("tunnel failed; see the log")
        finally:
            if self._proc is not None:
                await _end_process_group(self._proc)
                self._proc = None
            self._set_url(None)

    async def _watch(self, proc: asyncio.subprocess.Process) -> tuple[str, bool]:
        """Read the process's output until it exits; a run counts as stable once its URL held long enough."""
        self._url_since = None
        code = await self._read_until_exit(proc)
        self._proc = None
        self._set_url(None)
        stable = (self._url_since is not None
                  and asyncio.get_running_loop().time() - self._url_since >= self._stable_after)
        return f"tunnel process exited ({'code' if code >= 0 else 'signal'} {abs(code)})", stable

    def _restarting(self, reason: str, delay: float) -> None:
        self._status(f"{reason}; restarting in {delay:g} s")

    def _restarted(self) -> None:
        self._restarts += 1

    async def _read_until_exit(self, proc: asyncio.subprocess.Process) -> int:
        assert proc.stdout is not None
        scanner = UrlScanner(self.provider)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        while True:
            try:
                async with asyncio.timeout(_EXIT_POLL):
                    data = await proc.stdout.read(_READ_SIZE)
            except TimeoutError:
                if proc.returncode is not None:
                    # The leader is gone but a leftover child holds the pipe open.
                    _signal_group(proc.pid, signal.SIGKILL)
                continue
            text = decoder.decode(data, final=not data)
            logger.debug("%s output: %r", self.provider, text)
            url = scanner.feed(text)
            if not data:
                url = scanner.flush() or url
            if url is not None:
                self._url_since = asyncio.get_running_loop().time()
                self._set_url(url)
            if not data:
                return await proc.wait()

    def _set_url(self, url: str | None) -> None:
        if url == self._url:
            return
        self._url = url
        if url is None:
            self._url_event.clear()
        else:
            self._url_event.set()
            self._status(f"tunnel up: {url}")
        self._call(self._on_url, url)

    def _status(self, message: str) -> None:
        logger.info("%s: %s", self.provider, message)
        self._call(self._on_status, message)

    def _call(self, callback: Callable[[Any], None] | None, arg: str | None) -> None:
        if callback is None:
            return
        try:
            callback(arg)
        except Exception:
            logger.exception("tunnel callback failed")
