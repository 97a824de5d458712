# -*- test-case-name: tests.im.test_roster -*-
"""
Tests for L{xmuc.im.roster}: roster get and set, versioning, pushes and
the errors of RFC 6121 section 2.
"""

from __future__ import annotations

from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase
from twisted.words.xish import domish

from tests.support.harness import FakeClient, Harness
from xmuc.im.roster import NS_ROSTER, NS_ROSTERVER, nextItem, stateOf
from xmuc.im.subscription import BOTH, Event, transition
from xmuc.storage.interfaces import RosterItem

IM = ("xmuc.im.delivery", "xmuc.im.roster", "xmuc.im.presence", "xmuc.im.offline")


class Sink:
    """
    Stands in for the s2s layer: keeps what is routed to remote domains.
    """

    def __init__(self) -> None:
        self.stanzas: list[domish.Element] = []

    def receive(self, stanza: domish.Element, to: Any) -> None:
        self.stanzas.append(stanza)


def rosterGet(client: FakeClient, ver: str | None = None) -> domish.Element:
    """
    Ask for the roster and return the one answer.
    """
    query = "" if ver is None else f" ver='{ver}'"
    client.send(f"<iq type='get' id='g'><query xmlns='jabber:iq:roster'{query}/></iq>")
    [reply] = client.received()
    return reply


def rosterSet(client: FakeClient, item: str, id: str = "s") -> None:
    client.send(
        f"<iq type='set' id='{id}'><query xmlns='jabber:iq:roster'>{item}</query></iq>"
    )


def items(reply: domish.Element) -> list[domish.Element]:
    [query] = [c for c in reply.elements() if c.name == "query"]
    return [c for c in query.elements() if c.name == "item"]


def errorCondition(reply: domish.Element) -> str:
    [error] = [c for c in reply.elements() if c.name == "error"]
    return next(iter(error.elements())).name


def pushes(stanzas: list[domish.Element]) -> list[domish.Element]:
    return [s for s in stanzas if s.name == "iq" and s.getAttribute("type") == "set"]


class RosterTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = Harness(features=IM)
        self.remote = Sink()
        self.h.node.router.remote = self.remote
        self.alice = self.h.login("alice")

    def storedRoster(self, username: str) -> Any:
        result: list[Any] = []
        self.h.store.getRoster(username).addCallback(result.append)
        return result[0]


class GetTests(RosterTestCase):
    """
    Roster get, with and without versioning.
    """

    def test_emptyRoster(self) -> None:
        """
        A new account has an empty roster; asking makes the session
        interested.
        """
        self.assertFalse(self.alice.session.interested)
        reply = rosterGet(self.alice)
        self.assertEqual(reply.getAttribute("type"), "result")
        self.assertEqual(items(reply), [])
        self.assertTrue(self.alice.session.interested)

    def test_noVersionWithoutClientVersion(self) -> None:
        """
        A client that does not send C{ver} gets no C{ver} back.
        """
        [query] = list(rosterGet(self.alice).elements())
        self.assertFalse(query.hasAttribute("ver"))

    def test_versionedResult(self) -> None:
        """
        A client that sends a stale C{ver} (or an empty one) gets the whole
        roster with the current version.
        """
        rosterSet(self.alice, "<item jid='bob@example.org' name='Bob'/>")
        self.alice.received()
        reply = rosterGet(self.alice, ver="")
        [query] = list(reply.elements())
        self.assertEqual(query["ver"], "1")
        [item] = items(reply)
        self.assertEqual((item["jid"], item["name"]), ("bob@example.org", "Bob"))

    def test_currentVersionAnswersEmpty(self) -> None:
        """
        A client whose version is current gets an empty result (section
        2.6.3) and is still interested in pushes.
        """
        rosterSet(self.alice, "<item jid='bob@example.org'/>")
        self.alice.received()
        reply = rosterGet(self.alice, ver="1")
        self.assertEqual(reply.getAttribute("type"), "result")
        self.assertEqual(list(reply.elements()), [])
        self.assertTrue(self.alice.session.interested)

    def test_hiddenRecordsNotListed(self) -> None:
        """
        A record kept only for a stranger's pending request is not part of
        the roster.
        """
        self.h.store.setRosterItem(
            "alice", RosterItem("eve@example.org", pendingIn=True, inRoster=False)
        )
        self.assertEqual(items(rosterGet(self.alice)), [])

    def test_otherUserForbidden(self) -> None:
        """
        Another account cannot read the roster.
        """
        bob = self.h.login("bob")
        bob.send(
            "<iq type='get' id='x' to='alice@localhost'>"
            "<query xmlns='jabber:iq:roster'/></iq>"
        )
        [reply] = bob.received()
        self.assertEqual(reply.getAttribute("type"), "error")
        self.assertEqual(errorCondition(reply), "service-unavailable")


