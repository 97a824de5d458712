# -*- test-case-name: tests.im.test_presence -*-
"""
Tests for L{xmuc.im.presence}: broadcast, probes, directed presence and
subscriptions between users of one node (RFC 6121 sections 3 and 4).
"""

from __future__ import annotations

from typing import Any

from twisted.trial.unittest import SynchronousTestCase
from twisted.words.xish import domish

from tests.im.test_roster import IM, Sink, errorCondition, items, pushes, rosterGet
from tests.support.harness import FakeClient, Harness, parseStanza
from xmuc.im.presence import parsePriority, readdressed
from xmuc.storage.interfaces import RosterItem


def presences(stanzas: list[domish.Element]) -> list[tuple[str | None, str, str]]:
    """
    The presence stanzas among C{stanzas} as (type, from, to).
    """
    return [
        (s.getAttribute("type"), s.getAttribute("from"), s.getAttribute("to"))
        for s in stanzas
        if s.name == "presence"
    ]


class PresenceTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.h = Harness(features=IM)
        self.remote = Sink()
        self.h.node.router.remote = self.remote
        for name in ("alice", "bob", "carol"):
            self.h.createUser(name)

    def contact(self, user: str, contact: str, subscription: str, **kw: Any) -> None:
        """
        Put C{contact} in the roster of C{user} with a subscription.
        """
        if "@" not in contact:
            contact += "@localhost"
        self.h.store.setRosterItem(
            user, RosterItem(contact, subscription=subscription, **kw)
        )

    def mutual(self, a: str, b: str) -> None:
        self.contact(a, b, "both")
        self.contact(b, a, "both")

    def online(self, user: str, resource: str = "res") -> FakeClient:
        """
        Log in, fetch the roster, send initial presence and forget what
        arrived so far.
        """
        client = self.h.login(user, resource, create=False)
        rosterGet(client)
        client.send("<presence/>")
        client.received()
        return client

    def item(self, user: str, contact: str) -> RosterItem | None:
        result: list[Any] = []
        self.h.store.getRoster(user).addCallback(result.append)
        return result[0].items.get(contact)

    def lastActivity(self, user: str) -> Any:
        result: list[Any] = []
        self.h.store.getLastActivity(user).addCallback(result.append)
        return result[0]


