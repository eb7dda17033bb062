"""HTTPS for the LAN: the kept self-signed certificate, real certificates, and the header grade."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509

import tls
from config import Config
from conftest import BROWSER_UA, require_tool
from core import CallServer, ServerError, lan_addresses
from main import banner

@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    return tmp_path / "secret-call"


@pytest.fixture
async def tls_server(xdg: Path) -> Any:
    server = CallServer(Config(token="t", port=0, tls=True))
    await server.start()
    yield server
    await server.stop()


def client_context(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


async def test_tls_certificate_covers_local_names_and_is_private(xdg: Path) -> None:
    cert_path, key_path, replaced = tls.ensure_self_signed(xdg, ["192.168.1.20"])
    assert replaced is None
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    dns, ips = tls.covered_names(cert)
    assert "localhost" in dns and {"127.0.0.1", "192.168.1.20"} <= ips
    assert key_path.stat().st_mode & 0o077 == 0


async def test_tls_certificate_is_kept_and_reused(xdg: Path) -> None:
    first = tls.fingerprint(tls.ensure_self_signed(xdg, ["10.0.0.5"]).cert)
    assert tls.ensure_self_signed(xdg, ["10.0.0.5"]) == (xdg / tls.CERT_NAME, xdg / tls.KEY_NAME, None)
    assert tls.fingerprint(tls.ensure_self_signed(xdg, [])[0]) == first
    assert len(first.split(":")) == 32


async def test_tls_new_lan_address_remakes_the_certificate_and_says_so(
        xdg: Path, caplog: pytest.LogCaptureFixture) -> None:
    first = tls.fingerprint(tls.ensure_self_signed(xdg, ["10.0.0.5"]).cert)
    kept = tls.ensure_self_signed(xdg, ["10.0.0.6"])
    changed = tls.fingerprint(kept.cert)
    assert changed != first and kept.replaced == first
    warning = next(r.getMessage() for r in caplog.records if r.levelname == "WARNING")
    assert first in warning and changed in warning and "10.0.0.6" in warning


async def test_tls_banner_shows_the_old_and_the_new_fingerprint(xdg: Path) -> None:
    xdg.mkdir(mode=0o700)
    cert_pem, key_pem = tls.make_certificate({"localhost"}, {"127.0.0.1"})  # no ::1: it must be remade
    (xdg / tls.CERT_NAME).write_bytes(cert_pem)
    (xdg / tls.KEY_NAME).write_bytes(key_pem)
    (xdg / tls.KEY_NAME).chmod(0o600)
    old = tls.fingerprint(xdg / tls.CERT_NAME)
    server = CallServer(Config(token="t", port=0, tls=True))
    await server.start()
    try:
        text = banner(server)
    finally:
        await server.stop()
    new = tls.fingerprint(xdg / tls.CERT_NAME)
    assert new != old
    assert f"TLS certificate SHA-256: {new}" in text
    assert f"replaces SHA-256 {old}" in text and "warned again" in text


async def test_tls_kept_key_that_others_can_read_is_refused(xdg: Path) -> None:
    kept = tls.ensure_self_signed(xdg, [])
    kept.key.chmod(0o644)
    with pytest.raises(tls.TLSError) as error:
        tls.ensure_self_signed(xdg, [])
    message = str(error.value)
    assert "\n" not in message and "can be read by other users (mode 644)" in message
    assert f"chmod 600 {kept.key}" in message
    server = CallServer(Config(token="t", port=0, tls=True))
    with pytest.raises(ServerError, match="mode 644"):
        await server.start()
    kept.key.chmod(0o600)
    assert tls.ensure_self_signed(xdg, []).replaced is None


async def test_tls_folder_is_private(xdg: Path) -> None:
    tls.ensure_self_signed(xdg, [])
    assert xdg.stat().st_mode & 0o777 == 0o700
    xdg.chmod(0o755)
    (xdg / tls.CERT_NAME).unlink()
    tls.ensure_self_signed(xdg, [])
    assert xdg.stat().st_mode & 0o777 == 0o700


async def test_tls_server_speaks_https_with_hsts_and_wss(tls_server: CallServer, xdg: Path) -> None:
    assert tls_server.local_url.startswith("https://")
    context = client_context(xdg / tls.CERT_NAME)
    async with aiohttp.ClientSession() as session:
        async with session.get(tls_server.local_url, ssl=context) as response:
            assert response.status == 200
            assert response.headers["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains"
        auth = "auth." + base64.urlsafe_b64encode(b"t").decode().rstrip("=")
        origin = tls_server.local_url.rstrip("/")
        async with session.ws_connect(tls_server.local_url + "ws", ssl=context, protocols=("secret-call.v1", auth),
                                      headers={"User-Agent": BROWSER_UA, "Origin": origin}) as ws:
            assert (await ws.receive_json())["type"] == "hello"
    assert tls_server.fingerprint == tls.fingerprint(xdg / tls.CERT_NAME)


async def test_tls_real_certificate_and_key(tmp_path: Path) -> None:
    cert_pem, key_pem = tls.make_certificate({"localhost"}, {"127.0.0.1"})
    (tmp_path / "c.pem").write_bytes(cert_pem)
    (tmp_path / "k.pem").write_bytes(key_pem)
    server = CallServer(Config(token="t", port=0, cert=str(tmp_path / "c.pem"), key=str(tmp_path / "k.pem")))
    await server.start()
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(server.local_url + "healthz", ssl=client_context(tmp_path / "c.pem")) as r:
                assert r.status == 200
    finally:
        await server.stop()


async def test_tls_bad_files_are_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "junk.pem").write_text("not a certificate")
    for cert, key in ((tmp_path / "missing.pem", tmp_path / "missing.pem"), (tmp_path / "junk.pem", tmp_path / "junk.pem")):
        server = CallServer(Config(token="t", port=0, cert=str(cert), key=str(key)))
        with pytest.raises(ServerError, match="--cert/--key"):
            await server.start()


async def test_tls_headers_grade_a_plus_on_mozilla_observatory(tls_server: CallServer, xdg: Path) -> None:
    scanner = require_tool(str(Path(os.sys.executable).parent / "httpobs-local-scan"))
    env = {**os.environ, "REQUESTS_CA_BUNDLE": str(xdg / tls.CERT_NAME)}
    # The server runs on this test's loop, so the scanner must not block it.
    scan = await asyncio.create_subprocess_exec(
        scanner, "--http-port", "9", "--https-port", str(tls_server.port), "--format", "json", "127.0.0.1",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(scan.communicate(), 120)
    assert scan.returncode == 0, stderr.decode()[-2000:]
    report = json.loads(stdout)
    assert "tests" in report, report
    failing = {name: test["score_modifier"] for name, test in report["tests"].items() if test["score_modifier"] < 0}
    assert report["scan"]["score"] >= 120, (report["scan"], failing)
    assert report["scan"]["grade"] == "A+"


async def test_tls_lan_addresses_are_real_addresses() -> None:
    import ipaddress
    for address in lan_addresses():
        assert not ipaddress.ip_address(address).is_loopback
