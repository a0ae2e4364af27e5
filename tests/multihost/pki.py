"""A certificate authority of the test's own, and the certificates of its hosts.

Everything across hosts is TLS, verified: the browsers trust this CA through an NSS
database of their own (as a managed workstation trusts its organisation's CA), the web
hosts verify the media nodes against it (PARLOIR_JANUS_CA_FILE).
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _pem_key(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


class TestCA:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name("parloir test CA"))
            .issuer_name(_name("parloir test CA"))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )  # fmt: skip
            .sign(self.key, hashes.SHA256())
        )
        self.cert_path = folder / "ca.pem"
        self.cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, name: str, *, dns: list[str] = (), ips: list[str] = ()) -> tuple[Path, Path]:
        """A server certificate and its key, as PEM files (cert, key)."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        sans = [x509.DNSName(d) for d in dns] + [
            x509.IPAddress(ipaddress.ip_address(ip)) for ip in ips
        ]
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(
                x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
            .sign(self.key, hashes.SHA256())
        )
        cert_path = self.folder / f"{name}.pem"
        key_path = self.folder / f"{name}.key"
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        cert_path.write_bytes(cert_pem)
        key_path.write_bytes(_pem_key(key))
        key_path.chmod(0o600)
        # HAProxy wants the certificate and its key in one file.
        (self.folder / f"{name}.bundle.pem").write_bytes(cert_pem + _pem_key(key))
        return cert_path, key_path

    def nss_home(self, home: Path) -> Path:
        """A HOME whose NSS database trusts this CA: Chromium on Linux reads it there."""
        db = home / ".pki" / "nssdb"
        db.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["certutil", "-N", "-d", f"sql:{db}", "--empty-password"], check=True,
            capture_output=True,
        )  # fmt: skip
        subprocess.run(
            ["certutil", "-A", "-d", f"sql:{db}", "-t", "C,,", "-n", "parloir-test-ca",
             "-i", str(self.cert_path)],
            check=True,
            capture_output=True,
        )  # fmt: skip
        return home


def spki_hash(cert_path: Path) -> str:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    spki = cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()
