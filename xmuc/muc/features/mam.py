# -*- test-case-name: tests.muc.features.test_mam -*-
"""
The room archive queried with MAM (XEP-0313, namespace urn:xmpp:mam:2).

The room decides who may read its archive (anyone who may enter: not
outcasts, and in members-only rooms members or occupants) and asks the
glue to run the query on storage (L{effects.QueryArchive}); the glue
renders the page with L{resultMessages} and L{fin}. Archive ids are the
stanza-ids the room gave its messages (XEP-0359).
"""

from __future__ import annotations

from typing import Any, Iterable

from twisted.words.xish import domish

from xmuc.core.errors import Forbidden, ServiceUnavailable
from xmuc.muc import effects
from xmuc.muc.events import ArchiveQuery
from xmuc.muc.model import Affiliation
from xmuc.muc.ns import NS_DELAY, NS_FORWARD, NS_MAM, NS_RSM
from xmuc.muc.registry import Registry
from xmuc.muc.stanzas import iqResult, stamp, stanza

#: Results per page when the query names no max, and at most.
DEFAULT_PAGE = 50
MAX_PAGE = 250


def pageSize(query: ArchiveQuery) -> int:
    return min(query.max if query.max is not None else DEFAULT_PAGE, MAX_PAGE)


def onQuery(room: Any, turn: Any, event: ArchiveQuery) -> None:
    if not room.config.logging:
        raise ServiceUnavailable("This room keeps no archive")
    affiliation = room.affiliation(event.sender.userhost())
    if affiliation is Affiliation.OUTCAST:
        raise Forbidden("You are banned from this room")
    member = affiliation.rank >= Affiliation.MEMBER.rank
    if room.config.membersOnly and not member and room.occupantOf(event.sender) is None:
        raise Forbidden("The archive of this room is for members")
    turn.emit(effects.QueryArchive(room.name, event))


def resultMessages(query: ArchiveQuery, room: str,
                   records: Iterable[Any]) -> list[domish.Element]:
    """
    One C{<message/>} per archived message, the stored stanza inside
    C{<forwarded/>} as it was serialised.
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
        forwarded.addRawXml(record.xml)
        messages.append(message)
    return messages


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
    registry.hooks.add("disco-features", discoFeatures)
