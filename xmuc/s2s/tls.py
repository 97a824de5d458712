# -*- test-case-name: tests.s2s.test_tls -*-
"""
TLS for server-to-server streams, and checking a peer's certificate.

Both sides present the node's certificate and ask for the peer's; neither
refuses a handshake over the peer's certificate. After the handshake the
stream asks L{PeerVerifier} whether the chain verifies against the trusted
CAs (a federation's own C{ca_file}, or the system store) and names the
peer's domain (XEP-0178: DNS-ID, with wildcards as RFC 6125 allows). A
valid certificate allows SASL EXTERNAL; an invalid one leaves dialback, if
policy allows it.
"""

from __future__ import annotations

import ssl
from typing import Any

from OpenSSL import SSL, crypto
from service_identity import VerificationError
from service_identity.cryptography import verify_certificate_hostname
from twisted.internet.interfaces import (
    IOpenSSLClientConnectionCreator,
    IOpenSSLServerConnectionCreator,
)
from zope.interface import implementer

from xmuc.tls import makeContext, selectALPN


def _acceptAny(*args: Any) -> bool:
    # The handshake goes on whatever the certificate; the stream decides
    # afterwards what it allows (EXTERNAL, dialback, or nothing).
    return True


def _context(method: int, certPath: str, keyPath: str, alpn: bytes) -> SSL.Context:
    context = makeContext(method, certPath, keyPath, SSL.OP_NO_TICKET)
    context.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_CLIENT_ONCE, _acceptAny)
    if method == SSL.TLS_CLIENT_METHOD:
        context.set_alpn_protos([alpn])
    else:
        selectALPN(context, (alpn,))
    return context


class S2STLS:
    """
    The TLS contexts of s2s streams, built once.
    """

    def __init__(self, certPath: str, keyPath: str) -> None:
        self._server = _context(SSL.TLS_SERVER_METHOD, certPath, keyPath, b"xmpp-server")
        self._client = _context(SSL.TLS_CLIENT_METHOD, certPath, keyPath, b"xmpp-server")

    def serverCreator(self, stream: Any = None) -> "ServerCreator":
        """
        A connection creator for the receiving side of one stream (or of
        every connection of a direct-TLS listener when C{stream} is None).
        """
        return ServerCreator(self._server, stream)

    def clientCreator(self, stream: Any, domain: str) -> "ClientCreator":
        """
        A connection creator for one outgoing stream to C{domain} (sent
        as SNI).
        """
        return ClientCreator(self._client, stream, domain)


def _attach(tlsProtocol: Any, stream: Any, connection: SSL.Connection) -> None:
    # Let the stream reach its TLS connection to read the peer's chain.
    if stream is None:
        stream = getattr(tlsProtocol, "wrappedProtocol", None)
    if stream is not None:
        stream.tlsConnection = connection


@implementer(IOpenSSLServerConnectionCreator)
class ServerCreator:
    def __init__(self, context: SSL.Context, stream: Any) -> None:
        self._context = context
        self._stream = stream

    def serverConnectionForTLS(self, tlsProtocol: Any) -> SSL.Connection:
        connection = SSL.Connection(self._context, None)
        _attach(tlsProtocol, self._stream, connection)
        return connection


@implementer(IOpenSSLClientConnectionCreator)
class ClientCreator:
    def __init__(self, context: SSL.Context, stream: Any, domain: str) -> None:
        self._context = context
        self._stream = stream
        self._domain = domain

    def clientConnectionForTLS(self, tlsProtocol: Any) -> SSL.Connection:
        connection = SSL.Connection(self._context, None)
        connection.set_tlsext_host_name(self._domain.encode("idna"))
        connection.set_connect_state()
        _attach(tlsProtocol, self._stream, connection)
        return connection


class PeerVerifier:
    """
    Decides whether a peer's certificate chain is valid for a domain.
    """

    def __init__(self, caFile: str = "") -> None:
        self._store = crypto.X509Store()
        if caFile:
            self._store.load_locations(caFile)
        else:
            paths = ssl.get_default_verify_paths()
            if paths.cafile or paths.capath:
                self._store.load_locations(paths.cafile, paths.capath)

    def check(self, connection: SSL.Connection | None, domain: str) -> str | None:
        """
        @return: L{None} when the peer's certificate chain verifies and
            names C{domain}, else why not.
        """
        if connection is None:
            return "no TLS"
        chain = connection.get_peer_cert_chain()
        leaf = connection.get_peer_certificate()
        if leaf is None:
            return "no certificate"
        intermediates = [cert for cert in (chain or []) if cert.digest("sha256") != leaf.digest("sha256")]
        try:
            crypto.X509StoreContext(self._store, leaf, intermediates).verify_certificate()
        except crypto.X509StoreContextError as e:
            return f"certificate does not verify: {e}"
        try:
            verify_certificate_hostname(leaf.to_cryptography(), domain)
        except VerificationError:
            return f"certificate is not for {domain}"
        except Exception as e:  # malformed names in the certificate
            return f"certificate names cannot be read: {e}"
        return None
