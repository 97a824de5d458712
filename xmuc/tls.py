# -*- test-case-name: tests.test_tls -*-
"""
Certificates and server TLS contexts.

A node without a configured certificate generates a self-signed one for its
domain (and its subdomains) in its data directory on first start.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass, field
from typing import Any, Mapping

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from OpenSSL import SSL, crypto
from OpenSSL._util import lib as _lib
from twisted.internet.interfaces import IOpenSSLServerConnectionCreator
from zope.interface import implementer

from xmuc.c2s.sasl import channelBindingData


def generateCertificate(domain: str, certPath: str, keyPath: str, days: int = 3650) -> None:
    """
    Write a self-signed certificate for C{domain} and C{*.domain} (DNS
    SANs) and its private key (mode 0600, also when replacing a key file).
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domain)])
    now = datetime.datetime.now(datetime.timezone.utc)
    san = x509.SubjectAlternativeName(
        [x509.DNSName(domain), x509.DNSName(f"*.{domain}")]
    )
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(san, critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    for path in (certPath, keyPath):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    keyBytes = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(keyPath, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(keyBytes)
    with open(certPath, "wb") as f:
        f.write(certificate.public_bytes(serialization.Encoding.PEM))


def makeContext(method: int, certPath: str, keyPath: str, options: int) -> SSL.Context:
    """
    A TLS context presenting the node's certificate chain, TLS 1.2 or
    newer, without compression; idle connections release their read and
    write buffers (C{MODE_RELEASE_BUFFERS}), which keeps an idle TLS
    session small.
    """
    context = SSL.Context(method)
    context.set_min_proto_version(SSL.TLS1_2_VERSION)
    context.set_options(SSL.OP_NO_COMPRESSION | options)
    context.set_mode(SSL.MODE_RELEASE_BUFFERS)
    context.use_certificate_chain_file(certPath)
    context.use_privatekey_file(keyPath)
    context.check_privatekey()
    return context


def selectALPN(context: SSL.Context, protocols: tuple[bytes, ...]) -> None:
    """
    On a server context, accept the first protocol the client offers that
    is among C{protocols}.
    """

    def select(connection: SSL.Connection, offered: list[bytes]) -> bytes:
        for name in offered:
            if name in protocols:
                return name
        return SSL.NO_OVERLAPPING_PROTOCOLS

    context.set_alpn_select_callback(select)


@implementer(IOpenSSLServerConnectionCreator)
class ServerContextFactory:
    """
    A client-to-server TLS context built once from a certificate chain and
    key (L{makeContext}).
    """

    def __init__(self, certPath: str, keyPath: str, alpn: tuple[bytes, ...] = ()) -> None:
        context = makeContext(
            SSL.TLS_SERVER_METHOD, certPath, keyPath, SSL.OP_CIPHER_SERVER_PREFERENCE
        )
        if alpn:
            selectALPN(context, alpn)
        self._context = context

    def getContext(self) -> SSL.Context:
        return self._context

    def serverConnectionForTLS(self, tlsProtocol: object) -> SSL.Connection:
        return SSL.Connection(self._context, None)


def loadCertificateBinding(certPath: str) -> bytes:
    """
    The tls-server-end-point channel binding data of the first certificate
    in a PEM file.
    """
    with open(certPath, "rb") as f:
        pem = f.read()
    certificate = x509.load_pem_x509_certificate(pem)
    algorithm = certificate.signature_hash_algorithm
    der = certificate.public_bytes(serialization.Encoding.DER)
    return channelBindingData(der, algorithm.name if algorithm else None)


def certificateDomains(certPath: str) -> list[str]:
    """
    The DNS names a certificate is for (for diagnostics).
    """
    with open(certPath, "rb") as f:
        certificate = crypto.load_certificate(crypto.FILETYPE_PEM, f.read())
    cert = certificate.to_cryptography()
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return []
    return san.value.get_values_for_type(x509.DNSName)


#: RFC 9266 section 2.
EXPORTER_LABEL = b"EXPORTER-Channel-Binding"


@dataclass(frozen=True)
class ChannelBindings:
    """
    The channel binding data of one TLS stream.

    @ivar data: type -> data, for every type a client may bind to.
    @ivar advertised: the types to name in XEP-0440
        C{<sasl-channel-binding/>}, best first: C{tls-unique} is accepted
        on TLS 1.3 from clients that use it without reading XEP-0440, but
        not advertised there (RFC 9266 section 4 leaves it undefined for
        TLS 1.3; docs/security.md says why accepting it is safe).
    """

    data: Mapping[str, bytes] = field(default_factory=dict)
    advertised: tuple[str, ...] = ()


def tlsUnique(connection: SSL.Connection) -> bytes | None:
    """
    The tls-unique data (RFC 5929 section 3.1) of a server connection:
    the first Finished message of the latest handshake, which is the
    client's on a full handshake and the server's on a resumed one. On
    TLS 1.3 this takes the client's Finished of a full handshake too,
    which is what OpenSSL-based clients (Python's C{ssl}) compute.
    """
    reused = bool(_lib.SSL_session_reused(connection._ssl))  # no public API
    return connection.get_finished() if reused else connection.get_peer_finished()


def _extendedMasterSecret(connection: SSL.Connection) -> bool:
    """
    Whether a TLS 1.2 session uses the extended master secret (RFC 7627).
    """
    return _lib.SSL_get_extms_support(connection._ssl) == 1  # no public API


def connectionBindings(connection: Any, endPoint: bytes | None) -> ChannelBindings:
    """
    The channel bindings of a TLS stream: C{tls-server-end-point} from
    the node's certificate (C{endPoint}), and, when C{connection} is the
    stream's L{SSL.Connection} after its handshake, C{tls-exporter}
    (RFC 9266: TLS 1.3 only, where it is always safe) and C{tls-unique}.
    """
    data: dict[str, bytes] = {}
    advertised: list[str] = []
    version = None
    if isinstance(connection, SSL.Connection):
        version = connection.get_protocol_version_name()
        if version == "TLSv1.3":
            data["tls-exporter"] = connection.export_keying_material(
                EXPORTER_LABEL, 32, b""
            )
            advertised.append("tls-exporter")
        unique = tlsUnique(connection)
        # On TLS 1.2, only with the extended master secret (RFC 7627): without
        # it a man in the middle can make two sessions share their Finished
        # messages (the triple handshake), so tls-unique would not bind.
        if unique and (version == "TLSv1.3" or _extendedMasterSecret(connection)):
            data["tls-unique"] = unique
    if endPoint is not None:
        data["tls-server-end-point"] = endPoint
        advertised.append("tls-server-end-point")
    if "tls-unique" in data and version != "TLSv1.3":
        advertised.append("tls-unique")
    return ChannelBindings(data, tuple(advertised))


def transportBindings(transport: Any, endPoint: bytes | None) -> ChannelBindings:
    """
    L{connectionBindings} of a Twisted TLS transport (STARTTLS or direct
    TLS); a transport without an OpenSSL connection (a test's) has only
    C{tls-server-end-point}.
    """
    getHandle = getattr(transport, "getHandle", None)
    connection = getHandle() if getHandle is not None else None
    return connectionBindings(connection, endPoint)