class AvailableTests(PresenceTestCase):
    """
    Initial presence and presence updates.
    """

    def test_broadcastToSubscribersAndSelf(self) -> None:
        """
        Initial presence goes to each subscriber's bare JID and back to
        the sender; the session becomes available.
        """
        self.mutual("alice", "bob")
        bob = self.online("bob")
        alice = self.h.login("alice", create=False)
        alice.send("<presence><show>away</show></presence>")
        [seen] = [s for s in bob.received() if s.name == "presence"]
        self.assertEqual(
            (seen["from"], seen["to"]), ("alice@localhost/res", "bob@localhost")
        )
        self.assertEqual([str(c) for c in seen.elements()], ["away"])
        self.assertIn(
            (None, "alice@localhost/res", "alice@localhost/res"),
            presences(alice.received()),
        )
        self.assertTrue(alice.session.available)
        self.assertIsNotNone(alice.session.presence)

    def test_notToNonSubscribers(self) -> None:
        """
        A contact the user is subscribed to, but who is not subscribed to
        the user, gets no presence; its own presence comes back through
        the probe, which its client never sees.
        """
        self.contact("alice", "carol", "to")
        self.contact("carol", "alice", "from")
        carol = self.online("carol")
        alice = self.h.login("alice", create=False)
        alice.send("<presence/>")
        self.assertEqual(carol.received(), [])
        self.assertIn(
            (None, "carol@localhost/res", "alice@localhost"),
            presences(alice.received()),
        )

    def test_probeOfOfflineContact(self) -> None:
        """
        Probing a contact with no available resource answers unavailable
        from its bare JID (section 4.3.2).
        """
        self.mutual("alice", "bob")
        alice = self.h.login("alice", create=False)
        alice.send("<presence/>")
        self.assertIn(
            ("unavailable", "bob@localhost", "alice@localhost"),
            presences(alice.received()),
        )

    def test_probeFromNonSubscriberUnanswered(self) -> None:
        """
        A probe from someone without a subscription reveals nothing.
        """
        alice = self.online("alice")
        eve = self.h.login("carol")
        self.h.node.route(
            parseStanza(
                "<presence type='probe' from='carol@localhost' to='alice@localhost'/>"
            )
        )
        self.assertEqual(eve.received(), [])
        self.assertEqual(alice.received(), [])

    def test_remoteContacts(self) -> None:
        """
        For a remote contact with a mutual subscription, initial presence
        is routed to its bare JID and a probe from the user's bare JID
        follows.
        """
        self.contact("alice", "romeo@example.net", "both")
        self.online("alice")
        sent = presences(self.remote.stanzas)
        self.assertEqual(
            sent,
            [
                (None, "alice@localhost/res", "romeo@example.net"),
                ("probe", "alice@localhost", "romeo@example.net"),
            ],
        )

    def test_otherResources(self) -> None:
        """
        A new resource sees the presence of the account's other available
        resources, and they see its presence.
        """
        one = self.online("alice", "one")
        two = self.h.login("alice", "two", create=False)
        two.send("<presence/>")
        self.assertIn(
            (None, "alice@localhost/one", "alice@localhost/two"),
            presences(two.received()),
        )
        self.assertEqual(
            presences(one.received()),
            [(None, "alice@localhost/two", "alice@localhost/one")],
        )

    def test_updateNoNewProbes(self) -> None:
        """
        A presence update is broadcast again but sends no probes and does
        not count as initial presence.
        """
        initial: list[Any] = []
        self.h.node.hooks.add("session-initial-presence", initial.append)
        self.contact("alice", "romeo@example.net", "both")
        alice = self.online("alice")
        self.remote.stanzas.clear()
        alice.send("<presence><show>dnd</show></presence>")
        self.assertEqual(
            presences(self.remote.stanzas),
            [(None, "alice@localhost/res", "romeo@example.net")],
        )
        self.assertEqual(initial, [alice.session])

    def test_priority(self) -> None:
        """
        The priority of the presence is the session's.
        """
        alice = self.h.login("alice", create=False)
        alice.send("<presence><priority>-5</priority></presence>")
        self.assertEqual(alice.session.priority, -5)

    def test_invalidPriority(self) -> None:
        """
        A priority that is no integer from -128 to 127 is a bad request,
        and the session stays unavailable.
        """
        alice = self.h.login("alice", create=False)
        for value in ("high", "128"):
            alice.send(f"<presence><priority>{value}</priority></presence>")
            [reply] = alice.received()
            self.assertEqual(reply["type"], "error")
            self.assertEqual(errorCondition(reply), "bad-request")
        self.assertFalse(alice.session.available)

    def test_parsePriority(self) -> None:
        """
        No priority is priority 0; surrounding white space is fine.
        """
        self.assertEqual(parsePriority(parseStanza("<presence/>")), 0)
        self.assertEqual(
            parsePriority(parseStanza("<presence><priority> 7 </priority></presence>")),
            7,
        )

    def test_readdressedSharesPayload(self) -> None:
        """
        A readdressed copy has its own envelope and the same payload.
        """
        original = parseStanza("<presence from='a@b/c'><show>xa</show></presence>")
        copy = readdressed(original, "d@e")
        self.assertEqual(copy["to"], "d@e")
        self.assertFalse(original.hasAttribute("to"))
        self.assertEqual(copy.toXml().count("<show>xa</show>"), 1)


