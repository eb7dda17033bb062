"""The Python peer (aiortc) joins real calls, sends tones and measures what it hears."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import pytest

from conftest import ROOT, wait_for
from media import ToneTrack
from probe import Probe, ProbeError, loopback_only, split_invite

@pytest.fixture(autouse=True)
def loopback_candidates(monkeypatch: pytest.MonkeyPatch) -> None:
    import aioice.ice
    monkeypatch.setattr(aioice.ice, "get_host_addresses", loopback_only)


def tone(frequency: float) -> Any:
    return lambda: ToneTrack(frequency)


async def test_probe_two_probes_hear_each_others_tone(start_server: Any) -> None:
    server = start_server(capacity=2)
    low = Probe(server.invite(), name="Low", source=tone(440))
    high = Probe(server.invite(), name="High", source=tone(1000))
    try:
        await low.join()
        await high.join()
        await wait_for(lambda: all(l.meter and l.meter.seconds > 1.2 for p in (low, high) for l in p.links.values())
                       and len(low.links) == len(high.links) == 1, timeout=20, message="a second of audio each way")
        heard_by_low = low.report()[0]
        heard_by_high = high.report()[0]
        assert heard_by_low["name"] == "High" and heard_by_high["name"] == "Low"
        assert heard_by_low["state"] == "connected"
        assert abs(heard_by_low["frequency_hz"] - 1000) < 30
        assert abs(heard_by_high["frequency_hz"] - 440) < 30
        assert heard_by_low["level_dbfs"] > -30
    finally:
        await low.close()
        await high.close()


async def test_probe_three_way_mesh(start_server: Any) -> None:
    server = start_server(capacity=3)
    probes = [Probe(server.invite(), name=f"P{f}", source=tone(f)) for f in (300, 700, 1500)]
    try:
        for probe in probes:
            await probe.join()
        await wait_for(lambda: all(len(p.links) == 2 and all(l.meter and l.meter.seconds > 1.2 for l in p.links.values())
                                   for p in probes), timeout=30, message="every pair hears each other")
        for probe in probes:
            heard = sorted(round(e["frequency_hz"], -2) for e in probe.report())
            expected = sorted(round(f, -2) for f in (300, 700, 1500) if f"P{f}" != probe.name)
            assert heard == expected
    finally:
        for probe in probes:
            await probe.close()


async def test_probe_full_call_and_wrong_token_are_clear_errors(start_server: Any) -> None:
    server = start_server(capacity=2)
    first, second = Probe(server.invite()), Probe(server.invite())
    await first.join()
    await second.join()
    assert (first.name, second.name) == ("probe", f"probe {second.id[:4]}"), "one name per call"
    third = Probe(server.invite())
    with pytest.raises(ProbeError, match="full"):
        await third.join(timeout=2)
    wrong = Probe(server.url, token="not-the-token")
    with pytest.raises(ProbeError, match="token is wrong"):
        await wrong.join()
    await first.close()
    await second.close()


async def test_probe_unknown_agents_are_still_browser_only(start_server: Any) -> None:
    import aiohttp
    from probe import subprotocols

    server = start_server()
    async with aiohttp.ClientSession() as session:
        ws = await session.ws_connect(server.ws_url, protocols=subprotocols(server.token),
                                      headers={"User-Agent": "NotTheProbe/1", "Origin": server.url.rstrip("/")})
        assert (await ws.receive_json())["type"] == "browser-only"


def test_probe_invite_parsing() -> None:
    assert split_invite("http://127.0.0.1:8790/#token=a%2Fb%20c") == (
        "http://127.0.0.1:8790", "ws://127.0.0.1:8790/ws", "a/b c")
    assert split_invite("https://x.lhr.life/", "t")[1] == "wss://x.lhr.life/ws"
    for bad in ("ftp://x/#token=t", "http://x/"):
        with pytest.raises(ProbeError):
            split_invite(bad)


async def test_probe_command_line_reports_audio(start_server: Any) -> None:
    server = start_server(capacity=2)
    meters: list[Any] = []
    listener = Probe(server.invite(), name="Listener", source=tone(500),
                     on_track=lambda _id, meter: meters.append(meter))
    await listener.join()
    try:
        cli = await asyncio.create_subprocess_exec(
            sys.executable, str(ROOT / "main.py"), "probe", server.invite(), "--duration", "3", "--tone", "800",
            "--loopback", "--name", "CLI", cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        output, _ = await asyncio.wait_for(cli.communicate(), 30)
        text = output.decode()
        assert cli.returncode == 0, text
        assert "joined as" in text and "Listener" in text and "main frequency 500 Hz" in text
        assert len(meters) == 1 and meters[0].seconds > 1 and abs(meters[0].frequency() - 800) < 30
    finally:
        await listener.close()


async def test_probe_command_line_bad_token_exits_2(start_server: Any) -> None:
    server = start_server()
    cli = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "main.py"), "probe", server.url, "--token", "nope", cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(cli.communicate(), 20)
    assert cli.returncode == 2
    assert "token is wrong" in output.decode() and "Traceback" not in output.decode()
