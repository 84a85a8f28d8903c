"""A throwaway public key infrastructure for the TLS tests, made with the openssl CLI.

One CA signs a certificate for Fovea's services and one for the DCMTK tools
that talk to them; a second, unrelated CA signs a rogue certificate that a
service verifying its callers must refuse. Every end-entity certificate names
127.0.0.1 and localhost and may serve as server and as client.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

#: X.509 v3 extensions of an end-entity certificate (openssl x509 -extfile).
END_ENTITY = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


@dataclass(frozen=True)
class KeyPair:
    """A PEM certificate and its unencrypted PEM private key."""

    certificate: Path
    private_key: Path


@dataclass(frozen=True)
class Pki:
    """The CA's certificate and the key pairs it (or the rogue CA) signed."""

    ca: Path
    fovea: KeyPair
    dcmtk: KeyPair
    rogue: KeyPair


def make_pki(folder: Path) -> Pki:
    """Create the CAs and certificates in ``folder``; skip the test without openssl."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("the openssl command is not installed")
    ca = _authority(openssl, folder, "ca", "Fovea Test CA")
    rogue_ca = _authority(openssl, folder, "rogue-ca", "Rogue CA")
    return Pki(
        ca=ca.certificate,
        fovea=_end_entity(openssl, folder, "fovea", ca),
        dcmtk=_end_entity(openssl, folder, "dcmtk", ca),
        rogue=_end_entity(openssl, folder, "rogue", rogue_ca),
    )


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=60)


def _authority(openssl: str, folder: Path, name: str, common_name: str) -> KeyPair:
    pair = KeyPair(folder / f"{name}.crt", folder / f"{name}.key")
    _run(openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-keyout", str(pair.private_key), "-out", str(pair.certificate),
         "-subj", f"/CN={common_name}",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    return pair


def _end_entity(openssl: str, folder: Path, name: str, authority: KeyPair) -> KeyPair:
    pair = KeyPair(folder / f"{name}.crt", folder / f"{name}.key")
    request = folder / f"{name}.csr"
    extensions = folder / f"{name}.ext"
    extensions.write_text(END_ENTITY)
    _run(openssl, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(pair.private_key),
         "-out", str(request), "-subj", f"/CN={name}")
    _run(openssl, "x509", "-req", "-in", str(request), "-days", "2",
         "-CA", str(authority.certificate), "-CAkey", str(authority.private_key),
         "-set_serial", str(secrets.randbits(62) + 1), "-extfile", str(extensions),
         "-out", str(pair.certificate))
    return pair


def enable_tls(network_file: Path, pki: Pki, nodes: tuple[str, ...],
               verify_clients: bool = True) -> Path:
    """Mark ``nodes`` of a network file ``tls = true`` and add an enabled ``[tls]``
    table naming the Fovea key pair and the CA; returns the file."""
    text = network_file.read_text()
    for name in nodes:
        table = f"[nodes.{name}]\n"
        if table not in text:
            raise ValueError(f"{network_file} has no node {name!r}")
        text = text.replace(table, f"{table}tls = true\n")
    network_file.write_text(text + f"""
[tls]
enabled = true
certificate = "{pki.fovea.certificate}"
private_key = "{pki.fovea.private_key}"
ca_certificates = "{pki.ca}"
verify_clients = {str(verify_clients).lower()}
""")
    return network_file


def tls_options(pair: KeyPair | None, pki: Pki) -> list[str]:
    """A DCMTK tool's options to speak TLS with ``pair`` (``None``: no certificate)
    and to trust the test CA."""
    identity = ["+tla"] if pair is None else ["+tls", str(pair.private_key), str(pair.certificate)]
    return [*identity, "+cf", str(pki.ca)]
