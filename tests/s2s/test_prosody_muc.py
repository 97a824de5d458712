# -*- test-case-name: tests.s2s.test_prosody_muc -*-
"""
A real Prosody user in an xmuc room over s2s: pat@p.test joins
room@muc.a.test, talks with alice@a.test, is kicked, and rejoins. The MUC
service federates under its own name (muc.a.test), authenticated with its
certificate (SASL EXTERNAL).
"""

from __future__ import annotations


from tests.integration.support import EventWaiter, asyncTest, startClient
from tests.s2s.test_prosody import PROSODY_DOMAIN, _ProsodyFederation

ROOM = "room@muc.a.test"
PLUGINS = ("xep_0030", "xep_0004", "xep_0045", "xep_0199")


class ProsodyInRoomTests(_ProsodyFederation):
    certificates = "ca"
    secureAuth = True
    policy = "require_valid_certificate = true\ndialback = false\n"

    def started(self) -> None:
        super().started()
        self.dns.addServer("muc.a.test", "a.test", self.s2sPorts["a.test"], "127.0.0.1")

    async def prosodyClient(self) -> object:
        import ssl

        context = ssl.create_default_context(cafile=self.prosodyCA)
        return await startClient(
            self.clients, "pat@p.test/desk", "secret", self.prosodyPorts[0], context,
            plugins=PLUGINS,
        )

    @asyncTest
    async def test_joinTalkKickRejoin(self) -> None:
        """
        pat (Prosody) joins alice's room, both see each other's messages,
        alice kicks pat (307), pat rejoins (110) and is heard again.
        """
        alice = await self.client("alice@a.test/phone", plugins=PLUGINS)
        pat = await self.prosodyClient()
        aliceMUC, patMUC = alice.plugin["xep_0045"], pat.plugin["xep_0045"]
        presence, *_ = await aliceMUC.join_muc_wait(ROOM, "Alice")
        self.assertIn(201, presence["muc"]["status_codes"])
        await aliceMUC.set_room_config(ROOM, await aliceMUC.get_room_config(ROOM))
        try:
            presence, subject, occupants, history = await patMUC.join_muc_wait(ROOM, "Pat", timeout=20)
        except Exception:
            self.fail("join failed; Prosody's log:\n" + self.prosody.logText()[-4000:])
        self.assertIn(110, presence["muc"]["status_codes"])
        self.assertEqual([p["from"].resource for p in occupants], ["Alice", "Pat"])
        await self.talk(alice, pat, "Pat", "hello from p.test")
        await self.talk(pat, alice, "Alice", "hello from a.test")

        kicked = EventWaiter(pat, "muc::%s::self-presence" % ROOM)
        await aliceMUC.set_role(ROOM, "Pat", "none", reason="out")
        presence = await kicked.next(lambda p: p["type"] == "unavailable")
        self.assertEqual(set(presence["muc"]["status_codes"]), {110, 307})

        presence, *_ = await patMUC.join_muc_wait(ROOM, "Pat", timeout=20)
        self.assertIn(110, presence["muc"]["status_codes"])
        await self.talk(alice, pat, "Pat", "back again")
        link = self.node("a.test").s2s.links[("muc.a.test", PROSODY_DOMAIN)]
        self.assertEqual((link.state, link.stream.method), ("up", "EXTERNAL"))

    async def talk(self, listener, speaker, nick: str, body: str) -> None:
        """
        C{speaker} says C{body} in the room; C{listener} hears it from
        room/C{nick}.
        """
        hears = EventWaiter(listener, "groupchat_message")
        speaker.send_message(mto=ROOM, mbody=body, mtype="groupchat")
        message = await hears.next(lambda m: m["body"] == body)
        self.assertEqual(message["from"].full, f"{ROOM}/{nick}")
