"""HTTPS for the LAN: a self-signed certificate made with `cryptography`, kept and reused."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import logging
import os
import ssl
from pathlib import Path
from typing import Iterable, NamedTuple

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


class KeptCertificate(NamedTuple):
    """The certificate and key files in use; `replaced` is the fingerprint of the one they replaced, if any."""

    cert: Path
    key: Path
    replaced: str | None = None


def private_folder(directory: Path) -> None:
    """Create `directory` for the user alone (0700), or narrow it to that."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    if os.name != "nt" and directory.stat().st_mode & 0o077:
        os.chmod(directory, 0o700)
        logger.info("made %s private to you (mode 700)", directory)


def check_private_key(key_path: Path) -> None:
    """Refuse a kept key that other users of this computer could read (anything wider than 0600)."""
    if os.name == "nt":
        return
    mode = key_path.stat().st_mode & 0o777
    if mode & 0o077:
        raise TLSError(f"the kept TLS key {key_path} can be read by other users (mode {mode:o}); "
                       f"make it private with: chmod 600 {key_path} (or delete it to get a new certificate)")


def ensure_self_signed(directory: Path, lan_addresses: Iterable[str] = ()) -> KeptCertificate:
    """The kept certificate and key, made anew when missing, expiring, or not covering these names.

    A kept key must be private (TLSError otherwise). Replacing a kept certificate is never silent:
    it is logged with the old and the new fingerprint, and the old one is returned as `replaced`.
    """
    cert_path, key_path = directory / CERT_NAME, directory / KEY_NAME
    dns, ips = wanted_names(lan_addresses)
    old = None
    if cert_path.is_file() and key_path.is_file():
        check_private_key(key_path)
        try:
            cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        except ValueError:
            logger.warning("the kept certificate is unreadable; making a new one")
        else:
            have_dns, have_ips = covered_names(cert)
            fresh = cert.not_valid_after_utc - datetime.datetime.now(datetime.timezone.utc) > \
                datetime.timedelta(days=RENEW_BEFORE_DAYS)
            if fresh and dns <= have_dns and ips <= have_ips:
                return KeptCertificate(cert_path, key_path)
            old = fingerprint(cert_path)
            reason = "it is about to expire" if not fresh else \
                f"it does not cover {', '.join(sorted((dns - have_dns) | (ips - have_ips)))}"
    private_folder(directory)
    cert_pem, key_pem = make_certificate(dns, ips)
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key_pem)
    cert_path.write_bytes(cert_pem)
    if old is None:
        logger.info("made a self-signed certificate in %s", directory)
    else:
        logger.warning("made a new self-signed certificate, since %s: SHA-256 %s replaces %s; guests who "
                       "accepted the old one are warned again", reason, fingerprint(cert_path), old)
    return KeptCertificate(cert_path, key_path, old)


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