class SetTests(RosterTestCase):
    """
    Roster set: add, update, remove and its errors.
    """

    def test_addPushesToInterested(self) -> None:
        """
        Adding an item answers with an empty result and pushes the item to
        every interested resource, not to the others.
        """
        other = self.h.login("alice", "other")
        bystander = self.h.login("alice", "quiet")
        rosterGet(self.alice)
        rosterGet(other)
        rosterSet(
            self.alice,
            "<item jid='bob@example.org' name='Bob'><group>Friends</group></item>",
        )
        received = self.alice.received()
        [result] = [s for s in received if s.getAttribute("type") == "result"]
        self.assertEqual(list(result.elements()), [])
        for client in (self.alice, other):
            [push] = pushes(received if client is self.alice else client.received())
            self.assertEqual(push["to"], client.session.full)
            [item] = items(push)
            self.assertEqual(item["subscription"], "none")
            self.assertEqual([str(g) for g in item.elements()], ["Friends"])
            [query] = list(push.elements())
            self.assertEqual(query["ver"], "1")
        self.assertEqual(bystander.received(), [])

    def test_updateKeepsSubscription(self) -> None:
        """
        Updating an item changes its name and groups, never its
        subscription: the client's C{subscription} attribute is ignored.
        """
        self.h.store.setRosterItem(
            "alice", RosterItem("bob@example.org", subscription="to")
        )
        rosterSet(
            self.alice, "<item jid='bob@example.org' name='B' subscription='both'/>"
        )
        item = self.storedRoster("alice").items["bob@example.org"]
        self.assertEqual((item.name, item.subscription), ("B", "to"))

    def test_badRequests(self) -> None:
        """
        Two items, no jid or a repeated group are bad requests; an empty
        group is not acceptable; an invalid jid is malformed.
        """
        cases = [
            ("<item jid='a@b'/><item jid='c@d'/>", "bad-request"),
            ("", "bad-request"),
            ("<item name='x'/>", "bad-request"),
            ("<item jid='a@b'><group>G</group><group>G</group></item>", "bad-request"),
            ("<item jid='a@b'><group/></item>", "not-acceptable"),
            ("<item jid='a@b@c'/>", "jid-malformed"),
        ]
        for item, condition in cases:
            rosterSet(self.alice, item)
            [reply] = self.alice.received()
            self.assertEqual(errorCondition(reply), condition, item)
        self.assertEqual(self.storedRoster("alice").items, {})

    def test_setByOtherUserForbidden(self) -> None:
        """
        Another account cannot change the roster (section 2.3.3).
        """
        bob = self.h.login("bob")
        bob.send(
            "<iq type='set' id='x' to='alice@localhost'><query xmlns='jabber:iq:roster'>"
            "<item jid='mallory@localhost'/></query></iq>"
        )
        [reply] = bob.received()
        self.assertEqual(errorCondition(reply), "forbidden")
        self.assertEqual(self.storedRoster("alice").items, {})

    def test_removeUnknown(self) -> None:
        """
        Removing a contact that is not there is item-not-found.
        """
        rosterSet(self.alice, "<item jid='nobody@example.org' subscription='remove'/>")
        [reply] = self.alice.received()
        self.assertEqual(errorCondition(reply), "item-not-found")

    def test_removeCancelsSubscriptions(self) -> None:
        """
        Removing a contact with a mutual subscription sends it unsubscribe
        and unsubscribed from the bare JID, then pushes the removal.
        """
        self.h.store.setRosterItem(
            "alice", RosterItem("bob@example.org", subscription="both")
        )
        rosterGet(self.alice)
        rosterSet(self.alice, "<item jid='bob@example.org' subscription='remove'/>")
        sent = [(s["type"], s["from"], s["to"]) for s in self.remote.stanzas]
        self.assertEqual(
            sent,
            [
                ("unsubscribe", "alice@localhost", "bob@example.org"),
                ("unsubscribed", "alice@localhost", "bob@example.org"),
            ],
        )
        [push] = pushes(self.alice.received())
        [item] = items(push)
        self.assertEqual(item["subscription"], "remove")
        self.assertEqual(self.storedRoster("alice").items, {})

    def test_removeLocalContact(self) -> None:
        """
        Removing a local contact with a mutual subscription leaves the
        contact with no subscription either way.
        """
        bob = self.h.login("bob")
        self.h.store.setRosterItem(
            "alice", RosterItem("bob@localhost", subscription="both")
        )
        self.h.store.setRosterItem(
            "bob", RosterItem("alice@localhost", subscription="both")
        )
        rosterGet(bob)
        rosterSet(self.alice, "<item jid='bob@localhost' subscription='remove'/>")
        self.assertEqual(
            self.storedRoster("bob").items["alice@localhost"].subscription, "none"
        )
        self.assertEqual(len(pushes(bob.received())), 2)


