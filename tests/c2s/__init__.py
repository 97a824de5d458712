"""
Tests for L{xmuc.c2s}, and the helpers they share: a real L{C2SStream}
driven over a L{StringTransport}, with what the server writes parsed back
into elements.

    client = StreamClient(harness)
    client.open()                           # header + features
    client.authenticate("alice", "secret")  # SCRAM-SHA-256, restart
    client.bind("phone")
    client.send("<message to='bob@localhost'><body>hi</body></message>")
    [reply] = client.received()
"""

from __future__ import annotations

import base64

from scramp import ScramClient
from twisted.internet.address import IPv4Address
from twisted.internet.testing import StringTransport
from twisted.words.xish import domish

from tests.support.harness import Harness
from xmuc.c2s.parser import ParserPool
from xmuc.c2s.stream import C2SStream

NS_STREAMS = "http://etherx.jabber.org/streams"
NS_STREAM_ERRORS = "urn:ietf:params:xml:ns:xmpp-streams"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"
NS_SESSION = "urn:ietf:params:xml:ns:xmpp-session"
NS_SASL_CB = "urn:xmpp:sasl-cb:0"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"

_DECLARATION = b"<?xml version='1.0'?>"


def header(
    to: str | None = "localhost", version: str | None = "1.0", xmlns: str = "jabber:client"
) -> bytes:
    """
    A client's stream header.
    """
    attributes = f" to='{to}'" if to is not None else ""
    if version is not None:
        attributes += f" version='{version}'"
    return (
        f"<stream:stream xmlns='{xmlns}' xmlns:stream='{NS_STREAMS}'{attributes}>"
    ).encode("utf-8")


class StreamReader:
    """
    Parses what a server writes: stream headers (a new parser after each
    XML declaration, as the server restarts its stream), top-level
    elements, and the stream's end.
    """

    def __init__(self) -> None:
        self.headers: list[domish.Element] = []
        self.elements: list[domish.Element] = []
        self.ended = False
        self._parser: domish.ExpatElementStream | None = None

    def _newParser(self) -> None:
        parser = domish.elementStream()
        parser.DocumentStartEvent = self.headers.append
        parser.ElementEvent = self._element
        parser.DocumentEndEvent = self._end
        self._parser = parser

    def _element(self, element: domish.Element) -> None:
        self.elements.append(element)

    def _end(self) -> None:
        self.ended = True

    def feed(self, data: bytes) -> None:
        parts = data.split(_DECLARATION)
        for index, part in enumerate(parts):
            if index > 0:
                self._newParser()
            if part:
                assert self._parser is not None, f"data before a stream header: {part!r}"
                self._parser.parse(part)


class StreamClient:
    """
    One client connection to a real L{C2SStream} over a L{StringTransport}.
    """

    def __init__(
        self,
        harness: Harness,
        directTLS: bool = False,
        parsers: ParserPool | None = None,
        peer: str = "192.0.2.1",
    ) -> None:
        self.harness = harness
        self.stream = C2SStream(harness.node, directTLS=directTLS, parsers=parsers)
        self.transport = StringTransport(peerAddress=IPv4Address("TCP", peer, 40000))
        self.reader = StreamReader()
        self.stream.makeConnection(self.transport)

    # Input to the server

    def send(self, data: bytes | str) -> None:
        """
        Send raw bytes (or text, encoded as UTF-8) to the server.
        """
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.stream.dataReceived(data)

    def received(self) -> list[domish.Element]:
        """
        The top-level elements the server wrote since the last call.
        """
        self.reader.feed(self.transport.value())
        self.transport.clear()
        elements, self.reader.elements = self.reader.elements, []
        return elements

    def receivedOne(self) -> domish.Element:
        """
        Exactly one element the server wrote since the last call.
        """
        [element] = self.received()
        return element

    # Negotiation steps

    def open(self, to: str = "localhost") -> domish.Element:
        """
        Send a stream header and return the features.
        """
        self.send(header(to))
        features = self.receivedOne()
        assert (features.uri, features.name) == (NS_STREAMS, "features"), features.toXml()
        return features

    def auth(self, mechanism: str, data: bytes | None = None) -> domish.Element:
        """
        Send C{<auth/>} with C{data} (base64 encoded) and return the answer.
        """
        element = domish.Element((NS_SASL, "auth"))
        element["mechanism"] = mechanism
        if data is not None:
            element.addContent(base64.b64encode(data).decode("ascii") or "=")
        self.send(element.toXml())
        return self.receivedOne()

    def response(self, data: bytes) -> domish.Element:
        """
        Send C{<response/>} with C{data} and return the answer.
        """
        element = domish.Element((NS_SASL, "response"))
        element.addContent(base64.b64encode(data).decode("ascii") or "=")
        self.send(element.toXml())
        return self.receivedOne()

    def scram(
        self,
        username: str,
        password: str,
        mechanism: str = "SCRAM-SHA-256",
        channelBinding: bytes | None = None,
    ) -> tuple[ScramClient, domish.Element]:
        """
        Run a SCRAM exchange with scramp's client and return it with the
        server's last answer (C{success} or C{failure}).
        """
        binding = (
            ("tls-server-end-point", channelBinding) if channelBinding is not None else None
        )
        client = ScramClient([mechanism], username, password, channel_binding=binding)
        answer = self.auth(mechanism, client.get_client_first().encode("utf-8"))
        if answer.name != "challenge":
            return client, answer
        client.set_server_first(base64.b64decode(str(answer)).decode("utf-8"))
        answer = self.response(client.get_client_final().encode("utf-8"))
        if answer.name == "success":
            client.set_server_final(base64.b64decode(str(answer)).decode("utf-8"))
        return client, answer

    def authenticate(self, username: str = "alice", password: str = "secret") -> domish.Element:
        """
        Open the stream, authenticate with SCRAM-SHA-256 and restart; return
        the features after authentication.
        """
        self.open()
        _, answer = self.scram(username, password)
        assert answer.name == "success", answer.toXml()
        return self.open()

    def bind(self, resource: str | None = "res") -> domish.Element:
        """
        Bind a resource and return the server's answer.
        """
        content = f"<resource>{resource}</resource>" if resource is not None else ""
        self.send(f"<iq type='set' id='bind1'><bind xmlns='{NS_BIND}'>{content}</bind></iq>")
        return self.receivedOne()

    def login(self, username: str = "alice", resource: str = "res") -> str:
        """
        Authenticate and bind; return the full JID.
        """
        self.authenticate(username)
        result = self.bind(resource)
        assert result["type"] == "result", result.toXml()
        return str(result.bind.jid)


