# -*- test-case-name: tests.muc.features.test_mam -*-
"""
The room archive queried with MAM (XEP-0313, namespace urn:xmpp:mam:2).

A query takes two room turns. The first decides who may read the archive
(anyone who may enter: not outcasts, and in members-only rooms members or
occupants) and who may filter it by real JID, and asks for the page from
storage (L{effects.QueryArchive}); storage is asynchronous, so its answer
comes back into the room as L{ArchiveAnswer} (L{MUCService.archiveAnswered})
and the second turn renders the page with the room's real-JID rules as
they are then.

Real JIDs follow XEP-0045 section 4.2 (L{maySeeRealJids}): moderators of
a semi-anonymous room and everyone in a non-anonymous room may see them,
judged by the requester's role in the room, or the role its affiliation
would give it on entering when it is not there. Those who may see real
JIDs get each message's sender as C{<x xmlns='muc#user'><item jid=…/></x>}
inside the forwarded message; the others get no such element at all (one
claiming a JID in a stored message is dropped for everyone, so exactly
the room's own statement is left). In a semi-anonymous room a requester
who may not see real JIDs filtering by one (C{with}) is refused with
C{forbidden}, whatever the archive holds, so the answer tells nothing.
Archive ids are the stanza-ids the room gave its messages (XEP-0359).
"""

from __future__ import annotations

from typing import Any, Iterable

from twisted.words.xish import domish

from xmuc.core.errors import Forbidden, ServiceUnavailable
from xmuc.core.stanza import parseStanza
from xmuc.muc import effects
from xmuc.muc.events import ArchiveAnswer, ArchiveQuery
from xmuc.muc.model import Affiliation, Role
from xmuc.muc.ns import NS_DELAY, NS_FORWARD, NS_MAM, NS_MUC_USER, NS_RSM
from xmuc.muc.permissions import defaultRole, maySeeRealJids
from xmuc.muc.registry import Registry
from xmuc.muc.stanzas import iqResult, stamp, stanza

#: Results per page when the query names no max, and at most.
DEFAULT_PAGE = 50
MAX_PAGE = 250


def pageSize(query: ArchiveQuery) -> int:
    return min(query.max if query.max is not None else DEFAULT_PAGE, MAX_PAGE)


def requesterRole(room: Any, sender: Any) -> Role:
    """
    The role that decides what a requester sees: its occupant's, or the
    one its affiliation gives on entering when it is not in the room.
    """
    occupant = room.occupantOf(sender)
    if occupant is None:
        occupant = next(iter(room.occupantsOf(sender.userhost())), None)
    if occupant is not None:
        return occupant.role
    return defaultRole(room.affiliation(sender.userhost()), room.config)


def onQuery(room: Any, turn: Any, event: ArchiveQuery) -> None:
    if not room.config.logging:
        raise ServiceUnavailable("This room keeps no archive")
    affiliation = room.affiliation(event.sender.userhost())
    if affiliation is Affiliation.OUTCAST:
        raise Forbidden("You are banned from this room")
    member = affiliation.rank >= Affiliation.MEMBER.rank
    if room.config.membersOnly and not member and room.occupantOf(event.sender) is None:
        raise Forbidden("The archive of this room is for members")
    if event.with_ is not None and not maySeeRealJids(
            requesterRole(room, event.sender), room.config):
        raise Forbidden("Only moderators may search this room's archive by real JID")
    turn.emit(effects.QueryArchive(room.name, event, pageSize(event)))


def onAnswer(room: Any, turn: Any, event: ArchiveAnswer) -> None:
    query = event.query
    showJids = maySeeRealJids(requesterRole(room, query.sender), room.config)
    for message in resultMessages(query, room.address, event.page.messages, showJids):
        turn.send(message)
    turn.send(fin(query, event.page))


def resultMessages(query: ArchiveQuery, room: str, records: Iterable[Any],
                   showJids: bool = False) -> list[domish.Element]:
    """
    One C{<message/>} per archived message, the stored stanza inside
    C{<forwarded/>}: as it was serialised, or, when it must carry the
    sender's real JID or drop an element claiming one, parsed again.
    """
    messages = []
    for record in records:
        message = stanza("message", room, query.sender.full())
        result = message.addElement((NS_MAM, "result"))
        if query.queryId is not None:
            result["queryid"] = query.queryId
        result["id"] = record.stanzaId
        forwarded = result.addElement((NS_FORWARD, "forwarded"))
        forwarded.addElement((NS_DELAY, "delay"))["stamp"] = stamp(record.stamp)
        if showJids or NS_MUC_USER in record.xml:
            forwarded.addChild(_withRealJid(record, showJids))
        else:
            forwarded.addRawXml(record.xml)
        messages.append(message)
    return messages


def _withRealJid(record: Any, showJids: bool) -> domish.Element:
    """
    The stored message without muc#user elements, with the room's own
    one naming the sender when C{showJids}.
    """
    element = parseStanza(record.xml)
    element.children = [c for c in element.children
                        if not (isinstance(c, domish.Element) and c.uri == NS_MUC_USER)]
    if showJids:
        x = element.addElement((NS_MUC_USER, "x"))
        x.addElement("item")["jid"] = record.occupant
    return element


def fin(query: ArchiveQuery, page: Any) -> domish.Element:
    """
    The IQ result ending a query, with the page's RSM summary.
    """
    done = domish.Element((NS_MAM, "fin"))
    if page.complete:
        done["complete"] = "true"
    rsm = done.addElement((NS_RSM, "set"))
    if page.messages:
        first = rsm.addElement("first", content=page.messages[0].stanzaId)
        first["index"] = str(page.index)
        rsm.addElement("last", content=page.messages[-1].stanzaId)
    rsm.addElement("count", content=str(page.count))
    return iqResult(query, done)


def discoFeatures(room: Any, features: set[str]) -> None:
    if room.config.logging:
        features.add(NS_MAM)


def install(registry: Registry) -> None:
    registry.on(ArchiveQuery, onQuery)
    registry.on(ArchiveAnswer, onAnswer)
    registry.hooks.add("disco-features", discoFeatures)