class FeatureTests(RosterTestCase):
    """
    Registration with the node.
    """

    def test_streamFeature(self) -> None:
        """
        Roster versioning is advertised as a stream feature.
        """
        elements = [p(None) for p in self.h.node.streamFeatures]
        names = [(e.uri, e.name) for e in elements if e is not None]
        self.assertIn((NS_ROSTERVER, "ver"), names)

    def test_handlers(self) -> None:
        """
        The roster namespace is handled for accounts.
        """
        self.assertTrue(self.h.node.accountIQ.handles(NS_ROSTER))


class OrderTests(RosterTestCase):
    """
    Work for one account runs in order.
    """

    def test_serialise(self) -> None:
        """
        Work waits until earlier work for the same account finished, while
        another account's work goes ahead.
        """
        service = self.h.node.modules["roster"]
        first: defer.Deferred[None] = defer.Deferred()
        log: list[str] = []
        service.serialise("alice", lambda: first)
        service.serialise("alice", log.append, "alice second")
        service.serialise("bob", log.append, "bob")
        self.assertEqual(log, ["bob"])
        first.callback(None)
        self.assertEqual(log, ["bob", "alice second"])
        self.assertEqual(service._locks, {})

    def test_failureDoesNotBlock(self) -> None:
        """
        Work that fails releases the account for the next piece of work.
        """
        service = self.h.node.modules["roster"]
        failed = service.serialise("alice", lambda: 1 / 0)
        self.failureResultOf(failed, ZeroDivisionError)
        self.assertEqual(self.successResultOf(service.serialise("alice", lambda: 7)), 7)


class NextItemTests(SynchronousTestCase):
    """
    How a subscription event changes a stored record.
    """

    def test_strangerRequestHidden(self) -> None:
        """
        A stranger's request is kept, with its stanza, out of the roster.
        """
        change = transition(stateOf(None), Event.IN_SUBSCRIBE)
        item = nextItem(None, "eve@x", change, "<presence/>")
        self.assertEqual(
            item,
            RosterItem(
                "eve@x", pendingIn=True, pendingInStanza="<presence/>", inRoster=False
            ),
        )

    def test_deniedStrangerForgotten(self) -> None:
        """
        Once a stranger's request is denied nothing is left to keep.
        """
        record = RosterItem("eve@x", pendingIn=True, inRoster=False)
        change = transition(stateOf(record), Event.OUT_UNSUBSCRIBED)
        self.assertIsNone(nextItem(record, "eve@x", change, None))

    def test_approvalAddsToRoster(self) -> None:
        """
        Approving a stranger puts it in the roster and drops the kept
        request.
        """
        record = RosterItem(
            "eve@x",
            subscription="to",
            pendingIn=True,
            pendingInStanza="<p/>",
            inRoster=False,
        )
        change = transition(stateOf(record), Event.OUT_SUBSCRIBED)
        item = nextItem(record, "eve@x", change, None)
        assert item is not None
        self.assertEqual(stateOf(item), BOTH)
        self.assertTrue(item.inRoster)
        self.assertIsNone(item.pendingInStanza)