def streamErrorCondition(element: domish.Element) -> str:
    """
    The defined condition of a C{<stream:error/>}.
    """
    assert (element.uri, element.name) == (NS_STREAMS, "error"), element.toXml()
    for child in element.elements(NS_STREAM_ERRORS):
        if child.name != "text":
            return child.name
    raise AssertionError(f"no condition in {element.toXml()}")


def stanzaErrorCondition(element: domish.Element) -> str:
    """
    The defined condition of a stanza error.
    """
    assert element["type"] == "error", element.toXml()
    for child in element.error.elements(NS_STANZAS):
        if child.name != "text":
            return child.name
    raise AssertionError(f"no condition in {element.toXml()}")


def saslFailureCondition(element: domish.Element) -> str:
    """
    The defined condition of a SASL C{<failure/>}.
    """
    assert (element.uri, element.name) == (NS_SASL, "failure"), element.toXml()
    for child in element.elements():
        if child.name != "text":
            return child.name
    raise AssertionError(f"no condition in {element.toXml()}")


class HandScramClient:
    """
    A SCRAM client built from RFC 5802 by hand, for the channel binding
    types and GS2 flags scramp's client will not send (C{tls-exporter},
    C{y}).

        client = HandScramClient("alice", "secret", "SCRAM-SHA-256", "p=tls-exporter", data)
        first = client.first()
        final = client.final(serverFirst)
        client.verify(serverFinal)
    """

    def __init__(
        self,
        username: str,
        password: str,
        mechanism: str = "SCRAM-SHA-256",
        flag: str = "n",
        bindingData: bytes = b"",
        nonce: str = "clientnonce",
    ) -> None:
        self.username = username
        self.password = password
        self.digest = {"SCRAM-SHA-1": "sha1", "SCRAM-SHA-256": "sha256"}[
            mechanism.removesuffix("-PLUS")
        ]
        self.header = f"{flag},,"
        self.bindingData = bindingData
        self.bare = f"n={username},r={nonce}"
        self._serverSignature = b""

    def first(self) -> bytes:
        return (self.header + self.bare).encode("utf-8")

    def final(self, serverFirst: bytes) -> bytes:
        import hashlib
        import hmac

        text = serverFirst.decode("utf-8")
        attributes = dict(part.split("=", 1) for part in text.split(","))
        salted = hashlib.pbkdf2_hmac(
            self.digest,
            self.password.encode("utf-8"),
            base64.b64decode(attributes["s"]),
            int(attributes["i"]),
        )
        clientKey = hmac.new(salted, b"Client Key", self.digest).digest()
        stored = hashlib.new(self.digest, clientKey).digest()
        binding = base64.b64encode(self.header.encode("utf-8") + self.bindingData).decode()
        withoutProof = f"c={binding},r={attributes['r']}"
        message = ",".join((self.bare, text, withoutProof)).encode("utf-8")
        signature = hmac.new(stored, message, self.digest).digest()
        proof = bytes(a ^ b for a, b in zip(clientKey, signature))
        serverKey = hmac.new(salted, b"Server Key", self.digest).digest()
        self._serverSignature = hmac.new(serverKey, message, self.digest).digest()
        return f"{withoutProof},p={base64.b64encode(proof).decode()}".encode("utf-8")

    def verify(self, serverFinal: bytes) -> bool:
        expected = "v=" + base64.b64encode(self._serverSignature).decode()
        return serverFinal.decode("utf-8") == expected
