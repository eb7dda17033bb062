"""What a failed bind means, the same on Linux, macOS and Windows."""

from __future__ import annotations

import errno

# Windows reports a busy port as WSAEADDRINUSE (10048), not as the C library's EADDRINUSE.
_IN_USE = {errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", 10048)}


def address_in_use(error: OSError) -> bool:
    """True when `error` says another socket already holds the address and port."""
    return error.errno in _IN_USE or getattr(error, "winerror", None) in _IN_USE
