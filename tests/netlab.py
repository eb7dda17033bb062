"""A NAT lab from Linux network namespaces: an internet segment, home routers, coturn, real Chromium inside.

    inet (namespace, bridge br0 198.18.0.0/24)
      198.18.0.1  the Secret-Call server        198.18.0.2  coturn (STUN and TURN)
      198.18.0.1N router N's public (WAN) address, one veth per router on br0
    router N (namespace): wan 198.18.0.1N  ⇄  lan 198.19.N.1, NAT between them
    home N   (namespace): eth0 198.19.N.2, default route via the router; Chromium runs here

Only addresses from 198.18.0.0/15 (RFC 2544, set aside for network tests). The homes have no route
to each other's LAN: the only ways across are the routers' public addresses and the relay.

What the router kinds do:
- "cone": MASQUERADE. Linux keeps the source port for every destination (endpoint-independent
  mapping) and lets in only replies to flows in its conntrack table (port-restricted filtering).
- "symmetric": MASQUERADE --random-fully: a fresh random port for every destination, so the
  address STUN saw is useless to the peer (address- and port-dependent mapping).
- "udp-blocked": a corporate firewall: NAT as "cone", but every outgoing UDP packet is dropped.

Every router also DROPs unsolicited packets to itself in INPUT. That is what a home router does,
and it matters for hole punching: a peer's check that arrives before our own outgoing packet would
otherwise leave an (unreplied) conntrack entry for routerIP:port, and the later outgoing flow, whose
reply tuple collides with it, gets NATed to another port, which breaks the cone behaviour. A packet
dropped in INPUT never has its conntrack entry confirmed, so no such entry is left behind.

Namespaces are named `scnl-<pid>-<random>-<role>`: parallel runs never collide, and `clean_stale()`
removes the ones whose process is gone (a run killed before its teardown). Veth ends are created
straight inside their namespaces, so no interface name is ever taken in the host's namespace.

Learned on the way (Debian 12, Chromium 156, coturn 4.6.1):
- Chromium runs in a namespace through a wrapper that execs `ip netns exec NS /usr/bin/chromium`;
  Playwright drives it over pipes, so nothing of the browser's own needs the network.
- Chromium still sends DNS queries to the host's resolver (from /etc/resolv.conf); the routers drop
  whatever is not for 198.18.0.0/15, so nothing leaves the lab.
- With the microphone granted, Chromium's host candidates carry the real LAN address (no mDNS).
- When no candidate pair works, Chromium reports "failed" after about 15 s, on one side only: that
  side restarts ICE, which restarts the other side's checks too, so the other never sees "failed".
- coturn 4.6 logs no "listener opened" line at the default verbosity; `ss` shows when it listens.
  Its "socket: Protocol not supported" lines are its SCTP listener, absent from this kernel.
- coturn closes a whole allocation when a send on its relay socket fails (ENETUNREACH towards a
  home's LAN address, which every relayed ICE check to a host candidate is): the internet namespace
  therefore has a default route into a veth that swallows packets silently.
- Relay to relay on the same coturn (both peers relayed) goes over the namespace's loopback and works.
- The app's own coturn (`--turn`) listens on SERVER_IP:3478, beside the lab's on TURN_IP:3478, and
  relays from SERVER_IP. Its denied-peer-ip once held "::-::1", which coturn 4.6 reads as "every
  IPv4 address too" (its log says "A peer IP … denied in the range: ::-::1"): see coturn.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal, Sequence
from urllib.parse import quote

logger = logging.getLogger(__name__)

PREFIX = "scnl-"
ROOT = Path(__file__).resolve().parent.parent
LAB_RANGE = "198.18.0.0/15"
SERVER_IP = "198.18.0.1"
TURN_IP = "198.18.0.2"
SINK_GATEWAY = "198.18.255.254"
TURN_PORT = 3478
# The lab's own namespace holds nothing else, so a fixed port cannot collide with anything; it is
# fixed because Chromium's --unsafely-treat-insecure-origin-as-secure needs the origin at launch.
SERVER_PORT = 8790
SERVER_ORIGIN = f"http://{SERVER_IP}:{SERVER_PORT}"
RELAY_PORTS = (49160, 49400)
TURN_REALM = "lab.secret-call.test"

Kind = Literal["cone", "symmetric", "udp-blocked"]


class LabError(RuntimeError):
    """The lab could not be built or a process in it did not start."""


def run(args: Sequence[str], *, check: bool = True, input: str | None = None) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(list(args), capture_output=True, text=True, input=input, timeout=30)
    if check and result.returncode != 0:
        raise LabError(f"{' '.join(args)} failed ({result.returncode}): {result.stderr.strip()[:500]}")
    return result


def in_ns(ns: str, *args: str) -> list[str]:
    return ["ip", "netns", "exec", ns, *args]


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_process(process: subprocess.Popen[str] | subprocess.Popen[bytes], timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL: always by the process's own id."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=timeout)


def delete_namespace(name: str) -> None:
    """Kill what still runs in a namespace (by pid), then delete it."""
    pids = run(["ip", "netns", "pids", name], check=False).stdout.split()
    for pid in pids:
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (ProcessLookupError, ValueError):
            pass
    run(["ip", "netns", "del", name], check=False)


def stale(name: str) -> bool:
    """A lab name (`scnl-<pid>-…`) whose run is gone."""
    pid_text = name[len(PREFIX):].split("-", 1)[0]
    return name.startswith(PREFIX) and not (pid_text.isdigit() and pid_alive(int(pid_text)))


def clean_stale() -> list[str]:
    """Delete lab namespaces and work folders left by runs killed before their teardown."""
    removed = []
    for line in run(["ip", "netns", "list"], check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if stale(name):
            delete_namespace(name)
            removed.append(name)
    for folder in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        if stale(folder.name):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(str(folder))
    return removed


def rest_credential(secret: str, username: str) -> str:
    """The TURN REST credential coturn's use-auth-secret expects for `username`: base64(HMAC-SHA1).
    Written out here, not taken from turn.py, so the lab checks the server against the convention."""
    return base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode()


class OutputLog:
    """Drains a process's output on a thread (so the pipe never fills) and keeps its lines."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self.changed = threading.Condition()
        self.thread = threading.Thread(target=self.pump, args=(stream,), daemon=True)
        self.thread.start()

    def pump(self, stream: IO[str]) -> None:
        for line in stream:
            with self.changed:
                self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def wait_for(self, text: str, process: subprocess.Popen[str], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not any(text in line for line in self.lines):
                if process.poll() is not None and not self.thread.is_alive():
                    raise LabError(f"{what} exited ({process.returncode}): {self.tail()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise LabError(f"{what} did not say {text!r} within {timeout} s: {self.tail()}")
                self.changed.wait(min(left, 0.2))

    def tail(self, count: int = 15) -> str:
        return " | ".join(self.lines[-count:])


@dataclass
class Home:
    """One home network: a LAN namespace behind a router namespace."""

    label: str
    kind: Kind
    index: int
    router: str
    lan: str

    @property
    def public_ip(self) -> str:
        return f"198.18.0.{10 + self.index}"

    @property
    def lan_ip(self) -> str:
        return f"198.19.{self.index}.2"


def router_rules(kind: Kind) -> str:
    """The router's iptables-restore input for one kind of NAT."""
    masquerade = "-A POSTROUTING -o wan -j MASQUERADE" + (" --random-fully" if kind == "symmetric" else "")
    # Nothing leaves the lab's range: Chromium's DNS queries to the host's resolver stop here.
    forward = [f"-A FORWARD -i lan ! -d {LAB_RANGE} -j DROP",
               "-A FORWARD -i wan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
               "-A FORWARD -i wan -j DROP"]
    if kind == "udp-blocked":
        forward.insert(0, "-A FORWARD -i lan -p udp -j DROP")
    return "\n".join([
        "*nat", ":PREROUTING ACCEPT [0:0]", ":INPUT ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
        ":POSTROUTING ACCEPT [0:0]", masquerade, "COMMIT",
        "*filter", ":INPUT ACCEPT [0:0]", ":FORWARD ACCEPT [0:0]", ":OUTPUT ACCEPT [0:0]",
        "-A INPUT -i wan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
        "-A INPUT -i wan -j DROP", *forward, "COMMIT", "",
    ])


@dataclass
class Lab:
    """The namespaces, links and NAT rules; `up()` builds them and `down()` removes every trace."""

    kinds: dict[str, Kind]
    tag: str = field(default_factory=lambda: f"{PREFIX}{os.getpid()}-{secrets.token_hex(2)}")
    homes: dict[str, Home] = field(default_factory=dict)
    namespaces: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[str]] = field(default_factory=list)
    workdir: Path | None = None

    @property
    def inet(self) -> str:
        return f"{self.tag}-inet"

    def up(self) -> "Lab":
        for tool in ("ip", "iptables-restore"):
            if not shutil.which(tool):
                raise LabError(f"{tool} is missing (Debian: apt-get install iproute2 iptables)")
        if os.geteuid() != 0:
            raise LabError("the NAT lab needs root (network namespaces and iptables)")
        self.workdir = Path(tempfile.mkdtemp(prefix=f"{self.tag}-"))
        try:
            self.build()
        except BaseException:
            self.down()
            raise
        logger.info("NAT lab %s is up: %s", self.tag, ", ".join(f"{h.label} ({h.kind})" for h in self.homes.values()))
        return self

    def add_namespace(self, name: str) -> None:
        run(["ip", "netns", "add", name])
        self.namespaces.append(name)
        # No IPv6: the lab is IPv4 only, and Chromium's fe80:: candidates would only add noise.
        run(in_ns(name, "sh", "-c", "ip link set lo up; sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "
                                    "net.ipv6.conf.default.disable_ipv6=1"))

    def build(self) -> None:
        self.add_namespace(self.inet)
        ip_inet = ["ip", "-n", self.inet]
        run([*ip_inet, "link", "add", "br0", "type", "bridge"])
        run([*ip_inet, "addr", "add", f"{SERVER_IP}/24", "dev", "br0"])
        run([*ip_inet, "addr", "add", f"{TURN_IP}/24", "dev", "br0"])
        run([*ip_inet, "link", "set", "br0", "up"])
        # The internet's default route leads into a veth whose far end ignores everything (no
        # such MAC): packets vanish without an error, as a packet to a private address does on
        # the real internet. Without it coturn's relayed checks towards the homes' LAN addresses
        # fail with ENETUNREACH, and coturn 4.6 answers a send error on a relay socket by closing
        # the whole allocation. (This kernel has no "dummy" device; a permanent neighbour entry
        # keeps ARP from failing, which would turn into EHOSTUNREACH.)
        run([*ip_inet, "link", "add", "sink", "type", "veth", "peer", "name", "sink-end"])
        run([*ip_inet, "link", "set", "sink", "up"])
        run([*ip_inet, "link", "set", "sink-end", "up"])
        run([*ip_inet, "neigh", "add", SINK_GATEWAY, "lladdr", "02:00:00:00:00:01", "dev", "sink", "nud", "permanent"])
        run([*ip_inet, "route", "add", "default", "via", SINK_GATEWAY, "dev", "sink", "onlink"])
        for index, (label, kind) in enumerate(self.kinds.items(), start=1):
            home = Home(label, kind, index, router=f"{self.tag}-r{index}", lan=f"{self.tag}-h{index}")
            self.add_namespace(home.router)
            self.add_namespace(home.lan)
            run(["ip", "link", "add", "wan", "netns", home.router, "type", "veth",
                 "peer", "name", f"r{index}", "netns", self.inet])
            run(["ip", "link", "add", "lan", "netns", home.router, "type", "veth",
                 "peer", "name", "eth0", "netns", home.lan])
            run([*ip_inet, "link", "set", f"r{index}", "master", "br0", "up"])
            run(in_ns(home.router, "sh", "-c", " && ".join([
                f"ip addr add {home.public_ip}/24 dev wan", "ip link set wan up",
                f"ip addr add 198.19.{index}.1/24 dev lan", "ip link set lan up",
                f"ip route add default via {SERVER_IP}", "sysctl -qw net.ipv4.ip_forward=1"])))
            run(in_ns(home.router, "iptables-restore"), input=router_rules(kind))
            run(in_ns(home.lan, "sh", "-c", " && ".join([
                f"ip addr add {home.lan_ip}/24 dev eth0", "ip link set eth0 up",
                f"ip route add default via 198.19.{index}.1"])))
            self.homes[label] = home

    def set_kind(self, label: str, kind: Kind) -> None:
        """Give a home's router other NAT rules. Flows it already tracks keep their mapping, and
        every new page opens new ports, so tests can share the lab and change kinds in between."""
        home = self.homes[label]
        if home.kind != kind:
            run(in_ns(home.router, "iptables-restore"), input=router_rules(kind))
            home.kind = kind

    def down(self) -> None:
        for process in reversed(self.processes):
            stop_process(process)
        self.processes.clear()
        for name in reversed(self.namespaces):
            delete_namespace(name)
        self.namespaces.clear()
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def popen(self, ns: str, args: Sequence[str], *, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
        process = subprocess.Popen(in_ns(ns, *args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                   env=env, cwd=ROOT)
        self.processes.append(process)
        return process

    def stop(self, process: subprocess.Popen[str]) -> None:
        stop_process(process)
        if process in self.processes:
            self.processes.remove(process)

    def listeners(self, address: str, port: int) -> set[str]:
        """The protocols ("udp", "tcp") listening on address:port in the internet namespace."""
        sockets = run(in_ns(self.inet, "ss", "-Hlnut"), check=False).stdout
        return {line.split()[0] for line in sockets.splitlines() if f" {address}:{port} " in line}

    def chromium_wrapper(self, home: str) -> Path:
        """A script Playwright can launch as `executable_path`: Chromium inside the home's namespace."""
        assert self.workdir is not None
        path = self.workdir / f"chromium-{home}"
        path.write_text(f'#!/bin/sh\nexec ip netns exec {self.homes[home].lan} /usr/bin/chromium "$@"\n')
        path.chmod(0o755)
        return path


@dataclass
class Coturn:
    """coturn in the lab's internet namespace, with use-auth-secret (TURN REST credentials)."""

    lab: Lab
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    process: subprocess.Popen[str] | None = None
    log: OutputLog | None = None

    def config(self, directory: Path) -> str:
        # coturn in a namespace: listening-ip and relay-ip must be addresses of that namespace, or it
        # falls back to listening on every address it finds. The user database defaults to
        # /var/lib/turn/turndb, shared with any other coturn on the machine: give it its own file.
        # no-dtls/no-tls: no certificate here, and coturn would otherwise warn about each.
        # The lab's private 198.18.0.0/15 peers are left allowed (a real deployment denies its LAN).
        return "\n".join([
            f"listening-ip={TURN_IP}", f"relay-ip={TURN_IP}", f"listening-port={TURN_PORT}",
            f"min-port={RELAY_PORTS[0]}", f"max-port={RELAY_PORTS[1]}",
            "use-auth-secret", f"static-auth-secret={self.secret}", f"realm={TURN_REALM}",
            "fingerprint", "no-cli", "no-multicast-peers", "no-tls", "no-dtls", "no-software-attribute",
            "denied-peer-ip=0.0.0.0-0.255.255.255", "denied-peer-ip=127.0.0.0-127.255.255.255",
            f"userdb={directory / 'turndb'}", f"pidfile={directory / 'turnserver.pid'}",
            "log-file=stdout", "simple-log", "",
        ])

    def start(self) -> "Coturn":
        if not shutil.which("turnserver"):
            raise LabError("turnserver is missing (Debian: apt-get install coturn)")
        assert self.lab.workdir is not None
        directory = self.lab.workdir / "coturn"
        directory.mkdir(exist_ok=True)
        conf = directory / "turnserver.conf"
        conf.write_text(self.config(directory))
        conf.chmod(0o600)
        self.process = self.lab.popen(self.lab.inet, ["turnserver", "-c", str(conf)])
        assert self.process.stdout is not None
        self.log = OutputLog(self.process.stdout)
        # coturn 4.6 does not log its listeners at the default verbosity: ask the kernel instead.
        deadline = time.monotonic() + 15
        while not self.listening():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise LabError(f"turnserver is not listening on {TURN_IP}:{TURN_PORT}: {self.log.tail()}")
            time.sleep(0.05)
        return self

    def listening(self) -> bool:
        """Both the UDP and the TCP listener are bound."""
        return self.lab.listeners(TURN_IP, TURN_PORT) == {"udp", "tcp"}

    def stop(self) -> None:
        if self.process is not None:
            self.lab.stop(self.process)
            self.process = None

    @property
    def stun_url(self) -> str:
        return f"stun:{TURN_IP}:{TURN_PORT}"

    @staticmethod
    def turn_url(transport: str | None = None) -> str:
        return f"turn:{TURN_IP}:{TURN_PORT}" + (f"?transport={transport}" if transport else "")

    def turn_env(self, *transports: str | None, secret: str | None = None) -> dict[str, str]:
        """The server's real configuration for this coturn: TURN_URLS (one URL per transport, None
        for the plain UDP URL) and TURN_SECRET (this coturn's static-auth-secret unless `secret`)."""
        return {"TURN_URLS": ",".join(self.turn_url(t) for t in transports), "TURN_SECRET": secret or self.secret}


@dataclass
class CallServerProcess:
    """`main.py --headless` in the internet namespace, on SERVER_IP:SERVER_PORT."""

    lab: Lab
    token: str
    env: dict[str, str]
    args: Sequence[str] = ()
    process: subprocess.Popen[str] | None = None
    log: OutputLog | None = None

    def start(self) -> "CallServerProcess":
        # Only what the test sets: no setting of the host's environment (ICE_SERVERS, …) leaks in.
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/root"),
               "PYTHONUNBUFFERED": "1", "ALLOWED_ORIGINS": SERVER_ORIGIN,
               "ALLOWED_HOSTS": SERVER_IP, **self.env}
        python = str(ROOT / ".venv" / "bin" / "python")
        self.process = self.lab.popen(self.lab.inet, [python, "main.py", "--headless", "--host", SERVER_IP,
                                                      "--port", str(SERVER_PORT), "--token", self.token,
                                                      *self.args], env=env)
        assert self.process.stdout is not None
        self.log = OutputLog(self.process.stdout)
        # The banner's last line: the relay self-test has run and its line is printed.
        self.log.wait_for("Press Ctrl+C to stop.", self.process, 30, "the Secret-Call server")
        return self

    def banner_relay(self) -> str | None:
        """The headless banner's "TURN relay: …" result, None if it has no such line."""
        assert self.log is not None
        prefix = "  TURN relay: "
        return next((line[len(prefix):] for line in self.log.lines if line.startswith(prefix)), None)

    def status(self, home: Home) -> dict[str, object]:
        """GET /status with X-Status-Secret (the env's STATUS_SECRET), from inside a home, through its NAT."""
        script = ("import sys, urllib.request; request = urllib.request.Request(sys.argv[1], "
                  "headers={'X-Status-Secret': sys.argv[2]}); "
                  "print(urllib.request.urlopen(request, timeout=10).read().decode())")
        python = str(ROOT / ".venv" / "bin" / "python")
        answer = run(in_ns(home.lan, python, "-c", script, f"{SERVER_ORIGIN}/status", self.env["STATUS_SECRET"]))
        return json.loads(answer.stdout)

    def stop(self) -> None:
        if self.process is not None:
            self.lab.stop(self.process)
            self.process = None

    def invite(self) -> str:
        return f"{SERVER_ORIGIN}/#token={quote(self.token, safe='')}"


@dataclass
class Capture:
    """tcpdump on one namespace's interface into a pcap file; `count()` after `stop()`."""

    lab: Lab
    ns: str
    interface: str
    bpf: str
    path: Path
    process: subprocess.Popen[str] | None = None

    def start(self) -> "Capture":
        if not shutil.which("tcpdump"):
            raise LabError("tcpdump is missing (Debian: apt-get install tcpdump)")
        # --immediate-mode hands each packet over at once (libpcap otherwise holds it in a kernel
        # block for up to a second, and a stop within that second loses it); -U writes it at once;
        # "listening on" on stderr means the filter is attached.
        # -Z root: tcpdump would otherwise drop to its own user, which cannot write to our folder.
        self.process = self.lab.popen(self.ns, ["tcpdump", "-n", "--immediate-mode", "-U", "-Z", "root", "-i", self.interface,
                                                "-w", str(self.path), self.bpf])
        assert self.process.stdout is not None
        OutputLog(self.process.stdout).wait_for("listening on", self.process, 10, "tcpdump")
        return self

    def stop(self) -> int:
        if self.process is not None:
            self.lab.stop(self.process)
            self.process = None
        return self.count()

    def count(self) -> int:
        """Packets in the pcap file (classic format: a 24-byte header, then a 16-byte header per packet)."""
        data = self.path.read_bytes() if self.path.exists() else b""
        offset, packets = 24, 0
        while offset + 16 <= len(data):
            captured = struct.unpack_from("<I", data, offset + 8)[0]
            offset += 16 + captured
            packets += 1
        return packets


def capture_between(lab: Lab, a: str, b: str) -> list[Capture]:
    """A capture on each of the two homes' routers (WAN side) of packets between their public addresses."""
    assert lab.workdir is not None
    bpf = f"host {lab.homes[a].public_ip} and host {lab.homes[b].public_ip}"
    return [Capture(lab, lab.homes[h].router, "wan", bpf, lab.workdir / f"{h}-{secrets.token_hex(3)}.pcap").start()
            for h in (a, b)]
