# -*- test-case-name: tests.test_iqrequests -*-
"""
Tests for L{xmuc.iqrequests}: the node's own IQ requests, on one node and
across two nodes of the FakeNetwork.
"""

from __future__ import annotations

from twisted.internet import defer
from twisted.logger import globalLogPublisher
from twisted.trial import unittest
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

from tests.support.fakenet import FakeNetwork
from tests.support.harness import Harness, parseStanza
from xmuc.iqrequests import IQErrorReply, IQTimeout

NS_DISCO_INFO = "http://jabber.org/protocol/disco#info"


def discoInfo(to: str, sender: str | None = None) -> domish.Element:
    iq = domish.Element((None, "iq"))
    iq["type"] = "get"
    iq["to"] = to
    if sender is not None:
        iq["from"] = sender
    iq.addElement((NS_DISCO_INFO, "query"))
    return iq


def _ping(to: str, sender: str | None = None) -> domish.Element:
    iq = discoInfo(to, sender)
    iq.children = []
    iq.addElement(("urn:xmpp:ping", "ping"))
    return iq


def features(result: domish.Element) -> set[str]:
    return {f["var"] for f in result.firstChildElement().elements(NS_DISCO_INFO, "feature")}


class Silent:
    """
    A local entity that keeps what it gets and answers nothing.
    """

    def __init__(self) -> None:
        self.stanzas: list[domish.Element] = []

    def receive(self, stanza: domish.Element, to: JID) -> None:
        self.stanzas.append(stanza)


def answer(request: domish.Element, kind: str = "result", sender: str | None = None) -> str:
    """
    The serialised answer to a request, from C{sender} (its C{to} by
    default).
    """
    return (f"<iq type='{kind}' id='{request['id']}' to='{request['from']}' "
            f"from='{sender or request['to']}'/>")


