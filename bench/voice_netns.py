"""A private network namespace for the voice benchmark, and packet loss made by iptables inside it.

The namespace gets its own loopback and one veth link to this namespace (a /30 out of
198.18.0.0/15, both ends): the servers listen on this side's address, and Chromium runs inside the
namespace (through a wrapper script that is Playwright's executable), where both pages of a call
send their RTP to each other over the namespace's own loopback. Every UDP packet that arrives there
passes the namespace's INPUT chain, and that is where the loss is made, so it hits both directions of
a call, RTP, RTCP, STUN and DTLS alike, and nothing outside the namespace. The kernel has no netem:

- random loss: `-m statistic --mode random --probability P -j DROP`;
- bursty loss (a Gilbert model): each flow direction carries a state bit in its conntrack mark. In
  the good state a packet starts a burst with probability p (and is dropped); in a burst every packet
  is dropped, and each ends the burst with probability 1/L (and passes). Bursts then last L packets on
  average, and the loss rate is about L / (1/p + L).

Names carry this process's id, so namespaces left behind by a killed run are found and removed.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import random
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

logger = logging.getLogger(__name__)

PREFIX = "scvoice"
BENCH_RANGE = ipaddress.ip_network("198.18.0.0/15")
CHAIN = "VOICE_LOSS"
CHROMIUM = "/usr/bin/chromium"


class NetnsError(RuntimeError):
    """The namespace could not be made (not root, no `ip` or `iptables`)."""


@dataclass(frozen=True)
class Loss:
    """A loss pattern: `random` drops each packet with `rate`; `bursty` makes bursts of `burst` packets."""

    kind: str  # "none", "random" or "bursty"
    rate: float = 0.0
    burst: float = 1.0

    @property
    def label(self) -> str:
        if self.kind == "none" or self.rate == 0:
            return "0 %"
        if self.kind == "random":
            return f"{self.rate:.0%} random"
        return f"{self.rate:.0%} bursty (bursts of {self.burst:g})"

    def rules(self) -> list[list[str]]:
        """The iptables rules (arguments after `iptables`) that make this loss in CHAIN."""
        if self.kind == "none" or self.rate <= 0:
            return []
        if self.kind == "random":
            return [["-A", CHAIN, "-m", "statistic", "--mode", "random", "--probability", f"{self.rate:.4f}",
                     "-j", "DROP"]]
        if self.kind != "bursty":
            raise ValueError(f"unknown loss kind {self.kind!r}")
        start = 1 / (self.burst * (1 / self.rate - 1))  # from rate = L / (1/p + L)
        rules = []
        for direction, bit in (("ORIGINAL", "0x1"), ("REPLY", "0x2")):
            flag = f"{bit}/{bit}"
            match = ["-m", "conntrack", "--ctdir", direction]
            rules += [
                ["-A", CHAIN, *match, "-m", "connmark", "--mark", flag, "-m", "statistic", "--mode", "random",
                 "--probability", f"{1 / self.burst:.4f}", "-j", "CONNMARK", "--set-xmark", f"0x0/{bit}"],
                ["-A", CHAIN, *match, "-m", "connmark", "--mark", flag, "-j", "DROP"],
                ["-A", CHAIN, *match, "-m", "statistic", "--mode", "random", "--probability", f"{start:.4f}",
                 "-j", "CONNMARK", "--set-xmark", flag],
                ["-A", CHAIN, *match, "-m", "connmark", "--mark", flag, "-j", "DROP"],
            ]
        return rules


def _run(*argv: str) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    if result.returncode != 0:
        raise NetnsError(f"{' '.join(argv)}: {result.stderr.strip() or result.returncode}")
    return result.stdout


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale() -> None:
    """Remove the namespaces (and their links) of earlier runs whose process is gone."""
    with contextlib.suppress(NetnsError, OSError):
        for line in _run("ip", "netns", "list").splitlines():
            match = re.match(rf"({PREFIX}-(\d+)-[0-9a-f]+)\b", line)
            if match and not _alive(int(match.group(2))):
                logger.info("removing the stale namespace %s", match.group(1))
                with contextlib.suppress(NetnsError):
                    _run("ip", "netns", "del", match.group(1))


def _used_networks() -> list[ipaddress.IPv4Network]:
    used: list[ipaddress.IPv4Network] = []
    for line in _run("ip", "-o", "-4", "addr", "show").splitlines():
        match = re.search(r"inet (\S+)", line)
        if match:
            used.append(ipaddress.IPv4Interface(match.group(1)).network)
    for line in _run("ip", "-4", "route", "show").splitlines():
        with contextlib.suppress(ValueError):
            used.append(ipaddress.IPv4Network(line.split()[0], strict=False))
    return used


class Namespace:
    """A network namespace with a veth link to ours: `host` is our end, `inside` the namespace's."""

    def __init__(self) -> None:
        tag = f"{random.getrandbits(24):06x}"
        self.name = f"{PREFIX}-{os.getpid()}-{tag}"
        self.outer_link = f"svh{tag}"
        self.inner_link = f"svn{tag}"
        self.host = ""
        self.inside = ""
        self.wrapper: Path | None = None
        self._created = False
        self.loss = Loss("none")

    def _pick_subnet(self) -> ipaddress.IPv4Network:
        used = _used_networks()
        for _ in range(200):
            offset = random.randrange(BENCH_RANGE.num_addresses // 4) * 4
            net = ipaddress.IPv4Network(f"{BENCH_RANGE.network_address + offset}/30")
            if not any(net.overlaps(other) for other in used if other.prefixlen > 0):
                return net
        raise NetnsError("no free /30 in 198.18.0.0/15")

    def ns(self, *argv: str) -> str:
        """Run a command inside the namespace."""
        return _run("ip", "netns", "exec", self.name, *argv)

    def create(self) -> "Namespace":
        for tool in ("ip", "iptables"):
            if not shutil.which(tool):
                raise NetnsError(f"`{tool}` is missing (Debian: apt-get install iproute2 iptables)")
        if os.geteuid() != 0:
            raise NetnsError("network namespaces need root")
        remove_stale()
        subnet = self._pick_subnet()
        host, inside = list(subnet.hosts())
        self.host, self.inside = str(host), str(inside)
        _run("ip", "netns", "add", self.name)
        self._created = True
        _run("ip", "link", "add", self.outer_link, "type", "veth", "peer", "name", self.inner_link)
        _run("ip", "link", "set", self.inner_link, "netns", self.name)
        _run("ip", "addr", "add", f"{self.host}/30", "dev", self.outer_link)
        _run("ip", "link", "set", self.outer_link, "up")
        self.ns("ip", "link", "set", "lo", "up")
        self.ns("ip", "addr", "add", f"{self.inside}/30", "dev", self.inner_link)
        self.ns("ip", "link", "set", self.inner_link, "up")
        self.ns("iptables", "-N", CHAIN)
        self.ns("iptables", "-A", "INPUT", "-p", "udp", "-j", CHAIN)
        self.wrapper = self._write_wrapper()
        logger.info("namespace %s: %s (here) — %s (inside)", self.name, self.host, self.inside)
        return self

    def _write_wrapper(self) -> Path:
        handle, name = tempfile.mkstemp(prefix=f"{self.name}-", suffix="-chromium")
        with os.fdopen(handle, "w") as script:
            script.write(f'#!/bin/sh\nexec ip netns exec {self.name} {CHROMIUM} "$@"\n')
        path = Path(name)
        path.chmod(0o700)
        return path

    def set_loss(self, loss: Loss) -> None:
        """Replace the loss rules; conntrack marks of a previous bursty pattern are dropped too."""
        self.ns("iptables", "-F", CHAIN)
        with contextlib.suppress(NetnsError):  # conntrack(8) may be missing; marks then age out
            if shutil.which("conntrack"):
                self.ns("conntrack", "-F")
        for rule in loss.rules():
            self.ns("iptables", *rule)
        self.loss = loss

    def dropped(self) -> int:
        """Packets the loss rules have dropped since they were set."""
        total = 0
        for line in self.ns("iptables", "-L", CHAIN, "-v", "-n", "-x").splitlines():
            fields = line.split()
            if len(fields) > 2 and fields[2] == "DROP":
                total += int(fields[0])
        return total

    def remove(self) -> None:
        if self.wrapper is not None:
            with contextlib.suppress(OSError):
                self.wrapper.unlink()
            self.wrapper = None
        if self._created:
            with contextlib.suppress(NetnsError):
                _run("ip", "netns", "del", self.name)
            self._created = False
        with contextlib.suppress(NetnsError):  # deleting the namespace deletes both veth ends; just in case
            if self.outer_link in _run("ip", "-o", "link", "show"):
                _run("ip", "link", "del", self.outer_link)


@contextlib.contextmanager
def namespace() -> Iterator[Namespace]:
    """A fresh namespace for the block, removed afterwards whatever happens."""
    ns = Namespace()
    try:
        yield ns.create()
    finally:
        ns.remove()
