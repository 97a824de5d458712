# -*- test-case-name: tests.muc.test_messages -*-
"""
Messages to all occupants (XEP-0045 section 7.4) and IQs to occupants.

A groupchat message goes through the C{groupchat} hook (flood, size,
voice; a subject change is consumed there), is reflected from the
sender's occupant JID with the sender's C{id}, and, when it has a body,
gets the room's stanza-id (XEP-0359) and goes to the C{archived} hook
(history, archive).

An IQ to an occupant is forwarded from the sender's occupant JID under an
id of the room's, and the answer is forwarded back; vCard requests go to
the occupant's account, everything else to its client.
"""

from __future__ import annotations

from twisted.words.xish import domish

from xmuc.core.errors import Forbidden, ItemNotFound
from xmuc.core.stanza import readdressed
from xmuc.muc.events import GroupchatIn, IQReplyIn, IQToOccupantIn
from xmuc.muc.model import Occupant
from xmuc.muc.ns import NS_SID
from xmuc.muc.permissions import maySpeak
from xmuc.muc.registry import Registry
from xmuc.muc.room import Room, Turn
from xmuc.muc.stanzas import delay, stanza

NS_VCARD = "vcard-temp"


def onGroupchat(room: Room, turn: Turn, event: GroupchatIn) -> None:
    occupant = room.requireOccupant(event.sender)
    if room.registry.hooks.fire("groupchat", room, turn, occupant, event):
        return
    element = stanza("message", room.occupantAddress(occupant), kind="groupchat",
                     id=event.id)
    for child in event.payload:
        element.addChild(child)
    room.registry.hooks.fire("from-occupant", room, occupant, element)
    stanzaId = None
    if event.body is not None:
        stanzaId = "%024x" % room.service.random.getrandbits(96)
        sid = element.addElement((NS_SID, "stanza-id"))
        sid["id"] = stanzaId
        sid["by"] = room.address
    stamp = turn.now if event.stamp is None else event.stamp
    if event.stamp is None:
        room.broadcastMessage(turn, element)
    else:
        # A spooled message: everyone sees when it was written; history
        # and the archive keep it without that delay (they add their own).
        room.broadcastMessage(turn, readdressed(element, None, extra=(
            delay(event.stamp, room.address),)))
    if stanzaId is not None:
        room.registry.hooks.fire("archived", room, turn, occupant, element, stanzaId, stamp)


def requireVoice(room: Room, turn: Turn, occupant: Occupant, event: GroupchatIn) -> None:
    """
    Section 7.4: visitors in a moderated room may not speak to all.
    """
    if not maySpeak(occupant.role):
        raise Forbidden("You have no voice in this room")


def onIQToOccupant(room: Room, turn: Turn, event: IQToOccupantIn) -> None:
    if room.registry.hooks.fire("iq-to-occupant", room, turn, event):
        return
    sender = room.requireOccupant(event.sender)
    target = room.occupantByNick(event.nick)
    if target is None:
        raise ItemNotFound("No such occupant")
    token = "%016x" % room.service.random.getrandbits(64)
    room.forwarded[token] = (event.sender, event.id, target.nick)
    while len(room.forwarded) > room.MAX_FORWARDED:
        room.forwarded.popitem(last=False)
    to = target.bare if event.namespace == NS_VCARD else target.jid.full()
    iq = stanza("iq", room.occupantAddress(sender), to, event.kind, token)
    iq.addChild(event.payload)
    turn.send(iq)


def onIQReply(room: Room, turn: Turn, event: IQReplyIn) -> None:
    """
    An answer to a forwarded IQ goes back to who asked; answers the room
    does not expect are dropped (RFC 6120 section 8.2.3: never answered).
    """
    entry = room.forwarded.pop(event.id or "", None)
    if entry is None:
        return
    sender, originalId, nick = entry
    replier = room.occupantOf(event.sender)
    address = f"{room.address}/{replier.nick if replier else nick}"
    reply = stanza("iq", address, sender.full(), event.kind, originalId)
    for child in event.children:
        if isinstance(child, domish.Element):
            reply.addChild(child)
    turn.send(reply)


def install(registry: Registry) -> None:
    registry.on(GroupchatIn, onGroupchat)
    registry.on(IQToOccupantIn, onIQToOccupant)
    registry.on(IQReplyIn, onIQReply)
    registry.hooks.add("groupchat", requireVoice, priority=100)
