# -*- test-case-name: tests.integration.test_muc_large -*-
"""
A room of 500 occupants end to end on one node, with 500 real slixmpp
clients: all join (each sees its own presence with status 110 and the
room's occupant count), one message reaches every one of them, and a
leave reaches the others.
"""

from __future__ import annotations

import asyncio
from typing import Any

from tests.integration.support import EventWaiter, NodeTestCase, asyncTest, wait
from tests.integration.test_muc import PLUGINS

ROOM = "big@muc.localhost"
OCCUPANTS = 500


class LargeRoomTests(NodeTestCase):
    extraConfig = "require_tls = false\nrate_limit = 0\n"

    async def login(self, index: int) -> Any:
        from tests.integration.support import startClient

        await self.createUser(f"u{index:03d}")
        return await startClient(
            self.clients, f"u{index:03d}@localhost/r", "secret", self.port, self.clientContext(),
            plugins=PLUGINS,
        )

    #: 500 real clients take minutes on two cores (each parses the room's
    #: presence of every other occupant).
    timeout = 900

    @asyncTest
    async def test_fiveHundred(self) -> None:
        """
        500 slixmpp clients join one room; a message from the first reaches
        all 500; the last one's leave reaches the other 499.
        """
        semaphore = asyncio.Semaphore(25)

        async def bounded(coroutine):
            async with semaphore:
                return await coroutine

        clients = await wait(
            asyncio.gather(*(bounded(self.login(i)) for i in range(OCCUPANTS))), 300
        )
        owner = clients[0]
        await owner.plugin["xep_0045"].join_muc_wait(ROOM, "n000", timeout=60)
        await owner.plugin["xep_0045"].set_room_config(
            ROOM, await owner.plugin["xep_0045"].get_room_config(ROOM))

        async def join(index: int, client: Any) -> Any:
            presence, *_ = await client.plugin["xep_0045"].join_muc_wait(
                ROOM, f"n{index:03d}", maxstanzas=0, timeout=120)
            return presence

        presences = await wait(asyncio.gather(
            *(bounded(join(i, c)) for i, c in enumerate(clients) if i)), 600)
        self.assertTrue(all(110 in p["muc"]["status_codes"] for p in presences))
        room = self.node.modules["muc"].service.rooms["big"]
        self.assertEqual(len(room.occupants), OCCUPANTS)

        waiters = [EventWaiter(c, "groupchat_message") for c in clients]
        owner.send_message(mto=ROOM, mbody="to all 500", mtype="groupchat")
        heard = await wait(asyncio.gather(
            *(w.next(lambda m: m["body"] == "to all 500") for w in waiters)), 300)
        self.assertEqual({m["from"].full for m in heard}, {f"{ROOM}/n000"})

        leaves = [EventWaiter(c, "muc::%s::got_offline" % ROOM) for c in clients[:-1]]
        clients[-1].plugin["xep_0045"].leave_muc(ROOM, f"n{OCCUPANTS - 1:03d}")
        gone = await wait(asyncio.gather(*(w.next() for w in leaves)), 300)
        self.assertEqual({p["from"].resource for p in gone}, {f"n{OCCUPANTS - 1:03d}"})
