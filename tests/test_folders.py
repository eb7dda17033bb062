"""One rule for the config folder (tls.py's certificate, tunnel.py's pinned host key)."""

from __future__ import annotations

from pathlib import Path

from folders import config_dir


def test_config_dir_per_system() -> None:
    assert config_dir({"XDG_CONFIG_HOME": "/x/conf"}, "linux") == Path("/x/conf/secret-call")
    assert config_dir({}, "linux") == Path.home() / ".config" / "secret-call"
    assert config_dir({"APPDATA": "C:/Users/a/AppData/Roaming"}, "win32") == \
        Path("C:/Users/a/AppData/Roaming/secret-call")
    assert config_dir({"XDG_CONFIG_HOME": "/ignored"}, "darwin") == \
        Path.home() / "Library" / "Application Support" / "secret-call"


def test_tunnel_pins_its_host_key_in_the_config_dir(tmp_path: Path) -> None:
    import base64
    import struct

    from tunnel import Tunnel

    blob = b"".join(struct.pack(">I", len(part)) + part for part in (b"ssh-ed25519", bytes(range(32))))
    key = "ssh-ed25519 " + base64.b64encode(blob).decode()
    tunnel = Tunnel("localhost.run", 8790, env={"XDG_CONFIG_HOME": str(tmp_path), "PATH": "", "TUNNEL_HOST_KEY": key})
    path = tunnel._pinned_known_hosts()
    assert path == str(tmp_path / "secret-call" / "localhost.run_known_hosts")