class UnavailableTests(PresenceTestCase):
    """
    Going unavailable, explicitly or by disconnecting.
    """

    def test_unavailableBroadcast(self) -> None:
        """
        Unavailable presence goes to subscribers and the account's
        resources, and the last activity is recorded with its status.
        """
        self.mutual("alice", "bob")
        bob = self.online("bob")
        alice = self.online("alice")
        bob.received()
        self.h.clock.advance(60)
        alice.send("<presence type='unavailable'><status>gone</status></presence>")
        self.assertEqual(
            presences(bob.received()),
            [("unavailable", "alice@localhost/res", "bob@localhost")],
        )
        self.assertEqual(
            presences(alice.received()),
            [("unavailable", "alice@localhost/res", "alice@localhost/res")],
        )
        self.assertFalse(alice.session.available)
        activity = self.lastActivity("alice")
        self.assertEqual(
            (activity.stamp, activity.status), (self.h.clock.seconds(), "gone")
        )

    def test_lastActivityOnlyForLastResource(self) -> None:
        """
        Last activity is recorded when the last available resource goes.
        """
        one = self.online("alice", "one")
        two = self.online("alice", "two")
        one.send("<presence type='unavailable'/>")
        self.assertIsNone(self.lastActivity("alice"))
        two.send("<presence type='unavailable'/>")
        self.assertIsNotNone(self.lastActivity("alice"))

    def test_disconnect(self) -> None:
        """
        A session that ends without unavailable presence is announced
        unavailable to its subscribers and other resources.
        """
        self.mutual("alice", "bob")
        bob = self.online("bob")
        other = self.online("alice", "other")
        alice = self.online("alice")
        bob.received()
        other.received()
        alice.disconnect()
        self.assertEqual(
            presences(bob.received()),
            [("unavailable", "alice@localhost/res", "bob@localhost")],
        )
        self.assertEqual(
            presences(other.received()),
            [("unavailable", "alice@localhost/res", "alice@localhost/other")],
        )

    def test_disconnectLastResource(self) -> None:
        """
        Disconnecting the only resource still informs subscribers and
        records last activity.
        """
        self.contact("alice", "romeo@example.net", "from")
        alice = self.online("alice")
        self.remote.stanzas.clear()
        alice.disconnect()
        self.assertEqual(
            presences(self.remote.stanzas),
            [("unavailable", "alice@localhost/res", "romeo@example.net")],
        )
        self.assertIsNotNone(self.lastActivity("alice"))

    def test_directedPresenceWithdrawn(self) -> None:
        """
        Directed presence is recorded, and withdrawn with unavailable
        presence when the session ends.
        """
        router = self.h.node.router
        alice = self.online("alice")
        alice.send("<presence to='room@muc.example.org/Alice'/>")
        self.assertTrue(
            router.hasDirectedPresence(
                "alice@localhost/res", "room@muc.example.org/Alice"
            )
        )
        self.remote.stanzas.clear()
        alice.disconnect()
        self.assertEqual(
            presences(self.remote.stanzas),
            [("unavailable", "alice@localhost/res", "room@muc.example.org/Alice")],
        )
        self.assertEqual(router.directedPresence("alice@localhost/res"), frozenset())

    def test_directedBeforeInitialPresence(self) -> None:
        """
        Directed presence from a session that never sent initial presence
        is withdrawn too, without any broadcast.
        """
        self.contact("alice", "romeo@example.net", "from")
        alice = self.h.login("alice", create=False)
        alice.send("<presence to='room@muc.example.org/Alice'/>")
        self.remote.stanzas.clear()
        alice.disconnect()
        self.assertEqual(
            presences(self.remote.stanzas),
            [("unavailable", "alice@localhost/res", "room@muc.example.org/Alice")],
        )

    def test_directedUnavailableForgets(self) -> None:
        """
        Directed unavailable presence is routed and ends the record.
        """
        router = self.h.node.router
        alice = self.online("alice")
        alice.send("<presence to='room@muc.example.org/Alice'/>")
        alice.send("<presence type='unavailable' to='room@muc.example.org/Alice'/>")
        self.assertFalse(
            router.hasDirectedPresence(
                "alice@localhost/res", "room@muc.example.org/Alice"
            )
        )
        self.assertEqual(len(self.remote.stanzas), 2)

    def test_directedToSubscriberNotRepeated(self) -> None:
        """
        A subscriber that also got directed presence gets one unavailable
        presence, not two.
        """
        self.mutual("alice", "bob")
        bob = self.online("bob")
        alice = self.online("alice")
        alice.send("<presence to='bob@localhost/res'/>")
        bob.received()
        alice.send("<presence type='unavailable'/>")
        self.assertEqual(len(presences(bob.received())), 1)


