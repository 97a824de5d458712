# -*- test-case-name: tests.dmuc.test_peers -*-
"""
Tests for L{xmuc.dmuc.peers}: which link events are splits and heals.
"""

from twisted.trial import unittest
from twisted.words.xish import domish

from xmuc.core.links import Bounced, LinkDown, LinkIdle, LinkUp
from xmuc.dmuc.peers import PeerDown, PeerUp, peerEvent


class PeerEventTests(unittest.TestCase):
    def test_up(self) -> None:
        """
        An authenticated link is a heal of the pair.
        """
        self.assertEqual(peerEvent(LinkUp("a.example", "b.example")), PeerUp("b.example"))

    def test_deadDown(self) -> None:
        """
        A dead link is a split, with the link's reason.
        """
        event = LinkDown("a.example", "b.example", "no answer to keepalive",
                         "remote-server-timeout", dead=True, established=True)
        self.assertEqual(peerEvent(event), PeerDown("b.example", "no answer to keepalive"))

    def test_stoppingDown(self) -> None:
        """
        A link that ends because this node stops says nothing of the peer.
        """
        event = LinkDown("a.example", "b.example", "stopping", "remote-server-not-found",
                         dead=False)
        self.assertIsNone(peerEvent(event))

    def test_idle(self) -> None:
        """
        An idle or clean close is not a split.
        """
        self.assertIsNone(peerEvent(LinkIdle("a.example", "b.example")))

    def test_unreachableBounce(self) -> None:
        """
        A stanza bounced as unreachable is a split; a refusal by a server
        that was reached is not.
        """
        stanza = domish.Element((None, "message"))
        self.assertEqual(
            peerEvent(Bounced("a.example", "b.example", stanza, "remote-server-not-found")),
            PeerDown("b.example", "remote-server-not-found"))
        self.assertIsNone(
            peerEvent(Bounced("a.example", "b.example", stanza, "service-unavailable")))