class OneNodeTests(unittest.TestCase):
    def setUp(self) -> None:
        self.h = Harness()
        self.node = self.h.node
        self.requests = self.node.iqRequests

    def test_result(self) -> None:
        """
        A disco#info request from the domain to itself fires with the
        result IQ, which goes nowhere else.
        """
        d = self.requests.request(discoInfo("localhost"), timeout=5)
        result = self.successResultOf(d)
        self.assertEqual((result["type"], result["from"]), ("result", "localhost"))
        self.assertIn(NS_DISCO_INFO, features(result))
        self.assertEqual(self.requests.pending, {})

    def test_error(self) -> None:
        """
        An error answer fails the request with IQErrorReply carrying the
        condition (a full JID with no session: service-unavailable).
        """
        self.h.createUser("alice")
        d = self.requests.request(discoInfo("alice@localhost/gone"), timeout=5)
        failure = self.failureResultOf(d, IQErrorReply)
        self.assertEqual(failure.value.condition, "service-unavailable")
        self.assertEqual(failure.value.stanza["from"], "alice@localhost/gone")

    def test_noRoute(self) -> None:
        """
        A request to a remote domain with no s2s fails with the router's
        bounce, remote-server-not-found.
        """
        d = self.requests.request(discoInfo("b.example"), timeout=5)
        self.assertEqual(self.failureResultOf(d, IQErrorReply).value.condition,
                         "remote-server-not-found")

    def test_timeout(self) -> None:
        """
        No answer within the timeout (the node's clock) fails the request
        with IQTimeout; an answer after that is not taken.
        """
        silent = Silent()
        self.node.addEntity("quiet@localhost", silent)
        d = self.requests.request(discoInfo("quiet@localhost"), timeout=5)
        [request] = silent.stanzas
        self.h.clock.advance(4.9)
        self.assertNoResult(d)
        self.h.clock.advance(0.1)
        failure = self.failureResultOf(d, IQTimeout)
        self.assertEqual(failure.value.condition, "remote-server-timeout")
        self.assertEqual(self.requests.pending, {})
        self.assertFalse(self.requests.take(parseStanza(answer(request)), JID("localhost")))

    def test_localClient(self) -> None:
        """
        A request to a local client's full JID is answered by the client;
        the answer, stamped with the client's JID by its stream, is taken.
        """
        alice = self.h.login("alice")
        d = self.requests.request(_ping("alice@localhost/res"), timeout=5)
        [request] = alice.received()
        alice.send(f"<iq type='result' id='{request['id']}' to='localhost'/>")
        self.assertEqual(self.successResultOf(d)["from"], "alice@localhost/res")

    def test_fromLocalEntity(self) -> None:
        """
        A request from a local entity (dmuc@) gets its answer through the
        tracker, not through the entity's sink.
        """
        sink = Silent()
        self.node.addEntity("dmuc@localhost", sink)
        d = self.requests.request(discoInfo("localhost", "dmuc@localhost"), timeout=5)
        self.assertEqual(self.successResultOf(d)["to"], "dmuc@localhost")
        self.assertEqual(sink.stanzas, [])

    def test_otherResponderNotTaken(self) -> None:
        """
        An answer with the right id from another JID (a local user) is not
        taken: it is routed on as any stanza; the true answer still is.
        """
        silent = Silent()
        self.node.addEntity("quiet@localhost", silent)
        mallory = self.h.login("mallory")
        d = self.requests.request(discoInfo("quiet@localhost"), timeout=5)
        [request] = silent.stanzas
        mallory.send(f"<iq type='result' id='{request['id']}' to='localhost'/>")
        self.assertNoResult(d)
        self.node.route(parseStanza(answer(request)))
        self.assertEqual(self.successResultOf(d)["from"], "quiet@localhost")

    def test_otherRequesterNotTaken(self) -> None:
        """
        An answer from the right JID to another JID than the requester is
        not taken.
        """
        silent = Silent()
        self.node.addEntity("quiet@localhost", silent)
        self.node.addEntity("other@localhost", Silent())
        d = self.requests.request(discoInfo("quiet@localhost"), timeout=5)
        [request] = silent.stanzas
        self.node.route(parseStanza(f"<iq type='result' id='{request['id']}' to='other@localhost' "
                               "from='quiet@localhost'/>"))
        self.assertNoResult(d)

    def test_requestNotAnAnswer(self) -> None:
        """
        An IQ get or set with a pending id is not an answer.
        """
        silent = Silent()
        self.node.addEntity("quiet@localhost", silent)
        d = self.requests.request(discoInfo("quiet@localhost"), timeout=5)
        [request] = silent.stanzas
        self.node.route(parseStanza(answer(request, kind="get")))
        self.assertNoResult(d)

    def test_ids(self) -> None:
        """
        Ids come from the node's random: fresh per request, the same for
        the same seed, whatever id the caller set.
        """
        def ids(seed: int) -> list[str]:
            h = Harness(seed=seed)
            silent = Silent()
            h.node.addEntity("quiet@localhost", silent)
            for _ in range(3):
                iq = discoInfo("quiet@localhost")
                iq["id"] = "mine"
                h.node.iqRequests.request(iq, timeout=5)
            return [s["id"] for s in silent.stanzas]

        first = ids(1)
        self.assertEqual(len(set(first)), 3)
        self.assertNotIn("mine", first)
        self.assertEqual(ids(1), first)
        self.assertNotEqual(ids(2), first)

    def test_stopFailsPending(self) -> None:
        """
        Pending requests fail with CancelledError when the node stops.
        """
        self.node.addEntity("quiet@localhost", Silent())
        d = self.requests.request(discoInfo("quiet@localhost"), timeout=5)
        self.node.hooks.notify("node-stopping")
        self.failureResultOf(d, defer.CancelledError)
        self.assertEqual(self.requests.pending, {})
        self.assertEqual(self.h.clock.getDelayedCalls(), [])

    def test_cancel(self) -> None:
        """
        A caller that cancels its request forgets it: its answer is not
        taken.
        """
        silent = Silent()
        self.node.addEntity("quiet@localhost", silent)
        d = self.requests.request(discoInfo("quiet@localhost"), timeout=5)
        d.cancel()
        self.failureResultOf(d, defer.CancelledError)
        self.assertEqual(self.requests.pending, {})
        [request] = silent.stanzas
        self.assertFalse(self.requests.take(parseStanza(answer(request)), JID("localhost")))

    def test_refused(self) -> None:
        """
        Only an IQ get or set with a valid to, from a JID the node hosts,
        is a request.
        """
        result = discoInfo("localhost")
        result["type"] = "result"
        for iq in (result, discoInfo("b.example", "alice@b.example"), discoInfo("a@@b")):
            self.assertRaises(ValueError, self.requests.request, iq, 5)
        self.assertEqual(self.requests.pending, {})