class SubscriptionTests(PresenceTestCase):
    """
    Subscription stanzas between two users of the node.
    """

    def test_handshake(self) -> None:
        """
        Alice asks, Bob approves: each sees the request or answer from a
        bare JID, both rosters are pushed, and Alice gets Bob's presence.
        """
        alice = self.online("alice")
        bob = self.online("bob")
        alice.send("<presence type='subscribe' to='bob@localhost/res'/>")
        self.assertEqual(
            presences(bob.received()),
            [("subscribe", "alice@localhost", "bob@localhost")],
        )
        [push] = pushes(alice.received())
        [item] = items(push)
        self.assertEqual((item["subscription"], item["ask"]), ("none", "subscribe"))
        bob.send("<presence type='subscribed' to='alice@localhost'/>")
        received = alice.received()
        [item] = items(pushes(received)[0])
        self.assertEqual(item["subscription"], "to")
        self.assertFalse(item.hasAttribute("ask"))
        self.assertEqual(
            presences(received),
            [
                ("subscribed", "bob@localhost", "alice@localhost"),
                (None, "bob@localhost/res", "alice@localhost"),
            ],
        )
        [item] = items(pushes(bob.received())[0])
        self.assertEqual(item["subscription"], "from")
        self.assertEqual(self.item("bob", "alice@localhost").subscription, "from")

    def test_requestKeptForOfflineUser(self) -> None:
        """
        A request to a user without resources waits, outside the roster,
        and is delivered at the user's next initial presence.
        """
        alice = self.online("alice")
        alice.send("<presence type='subscribe' to='bob@localhost'/>")
        bob = self.h.login("bob", create=False)
        self.assertEqual(items(rosterGet(bob)), [])
        bob.send("<presence/>")
        self.assertIn(
            ("subscribe", "alice@localhost", "bob@localhost"), presences(bob.received())
        )
        bob.send("<presence type='subscribed' to='alice@localhost'/>")
        bob.received()
        [item] = items(rosterGet(bob))
        self.assertEqual(
            (item["jid"], item["subscription"]), ("alice@localhost", "from")
        )
        self.assertIsNone(self.item("bob", "alice@localhost").pendingInStanza)

    def test_preApproval(self) -> None:
        """
        Subscribed without a request is kept as a pre-approval and not
        routed; the request that follows is approved by the server.
        """
        alice = self.online("alice")
        bob = self.online("bob")
        bob.send("<presence type='subscribed' to='alice@localhost'/>")
        self.assertEqual(alice.received(), [])
        [item] = items(pushes(bob.received())[0])
        self.assertEqual(item["approved"], "true")
        alice.send("<presence type='subscribe' to='bob@localhost'/>")
        self.assertNotIn("subscribe", [t for t, _, _ in presences(bob.received())])
        self.assertEqual(self.item("alice", "bob@localhost").subscription, "to")
        self.assertEqual(self.item("bob", "alice@localhost").subscription, "from")
        self.assertIn(
            ("subscribed", "bob@localhost", "alice@localhost"),
            presences(alice.received()),
        )

    def test_unsubscribe(self) -> None:
        """
        Unsubscribe ends the user's subscription; the contact's server
        sends the contact's unavailable presence.
        """
        self.mutual("alice", "bob")
        bob = self.online("bob")
        alice = self.online("alice")
        bob.received()
        alice.send("<presence type='unsubscribe' to='bob@localhost'/>")
        self.assertEqual(self.item("alice", "bob@localhost").subscription, "from")
        self.assertEqual(self.item("bob", "alice@localhost").subscription, "to")
        self.assertIn(
            ("unsubscribe", "alice@localhost", "bob@localhost"),
            presences(bob.received()),
        )
        self.assertIn(
            ("unavailable", "bob@localhost/res", "alice@localhost"),
            presences(alice.received()),
        )

    def test_unsubscribed(self) -> None:
        """
        Unsubscribed cancels the contact's subscription and sends it the
        user's unavailable presence.
        """
        self.mutual("alice", "bob")
        bob = self.online("bob")
        alice = self.online("alice")
        bob.received()
        bob.send("<presence type='unsubscribed' to='alice@localhost'/>")
        self.assertEqual(self.item("alice", "bob@localhost").subscription, "from")
        self.assertEqual(self.item("bob", "alice@localhost").subscription, "to")
        self.assertEqual(
            presences(alice.received()),
            [
                ("unsubscribed", "bob@localhost", "alice@localhost"),
                ("unavailable", "bob@localhost/res", "alice@localhost"),
            ],
        )

    def test_redundantSubscribe(self) -> None:
        """
        Asking twice changes nothing the second time: no roster push.
        """
        alice = self.online("alice")
        alice.send("<presence type='subscribe' to='bob@localhost'/>")
        alice.received()
        alice.send("<presence type='subscribe' to='bob@localhost'/>")
        self.assertEqual(pushes(alice.received()), [])

    def test_subscribeToNobody(self) -> None:
        """
        A request to an account that does not exist is answered
        unsubscribed, which withdraws the pending request.
        """
        alice = self.online("alice")
        alice.send("<presence type='subscribe' to='nobody@localhost'/>")
        received = alice.received()
        self.assertIn(
            ("unsubscribed", "nobody@localhost", "alice@localhost"), presences(received)
        )
        self.assertEqual(self.item("alice", "nobody@localhost").ask, False)

    def test_remoteContact(self) -> None:
        """
        A request to a remote contact is routed from the bare JID; the
        remote approval makes the subscription.
        """
        alice = self.online("alice")
        alice.send("<presence type='subscribe' to='romeo@example.net'/>")
        self.assertEqual(
            presences(self.remote.stanzas),
            [("subscribe", "alice@localhost", "romeo@example.net")],
        )
        self.h.node.route(
            parseStanza(
                "<presence type='subscribed' from='romeo@example.net/x' to='alice@localhost'/>"
            )
        )
        self.assertEqual(self.item("alice", "romeo@example.net").subscription, "to")
        self.assertIn(
            ("subscribed", "romeo@example.net", "alice@localhost"),
            presences(alice.received()),
        )

    def test_badSubscriptions(self) -> None:
        """
        A subscription stanza without C{to} is a bad request; one to the
        account itself is not allowed.
        """
        alice = self.online("alice")
        alice.send("<presence type='subscribe'/>")
        [reply] = alice.received()
        self.assertEqual(errorCondition(reply), "bad-request")
        alice.send("<presence type='subscribe' to='alice@localhost'/>")
        [reply] = alice.received()
        self.assertEqual(errorCondition(reply), "not-allowed")


