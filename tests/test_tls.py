# -*- test-case-name: tests.test_tls -*-
"""
Tests for L{xmuc.tls}, and for STARTTLS in L{xmuc.c2s.stream} with a real
TLS handshake over an in-memory connection.

C{twisted.test.iosim} only pretends to negotiate TLS, so L{TLSPipe} runs
pyOpenSSL over memory BIOs instead: the client sees the server's real
certificate and computes its own tls-server-end-point channel binding
from it.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL
from scramp import ScramClient
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.trial import unittest
from twisted.words.xish import domish

from tests.c2s import (
    NS_SASL,
    NS_SASL_CB,
    NS_TLS,
    HandScramClient,
    StreamReader,
    header,
    saslFailureCondition,
)
from tests.support.harness import Harness
from xmuc.c2s.stream import C2SFactory, C2SStream
from xmuc.tls import (
    ServerContextFactory,
    certificateDomains,
    connectionBindings,
    generateCertificate,
    loadCertificateBinding,
    tlsUnique,
)


class _End:
    """
    One end of a L{TLSPipe}: a transport that writes plaintext until
    C{startTLS}, then TLS records through a pyOpenSSL memory BIO.
    """

    def __init__(self, isServer: bool) -> None:
        self.isServer = isServer
        self.protocol: Any = None
        self.outgoing: list[bytes] = []
        self.tls: SSL.Connection | None = None
        self.disconnecting = False
        self.producerState = "producing"

    # ITransport

    def write(self, data: bytes) -> None:
        if self.tls is None:
            self.outgoing.append(data)
        else:
            self.tls.sendall(data)
            self._flushTLS()

    def writeSequence(self, data: list[bytes]) -> None:
        self.write(b"".join(data))

    def loseConnection(self) -> None:
        self.disconnecting = True

    def abortConnection(self) -> None:
        self.disconnecting = True

    def getPeer(self) -> IPv4Address:
        return IPv4Address("TCP", "127.0.0.1", 40000 if self.isServer else 5222)

    def getHost(self) -> IPv4Address:
        return IPv4Address("TCP", "127.0.0.1", 5222 if self.isServer else 40000)

    def getHandle(self) -> SSL.Connection | None:
        return self.tls

    def pauseProducing(self) -> None:
        self.producerState = "paused"

    def resumeProducing(self) -> None:
        self.producerState = "producing"

    # ITLSTransport

    def startTLS(self, contextFactory: Any) -> None:
        connection = SSL.Connection(contextFactory.getContext(), None)
        if self.isServer:
            connection.set_accept_state()
        else:
            connection.set_connect_state()
            connection.set_tlsext_host_name(b"localhost")
        self.tls = connection
        if not self.isServer:
            self._handshake()

    # Plumbing

    def _handshake(self) -> None:
        try:
            self.tls.do_handshake()
        except SSL.WantReadError:
            pass
        self._flushTLS()

    def _flushTLS(self) -> None:
        while True:
            try:
                data = self.tls.bio_read(65536)
            except SSL.WantReadError:
                return
            self.outgoing.append(data)

    def received(self, data: bytes) -> None:
        if self.tls is None:
            self.protocol.dataReceived(data)
            return
        self.tls.bio_write(data)
        plaintext = []
        while True:
            try:
                plaintext.append(self.tls.recv(65536))
            except (SSL.WantReadError, SSL.ZeroReturnError):
                break
        self._flushTLS()
        if plaintext:
            self.protocol.dataReceived(b"".join(plaintext))


class _Client:
    """
    The client protocol: collects what the server sends.
    """

    def __init__(self) -> None:
        self.reader = StreamReader()

    def dataReceived(self, data: bytes) -> None:
        self.reader.feed(data)


class TLSPipe:
    """
    A C2S stream and a client joined in memory, with real TLS.
    """

    def __init__(self, harness: Harness) -> None:
        self.server = _End(isServer=True)
        self.client = _End(isServer=False)
        self.client.protocol = _Client()
        self.stream = C2SStream(harness.node)
        self.server.protocol = self.stream
        self.stream.makeConnection(self.server)

    def pump(self) -> None:
        """
        Move bytes both ways until both ends are quiet.
        """
        while self.server.outgoing or self.client.outgoing:
            for source, sink in ((self.server, self.client), (self.client, self.server)):
                data, source.outgoing = b"".join(source.outgoing), []
                if data:
                    sink.received(data)

    def send(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.client.write(data)
        self.pump()

    def received(self) -> list[domish.Element]:
        self.pump()
        reader = self.client.protocol.reader
        elements, reader.elements = reader.elements, []
        return elements

    def receivedOne(self) -> domish.Element:
        [element] = self.received()
        return element

    def peerBinding(self) -> bytes:
        """
        The tls-server-end-point data as the client computes it from the
        certificate it was shown (RFC 5929: SHA-256 for an ECDSA-SHA256
        signature).
        """
        certificate = self.client.tls.get_peer_certificate().to_cryptography()
        return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).digest()


def _certificate(case: unittest.TestCase, domain: str = "localhost") -> tuple[str, str]:
    directory = case.mktemp()
    certPath = os.path.join(directory, "cert.pem")
    keyPath = os.path.join(directory, "key.pem")
    generateCertificate(domain, certPath, keyPath)
    return certPath, keyPath


class CertificateTests(unittest.TestCase):
    """
    The self-signed certificate a node makes for itself.
    """

    def setUp(self) -> None:
        self.certPath, self.keyPath = _certificate(self, "example.org")
        with open(self.certPath, "rb") as f:
            self.certificate = x509.load_pem_x509_certificate(f.read())

    def test_subjectAlternativeNames(self) -> None:
        """
        The certificate is for the domain and its subdomains (the MUC
        service), by subject alternative name.
        """
        san = self.certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        self.assertEqual(
            san.value.get_values_for_type(x509.DNSName), ["example.org", "*.example.org"]
        )
        self.assertEqual(certificateDomains(self.certPath), ["example.org", "*.example.org"])

    def test_keyMode(self) -> None:
        """
        The private key is readable by its owner only.
        """
        self.assertEqual(stat.S_IMODE(os.stat(self.keyPath).st_mode), 0o600)

    def test_notACertificateAuthority(self) -> None:
        """
        The certificate is a leaf, valid now.
        """
        constraints = self.certificate.extensions.get_extension_for_class(x509.BasicConstraints)
        self.assertFalse(constraints.value.ca)
        self.assertEqual(self.certificate.subject, self.certificate.issuer)

    def test_channelBinding(self) -> None:
        """
        The tls-server-end-point data is the SHA-256 of the certificate's
        DER encoding.
        """
        der = self.certificate.public_bytes(serialization.Encoding.DER)
        self.assertEqual(loadCertificateBinding(self.certPath), hashlib.sha256(der).digest())

    def test_contextFactory(self) -> None:
        """
        The server context loads the certificate and its key.
        """
        context = ServerContextFactory(self.certPath, self.keyPath).getContext()
        self.assertIsInstance(context, SSL.Context)

    def test_mismatchedKey(self) -> None:
        """
        A key that does not belong to the certificate is refused.
        """
        _, otherKey = _certificate(self, "example.org")
        self.assertRaises(SSL.Error, ServerContextFactory, self.certPath, otherKey)


class StartTLSTests(unittest.TestCase):
    """
    STARTTLS with a real handshake, then SASL over the encrypted stream.
    """

    def setUp(self) -> None:
        certPath, keyPath = _certificate(self)
        self.binding = loadCertificateBinding(certPath)
        self.harness = Harness(
            tlsContextFactory=ServerContextFactory(certPath, keyPath),
            channelBinding=self.binding,
        )
        self.harness.createUser("alice", "secret")
        self.pipe = TLSPipe(self.harness)

    def startTLS(self, context: Any = None) -> domish.Element:
        """
        Negotiate TLS and return the features of the encrypted stream.
        """
        pipe = self.pipe
        pipe.send(header())
        features = pipe.receivedOne()
        self.assertIsNotNone(features.starttls)
        self.assertIsNotNone(features.starttls.required)
        pipe.send(f"<starttls xmlns='{NS_TLS}'/>")
        proceed = pipe.receivedOne()
        self.assertEqual((proceed.uri, proceed.name), (NS_TLS, "proceed"))
        pipe.client.startTLS(context or _ClientContext())
        pipe.pump()
        pipe.send(header())
        self.assertTrue(self.pipe.stream.secure)
        return pipe.receivedOne()

    def test_featuresAfterTLS(self) -> None:
        """
        After the handshake a fresh header is answered with -PLUS
        mechanisms and the XEP-0440 binding type, and no STARTTLS.
        """
        features = self.startTLS()
        self.assertIsNone(features.starttls)
        mechanisms = [str(m) for m in features.mechanisms.elements()]
        self.assertEqual(mechanisms[:2], ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"])
        self.assertIn("PLAIN", mechanisms)
        self.assertEqual(bindingTypes(features), ["tls-exporter", "tls-server-end-point"])
        self.assertEqual(len(self.pipe.client.protocol.reader.headers), 2)

    def test_scramPlus(self) -> None:
        """
        SCRAM-SHA-256-PLUS succeeds with the binding the client computes
        from the certificate the handshake showed it, which is the one the
        node loaded.
        """
        self.startTLS()
        binding = self.pipe.peerBinding()
        self.assertEqual(binding, self.binding)
        scram = ScramClient(
            ["SCRAM-SHA-256-PLUS"], "alice", "secret",
            channel_binding=("tls-server-end-point", binding),
        )
        self.pipe.send(_auth("SCRAM-SHA-256-PLUS", scram.get_client_first()))
        challenge = self.pipe.receivedOne()
        scram.set_server_first(base64.b64decode(str(challenge)).decode())
        self.pipe.send(_response(scram.get_client_final()))
        success = self.pipe.receivedOne()
        self.assertEqual(success.name, "success")
        scram.set_server_final(base64.b64decode(str(success)).decode())
        self.pipe.send(header())
        self.assertIsNotNone(self.pipe.receivedOne().bind)

    def bindWith(self, bindingType: str, data: bytes) -> domish.Element:
        """
        Run SCRAM-SHA-256-PLUS bound to C{bindingType} with C{data} (as
        the client computes it); return the server's last answer.
        """
        client = HandScramClient(
            "alice", "secret", "SCRAM-SHA-256-PLUS", f"p={bindingType}", data
        )
        self.pipe.send(_auth("SCRAM-SHA-256-PLUS", client.first().decode()))
        challenge = self.pipe.receivedOne()
        final = client.final(base64.b64decode(str(challenge)))
        self.pipe.send(_response(final.decode()))
        answer = self.pipe.receivedOne()
        if answer.name == "success":
            self.assertTrue(client.verify(base64.b64decode(str(answer))))
        return answer

    def test_tlsExporter(self) -> None:
        """
        SCRAM-SHA-256-PLUS binds to tls-exporter (RFC 9266: label
        EXPORTER-Channel-Binding, empty context, 32 bytes) on TLS 1.3.
        """
        self.startTLS()
        self.assertEqual(self.pipe.client.tls.get_protocol_version_name(), "TLSv1.3")
        data = self.pipe.client.tls.export_keying_material(
            b"EXPORTER-Channel-Binding", 32, b""
        )
        self.assertEqual(self.bindWith("tls-exporter", data).name, "success")

    def test_tlsUniqueOnTLS13(self) -> None:
        """
        On TLS 1.3, tls-unique is accepted though not advertised, with the
        value an OpenSSL client computes (the Finished message it sent:
        what Python's C{ssl} gives slixmpp 1.8), so that clients that do
        not read XEP-0440 can log in with -PLUS.
        """
        features = self.startTLS()
        self.assertNotIn("tls-unique", bindingTypes(features))
        data = self.pipe.client.tls.get_finished()
        self.assertEqual(self.bindWith("tls-unique", data).name, "success")

    def test_tlsUniqueWrongData(self) -> None:
        """
        tls-unique data from another connection (the server's Finished
        here) is C{not-authorized}.
        """
        self.startTLS()
        data = self.pipe.client.tls.get_peer_finished()
        self.assertEqual(saslFailureCondition(self.bindWith("tls-unique", data)), "not-authorized")

    def test_tlsUniqueOnTLS12(self) -> None:
        """
        On TLS 1.2 tls-unique (the client's Finished, the first of a full
        handshake) is advertised and accepted, and tls-exporter is not
        offered.
        """
        features = self.startTLS(_ClientContext(SSL.TLS1_2_VERSION))
        self.assertEqual(self.pipe.client.tls.get_protocol_version_name(), "TLSv1.2")
        self.assertEqual(bindingTypes(features), ["tls-server-end-point", "tls-unique"])
        data = self.pipe.client.tls.get_finished()
        self.assertEqual(self.bindWith("tls-unique", data).name, "success")
        self.assertEqual(self.pipe.stream.username, "alice")

    def test_plain(self) -> None:
        """
        PLAIN is accepted once TLS is on.
        """
        self.startTLS()
        self.pipe.send(_auth("PLAIN", "\0alice\0secret"))
        self.assertEqual(self.pipe.receivedOne().name, "success")
        self.assertEqual(self.pipe.stream.username, "alice")

    def test_startTLSTwice(self) -> None:
        """
        STARTTLS on a stream already under TLS fails and closes it.
        """
        self.startTLS()
        self.pipe.send(f"<starttls xmlns='{NS_TLS}'/>")
        failure = self.pipe.receivedOne()
        self.assertEqual((failure.uri, failure.name), (NS_TLS, "failure"))
        self.assertTrue(self.pipe.server.disconnecting)


class _ClientContext:
    """
    A client context that accepts the self-signed certificate (the tests
    check the channel binding instead).
    """

    def __init__(self, maxVersion: int | None = None) -> None:
        self.maxVersion = maxVersion

    def getContext(self) -> SSL.Context:
        context = SSL.Context(SSL.TLS_CLIENT_METHOD)
        context.set_verify(SSL.VERIFY_NONE, lambda *args: True)
        if self.maxVersion is not None:
            context.set_max_proto_version(self.maxVersion)
        return context


def bindingTypes(features: domish.Element) -> list[str]:
    """
    The channel binding types named in XEP-0440 C{<sasl-channel-binding/>}.
    """
    [cb] = list(features.elements(NS_SASL_CB, "sasl-channel-binding"))
    return [binding["type"] for binding in cb.elements()]


def _auth(mechanism: str, text: str) -> str:
    data = base64.b64encode(text.encode("utf-8")).decode("ascii")
    return f"<auth xmlns='{NS_SASL}' mechanism='{mechanism}'>{data}</auth>"


def _response(text: str) -> str:
    data = base64.b64encode(text.encode("utf-8")).decode("ascii")
    return f"<response xmlns='{NS_SASL}'>{data}</response>"


class _RecordingTLSTransport(StringTransport):
    """
    A L{StringTransport} that records C{startTLS} without a handshake.
    """

    contextFactory = None

    def startTLS(self, contextFactory: Any) -> None:
        self.contextFactory = contextFactory


class StartTLSInjectionTests(unittest.TestCase):
    """
    Plaintext sent after C{<starttls/>} (CVE-2011-0411).
    """

    def setUp(self) -> None:
        self.harness = Harness(tlsContextFactory=object(), channelBinding=b"\1" * 32)
        self.harness.createUser("alice", "secret")
        self.transport = _RecordingTLSTransport()
        self.stream = C2SStream(self.harness.node)
        self.stream.makeConnection(self.transport)
        self.stream.dataReceived(header())
        self.transport.clear()

    def test_injectedAuth(self) -> None:
        """
        An C{<auth/>} in the same read as C{<starttls/>} was sent in
        plaintext, maybe by a man in the middle: it is not acted on as if
        sent under TLS.
        """
        self.stream.dataReceived(
            f"<starttls xmlns='{NS_TLS}'/>{_auth('PLAIN', chr(0) + 'alice' + chr(0) + 'secret')}"
            .encode()
        )
        self.assertIs(self.transport.contextFactory, self.harness.node.tlsContextFactory)
        self.assertEqual(self.transport.value(), f"<proceed xmlns='{NS_TLS}'/>".encode())
        self.assertIsNone(self.stream.username)
        self.assertEqual(self.stream.state, "auth")

    def test_injectedAfterWaiting(self) -> None:
        """
        Plaintext after C{<starttls/>} that waited for the byte-rate
        budget (it came in a read larger than the budget) is dropped when
        TLS starts, never handled later as if sent under TLS.
        """
        harness = Harness(tlsContextFactory=object(), channelBinding=b"\1" * 32,
                          config="[c2s]\nrate_limit = 100\nrate_burst = 1000\n")
        harness.createUser("alice", "secret")
        transport = _RecordingTLSTransport()
        stream = C2SStream(harness.node)
        stream.makeConnection(transport)
        stream.dataReceived(header())
        transport.clear()
        stream.dataReceived(
            f"<starttls xmlns='{NS_TLS}'/>".encode() + b" " * 1000
            + _auth("PLAIN", chr(0) + "alice" + chr(0) + "secret").encode()
        )
        self.assertEqual(transport.value(), f"<proceed xmlns='{NS_TLS}'/>".encode())
        harness.clock.advance(3600)
        self.assertEqual(transport.value(), f"<proceed xmlns='{NS_TLS}'/>".encode())
        self.assertIsNone(stream.username)
        self.assertEqual(transport.producerState, "producing")

    def test_injectedHeader(self) -> None:
        """
        A stream header in the same read as C{<starttls/>} does not open
        the new stream; the one sent after the handshake does.
        """
        self.stream.dataReceived(f"<starttls xmlns='{NS_TLS}'/>".encode() + header())
        self.assertEqual(self.transport.value(), f"<proceed xmlns='{NS_TLS}'/>".encode())
        self.transport.clear()
        self.stream.dataReceived(header())
        reader = StreamReader()
        reader.feed(self.transport.value())
        [features] = reader.elements
        self.assertIsNotNone(features.mechanisms)

    def test_saslBeforeTLSThenAfter(self) -> None:
        """
        SASL before STARTTLS is C{encryption-required} and does not count
        against the stream; TLS can still be started afterwards.
        """
        self.stream.dataReceived(_auth("PLAIN", "\0alice\0secret").encode())
        reader = StreamReader()
        reader.feed(b"<?xml version='1.0'?>" + header() + self.transport.value())
        [failure] = reader.elements
        self.assertEqual(saslFailureCondition(failure), "encryption-required")
        self.assertEqual(self.stream.state, "tls")
        self.transport.clear()
        self.stream.dataReceived(f"<starttls xmlns='{NS_TLS}'/>".encode())
        self.assertEqual(self.transport.value(), f"<proceed xmlns='{NS_TLS}'/>".encode())
        self.assertTrue(self.stream.secure)

    def test_noStartTLSWithoutCertificate(self) -> None:
        """
        STARTTLS on a node without a certificate fails and closes the
        stream, and is never offered.
        """
        harness = Harness(config="[c2s]\nrequire_tls = false\n")
        transport = _RecordingTLSTransport()
        stream = C2SStream(harness.node)
        stream.makeConnection(transport)
        stream.dataReceived(header())
        self.assertNotIn(b"starttls", transport.value())
        transport.clear()
        stream.dataReceived(f"<starttls xmlns='{NS_TLS}'/>".encode())
        self.assertIsNone(transport.contextFactory)
        self.assertTrue(transport.value().startswith(f"<failure xmlns='{NS_TLS}'/>".encode()))
        self.assertTrue(transport.disconnecting)



def _drain(connection: SSL.Connection) -> bytes:
    chunks = []
    while True:
        try:
            chunks.append(connection.bio_read(65536))
        except SSL.WantReadError:
            return b"".join(chunks)


class HandshakeTimeoutTests(unittest.TestCase):
    """
    A direct-TLS client connection under Twisted's own TLS layer
    (C{TLSMemoryBIOProtocol}, as a direct-TLS listener has it) over a
    L{StringTransport}, on the harness's clock: a handshake that does not
    finish in C{tls_handshake_timeout} aborts the connection, which a
    stream error and a close could not do (the error waits for the
    handshake, and the close for the error).
    """

    config = ""

    def setUp(self) -> None:
        certPath, keyPath = _certificate(self)
        self.harness = Harness(
            config=self.config,
            tlsContextFactory=ServerContextFactory(certPath, keyPath),
            channelBinding=loadCertificateBinding(certPath),
        )
        self.clock = self.harness.clock
        factory = TLSMemoryBIOFactory(
            self.harness.node.tlsContextFactory, False,
            C2SFactory(self.harness.node, directTLS=True),
        )
        self.tls = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
        self.transport = StringTransport()
        self.tls.makeConnection(self.transport)
        self.client = SSL.Connection(_ClientContext().getContext(), None)
        self.client.set_connect_state()

    def clientHello(self) -> bytes:
        try:
            self.client.do_handshake()
        except SSL.WantReadError:
            pass
        return _drain(self.client)

    def test_silentClientAborted(self) -> None:
        """
        A client that sends nothing is aborted C{tls_handshake_timeout}
        (10 s) after it connected.
        """
        self.clock.advance(9.9)
        self.assertFalse(self.transport.disconnected)
        self.clock.advance(0.1)
        self.assertTrue(self.transport.disconnected)
        self.assertTrue(self.tls.wrappedProtocol.closed)

    def test_trickledClientHelloAborted(self) -> None:
        """
        A client trickling its ClientHello a byte a second is aborted at
        the same time, however busy it keeps the connection.
        """
        hello = self.clientHello()
        for index in range(10):
            self.assertFalse(self.transport.disconnected)
            self.tls.dataReceived(hello[index:index + 1])
            self.clock.advance(1)
        self.assertTrue(self.transport.disconnected)

    def test_finishedHandshakeStays(self) -> None:
        """
        A handshake that finishes in time leaves the connection to the
        stream's own timeouts.
        """
        data = self.clientHello()
        for _ in range(10):
            self.tls.dataReceived(data)
            self.client.bio_write(self.transport.value())
            self.transport.clear()
            try:
                self.client.do_handshake()
                break
            except SSL.WantReadError:
                data = _drain(self.client)
        self.tls.dataReceived(_drain(self.client))
        self.clock.advance(20)
        self.assertFalse(self.transport.disconnected)
        self.assertFalse(self.tls.wrappedProtocol.closed)


class AuthTimeoutDuringHandshakeTests(HandshakeTimeoutTests):
    """
    With C{tls_handshake_timeout} over C{auth_timeout}, the authentication
    timeout finds the handshake unfinished: nothing could reach the
    client, so it aborts the connection at once.
    """

    config = "[c2s]\ntls_handshake_timeout = 60\n"

    def test_silentClientAborted(self) -> None:
        """
        A silent client is aborted at C{auth_timeout} (30 s).
        """
        self.clock.advance(29.9)
        self.assertFalse(self.transport.disconnected)
        self.clock.advance(0.1)
        self.assertTrue(self.transport.disconnected)

    def test_trickledClientHelloAborted(self) -> None:
        """
        So is a trickling one.
        """
        hello = self.clientHello()
        for index in range(30):
            self.assertFalse(self.transport.disconnected)
            self.tls.dataReceived(hello[index:index + 1])
            self.clock.advance(1)
        self.assertTrue(self.transport.disconnected)


class StartTLSTimeoutTests(unittest.TestCase):
    """
    The handshake timer after C{<proceed/>} on a client stream, with a
    transport that records C{startTLS} and the TLS layer's completion
    reported by hand.
    """

    def setUp(self) -> None:
        self.harness = Harness(tlsContextFactory=object(), channelBinding=b"\1" * 32)
        self.transport = _RecordingTLSTransport()
        self.stream = C2SStream(self.harness.node)
        self.stream.makeConnection(self.transport)
        self.stream.dataReceived(header())
        self.stream.dataReceived(f"<starttls xmlns='{NS_TLS}'/>".encode())
        self.assertIsNotNone(self.transport.contextFactory)

    def test_silentAfterProceed(self) -> None:
        """
        A client that sends nothing after C{<proceed/>} is aborted after
        C{tls_handshake_timeout}, with no stream error written.
        """
        self.transport.clear()
        self.harness.clock.advance(9.9)
        self.assertFalse(self.transport.disconnected)
        self.harness.clock.advance(0.1)
        self.assertTrue(self.transport.disconnected)
        self.assertEqual(self.transport.value(), b"")

    def test_handshakeDone(self) -> None:
        """
        Once the TLS layer reports the handshake done, the stream is left to
        C{auth_timeout}, which sends its error before closing.
        """
        self.stream.handshakeCompleted()
        self.harness.clock.advance(29)
        self.assertFalse(self.transport.disconnecting)
        self.harness.clock.advance(1)
        self.assertIn(b"connection-timeout", self.transport.value())
        self.assertTrue(self.transport.disconnecting)


def _handshake(server: SSL.Connection, client: SSL.Connection) -> None:
    """
    Run a handshake between two memory-BIO connections (bounded).
    """
    for _ in range(20):
        done = 0
        for connection in (client, server):
            try:
                connection.do_handshake()
                done += 1
            except SSL.WantReadError:
                pass
        for source, sink in ((client, server), (server, client)):
            try:
                sink.bio_write(source.bio_read(65536))
            except SSL.WantReadError:
                pass
        if done == 2:
            return
    raise AssertionError("handshake did not finish")


class TLSUniqueTests(unittest.TestCase):
    """
    L{tlsUnique}: the first Finished message of the latest handshake.
    """

    def connect(self, factory: ServerContextFactory, session: Any = None) -> tuple[Any, Any]:
        server = factory.serverConnectionForTLS(None)
        server.set_accept_state()
        client = SSL.Connection(self.clientContext, None)
        client.set_connect_state()
        if session is not None:
            client.set_session(session)
        _handshake(server, client)
        return server, client

    def test_fullAndResumed(self) -> None:
        """
        On a full TLS 1.2 handshake tls-unique is the client's Finished;
        on a resumed one, where the server's Finished comes first, it is
        the server's, as a client computes it.
        """
        certPath, keyPath = _certificate(self)
        factory = ServerContextFactory(certPath, keyPath)
        self.clientContext = _ClientContext(SSL.TLS1_2_VERSION).getContext()
        server, client = self.connect(factory)
        self.assertEqual(tlsUnique(server), client.get_finished())
        server, client = self.connect(factory, client.get_session())
        self.assertTrue(_reused(client))
        self.assertEqual(tlsUnique(server), client.get_peer_finished())
        self.assertNotEqual(tlsUnique(server), client.get_finished())

    def test_notWithoutExtendedMasterSecret(self) -> None:
        """
        A TLS 1.2 handshake without the extended master secret (RFC 7627)
        has no tls-unique: a man in the middle can give two such sessions
        the same Finished messages (the triple handshake, on resumption),
        so binding to it would not bind. tls-server-end-point stays.
        """
        certPath, keyPath = _certificate(self)
        factory = ServerContextFactory(certPath, keyPath)
        self.clientContext = _ClientContext(SSL.TLS1_2_VERSION).getContext()
        self.clientContext.set_options(_OP_NO_EXTENDED_MASTER_SECRET)
        for session in (None, "resumed"):
            server, client = self.connect(factory, session and client.get_session())
            self.assertEqual(server.get_protocol_version_name(), "TLSv1.2")
            bindings = connectionBindings(server, b"end-point")
            self.assertEqual(set(bindings.data), {"tls-server-end-point"})
            self.assertEqual(bindings.advertised, ("tls-server-end-point",))
        self.assertTrue(_reused(client))


#: OpenSSL 3's SSL_OP_NO_EXTENDED_MASTER_SECRET (not exported by pyOpenSSL).
_OP_NO_EXTENDED_MASTER_SECRET = 1 << 0


def _reused(connection: SSL.Connection) -> bool:
    from OpenSSL._util import lib

    return bool(lib.SSL_session_reused(connection._ssl))