class TwoNodeTests(unittest.TestCase):
    """
    Requests from a.test to b.test over the network's real s2s.
    """

    def setUp(self) -> None:
        self.net = FakeNetwork(("a.test", "b.test"), seed=3)
        self.requests = self.net.node("a.test").node.iqRequests

    def test_answered(self) -> None:
        """
        A disco#info request from a.test to b.test is answered by b.test.
        """
        d = self.requests.request(discoInfo("b.test"), timeout=5)
        self.net.flush()
        result = self.successResultOf(d)
        self.assertEqual((result["from"], result["to"]), ("b.test", "a.test"))
        self.assertIn(NS_DISCO_INFO, features(result))

    def test_fromRoom(self) -> None:
        """
        A request from a room's JID on a.test's MUC service (as a primary
        asks a replica) is answered over s2s to that JID and taken.
        """
        d = self.requests.request(discoInfo("b.test", "room@muc.a.test"), timeout=5)
        self.net.flush()
        result = self.successResultOf(d)
        self.assertEqual((result["from"], result["to"]), ("b.test", "room@muc.a.test"))

    def linked(self) -> None:
        """
        Bring both links up (a chat each way), so that a cut direction
        leaves the other one open.
        """
        alice = self.net.login("alice@a.test")
        self.bob = self.net.login("bob@b.test")
        alice.send("<message to='bob@b.test/res' type='chat'><body>1</body></message>")
        self.bob.send("<message to='alice@a.test/res' type='chat'><body>2</body></message>")
        self.net.flush()

    def test_timeoutWhenCut(self) -> None:
        """
        With a.test -> b.test dropping everything, the request times out.
        """
        self.linked()
        self.net.cut("a.test", "b.test", "drop")
        d = self.requests.request(discoInfo("b.test"), timeout=5)
        self.net.advance(4)
        self.assertNoResult(d)
        self.net.advance(1)
        self.failureResultOf(d, IQTimeout)

    def test_spoofedAnswer(self) -> None:
        """
        An answer with the right id from another JID of b.test (a user,
        bob@b.test) is not taken; the request then times out.
        """
        self.linked()
        self.net.cut("a.test", "b.test", "drop")
        iq = discoInfo("b.test")
        d = self.requests.request(iq, timeout=5)
        refused: list[dict] = []
        observer = lambda event: refused.append(event) if "sender" in event else None
        globalLogPublisher.addObserver(observer)
        self.addCleanup(globalLogPublisher.removeObserver, observer)
        self.bob.send(f"<iq type='result' id='{iq['id']}' to='a.test'/>")
        self.net.flush()
        self.assertNoResult(d)
        # It arrived, and was refused for its sender.
        self.assertEqual([e["sender"] for e in refused], ["bob@b.test/res"])
        self.net.advance(5)
        self.failureResultOf(d, IQTimeout)

    def test_remoteError(self) -> None:
        """
        An error from the remote side fails the request with its
        condition (a resource of b.test that is not bound).
        """
        self.net.login("bob@b.test")
        d = self.requests.request(discoInfo("bob@b.test/gone"), timeout=5)
        self.net.flush()
        self.assertEqual(self.failureResultOf(d, IQErrorReply).value.condition,
                         "service-unavailable")

    def test_stop(self) -> None:
        """
        Stopping a.test fails its pending requests.
        """
        self.linked()
        self.net.cut("b.test", "a.test", "drop")
        d = self.requests.request(discoInfo("b.test"), timeout=30)
        self.net.stop("a.test")
        self.failureResultOf(d, defer.CancelledError)