class InboundTests(PresenceTestCase):
    """
    Presence arriving for local accounts and sessions.
    """

    def test_invalidTypeFromClient(self) -> None:
        """
        A presence of unknown type from a client is a bad request.
        """
        alice = self.h.login("alice", create=False)
        alice.send("<presence type='away'/>")
        [reply] = alice.received()
        self.assertEqual(errorCondition(reply), "bad-request")

    def test_invalidTypeInbound(self) -> None:
        """
        A presence of unknown type for a local user is bounced.
        """
        bob = self.h.login("bob", create=False)
        bob.send("<presence type='away' to='alice@localhost'/>")
        [reply] = bob.received()
        self.assertEqual(errorCondition(reply), "bad-request")

    def test_toFullJID(self) -> None:
        """
        Presence to a bound full JID is delivered to it, available or not;
        to an unknown resource it is ignored.
        """
        alice = self.h.login("alice", create=False)
        self.h.node.route(
            parseStanza(
                "<presence from='room@muc.example.org/x' to='alice@localhost/res'/>"
            )
        )
        self.h.node.route(
            parseStanza(
                "<presence from='room@muc.example.org/x' to='alice@localhost/gone'/>"
            )
        )
        self.assertEqual(
            presences(alice.received()),
            [(None, "room@muc.example.org/x", "alice@localhost/res")],
        )

    def test_toBareJID(self) -> None:
        """
        Presence to a bare JID goes to every available resource.
        """
        on = self.online("alice", "on")
        off = self.h.login("alice", "off", create=False)
        self.h.node.route(
            parseStanza("<presence from='romeo@example.net/x' to='alice@localhost'/>")
        )
        self.assertEqual(len(presences(on.received())), 1)
        self.assertEqual(off.received(), [])

    def test_toDomainIgnored(self) -> None:
        """
        Presence and probes for the domain itself get no answer.
        """
        alice = self.online("alice")
        alice.send("<presence type='probe' to='localhost'/>")
        alice.send("<presence to='localhost'/>")
        self.assertEqual(alice.received(), [])

    def test_errorToSession(self) -> None:
        """
        A presence error for a full JID reaches that session.
        """
        alice = self.online("alice")
        self.h.node.route(
            parseStanza(
                "<presence type='error' from='room@muc.example.org' to='alice@localhost/res'>"
                "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"
                "</error></presence>"
            )
        )
        self.assertEqual(
            presences(alice.received()),
            [("error", "room@muc.example.org", "alice@localhost/res")],
        )


class BlockingTests(PresenceTestCase):
    """
    A session's block list (XEP-0191) stops presence both ways.
    """

    def test_noBroadcastToBlocked(self) -> None:
        """
        A blocked subscriber gets neither available nor unavailable
        presence.
        """
        self.mutual("alice", "bob")
        bob = self.online("bob")
        alice = self.h.login("alice", create=False)
        alice.session.blocked = {"bob@localhost"}
        alice.send("<presence/>")
        alice.send("<presence type='unavailable'/>")
        self.assertEqual(presences(bob.received()), [])

    def test_noPresenceFromBlocked(self) -> None:
        """
        Presence from a blocked domain reaches neither the bare nor the
        full JID.
        """
        alice = self.online("alice")
        alice.session.blocked = {"example.net"}
        for to in ("alice@localhost", "alice@localhost/res"):
            self.h.node.route(
                parseStanza(f"<presence from='romeo@example.net/x' to='{to}'/>")
            )
        self.assertEqual(alice.received(), [])

    def test_probeFromBlocked(self) -> None:
        """
        A probe from a contact the session blocks is answered as if the
        user were offline.
        """
        self.mutual("alice", "bob")
        alice = self.online("alice")
        alice.session.blocked = {"bob@localhost"}
        bob = self.h.login("bob", create=False)
        bob.send("<presence/>")
        received = presences(bob.received())
        self.assertIn(("unavailable", "alice@localhost", "bob@localhost"), received)
        self.assertNotIn((None, "alice@localhost/res", "bob@localhost"), received)
