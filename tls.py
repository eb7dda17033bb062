"""HTTPS for the LAN: a self-signed certificate made with `cryptography`, kept and reused."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import logging
import os
import ssl
import sys
from pathlib import Path
from typing import Iterable

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

logger = logging.getLogger(__name__)

CERT_NAME = "secret-call-cert.pem"
KEY_NAME = "secret-call-key.pem"
VALID_DAYS = 397
RENEW_BEFORE_DAYS = 30


class TLSError(RuntimeError):
    """A certificate or key cannot be used; str() is one clear line."""


def config_dir() -> Path:
    """The user's config folder for Secret-Call (XDG on Linux, AppData on Windows)."""
    if sys.platform == "win32":
        base = Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "secret-call"


def wanted_names(lan_addresses: Iterable[str]) -> tuple[set[str], set[str]]:
    """The DNS names and IP addresses the certificate must cover."""
    return {"localhost"}, {"127.0.0.1", "::1", *lan_addresses}


def covered_names(cert: x509.Certificate) -> tuple[set[str], set[str]]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    return set(san.get_values_for_type(x509.DNSName)), {str(a) for a in san.get_values_for_type(x509.IPAddress)}


def make_certificate(dns: set[str], ips: set[str]) -> tuple[bytes, bytes]:
    """A fresh P-256 key and a self-signed certificate for these names, both PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Secret-Call on this computer")])
    now = datetime.datetime.now(datetime.timezone.utc)
    san = [x509.DNSName(d) for d in sorted(dns)] + [x509.IPAddress(ipaddress.ip_address(i)) for i in sorted(ips)]
    cert = (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def ensure_self_signed(directory: Path, lan_addresses: Iterable[str] = ()) -> tuple[Path, Path]:
    """The kept certificate and key, made anew when missing, expiring, or not covering these names."""
    cert_path, key_path = directory / CERT_NAME, directory / KEY_NAME
    dns, ips = wanted_names(lan_addresses)
    if cert_path.is_file() and key_path.is_file():
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
            have_dns, have_ips = covered_names(cert)
            fresh = cert.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc) > \
                datetime.timedelta(days=RENEW_BEFORE_DAYS)
            if fresh and dns <= have_dns and ips <= have_ips:
                return cert_path, key_path
        except ValueError:
            logger.warning("the kept certificate is unreadable; making a new one")
    directory.mkdir(parents=True, exist_ok=True)
    cert_pem, key_pem = make_certificate(dns, ips)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key_pem)
    cert_path.write_bytes(cert_pem)
    logger.info("made a self-signed certificate in %s", directory)
    return cert_path, key_path


def fingerprint(cert_path: Path) -> str:
    """The certificate's SHA-256 fingerprint as browsers show it: AB:CD:…"""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def server_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    """A TLS 1.2+ server context for these files."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(str(cert_path), str(key_path))
    except FileNotFoundError as error:
        raise TLSError(f"--cert/--key: {error.filename} does not exist") from None
    except (ssl.SSLError, ValueError) as error:
        raise TLSError(f"--cert/--key: the certificate and key do not load ({error})") from None
    return context
