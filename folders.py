"""Where Secret-Call keeps its files: one config folder per user, the same rule on every system."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Mapping


def config_dir(env: Mapping[str, str] | None = None, platform: str = sys.platform) -> Path:
    """The user's config folder for Secret-Call: AppData on Windows, Application Support on macOS,
    XDG_CONFIG_HOME (else ~/.config) elsewhere."""
    env = os.environ if env is None else env
    if platform == "win32":
        base = Path(env.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "secret-call"
