# -*- test-case-name: tests.dmuc.test_engines -*-
"""
The pure pieces of the primary's rewrite of a room's effects
(L{xmuc.dmuc.primary}): grouping a broadcast's parts, splitting its
recipients into those served classically and those served by a replica,
and choosing the one copy of a presence change a replica gets.
"""

from __future__ import annotations

from typing import Any, Iterable

from twisted.words.protocols.jabber.jid import JID

from xmuc.dmuc.attachment import Attachment
from xmuc.dmuc.copies import codesOf, hasJid, withCodes
from xmuc.muc import events as ev
from xmuc.muc.effects import Broadcast
from xmuc.muc.view import Kind

#: The middle part of an attach's timer key.
ATTACH_TIMER = "dmuc-attach"

#: Parts of one broadcast that reach one replica, each with the
#: recipients it had on that replica's domain.
Parts = list[tuple[Broadcast, list[JID]]]


def attachTimer(room: str, domain: str) -> tuple[str, ...]:
    """
    The key of an attach's timeout: the room first, as the room service's
    timers (L{xmuc.muc.service.MUCService.timerFired}).
    """
    return (room, ATTACH_TIMER, domain)


def through(attached: dict[str, Attachment], recipient: JID, entrantJid: JID | None) -> bool:
    """
    Whether a recipient is served by its domain's replica: a session that
    entered through it (or is entering now). Sessions of that domain that
    joined before it was attached stay classic.
    """
    attachment = attached.get(recipient.host)
    return attachment is not None and (
        recipient.full() in attachment.sessions or recipient == entrantJid)


def split(attached: dict[str, Attachment], recipients: tuple[JID, ...],
          entrantJid: JID | None) -> tuple[tuple[JID, ...], dict[str, list[JID]]]:
    """
    A broadcast's recipients served classically (the tuple itself when
    that is all of them), and by domain those served through its replica.
    """
    classic: list[JID] = []
    replicated: dict[str, list[JID]] = {}
    get = attached.get
    for recipient in recipients:
        attachment = get(recipient.host)
        if attachment is None or (recipient.full() not in attachment.sessions
                                  and recipient != entrantJid):
            classic.append(recipient)
        else:
            replicated.setdefault(recipient.host, []).append(recipient)
    return (tuple(classic) if replicated else recipients), replicated


def variant(parts: Parts, own: Parts) -> tuple[Any, bool]:
    """
    The one copy of a presence change for a replica whose recipients are
    not all the changed occupant's own sessions, and whether it lacks a
    real JID its replica's users may not see: with the real JID when one
    of them may see it (they got the variant that has it), or when the
    occupant is the replica's own (its own presence, less 110: presence
    changes carry no other codes for the occupant alone).
    """
    others = [p for p, _ in parts if p.kind is not Kind.SELF_PRESENCE]
    seeing = [p for p in others if hasJid(p.stanza)]
    if seeing:
        return seeing[0].stanza, False
    if own:
        ownStanza = own[0][0].stanza
        return withCodes(ownStanza, codesOf(ownStanza) - {110}), False
    return others[0].stanza, True


def leaving(event: Any, recipients: Iterable[JID]) -> dict[str, Any]:
    """
    The marker's C{leave} when the turn is one of C{recipients} leaving.
    """
    if isinstance(event, ev.PresenceIn) and not event.available and \
            event.sender in recipients:
        return {"leave": event.sender}
    return {}


def groups(done: list[Any]) -> Iterable[list[Any]]:
    """
    The effects in order, the parts of one broadcast together.
    """
    group: list[Any] = []
    for effect in done:
        if group and isinstance(effect, Broadcast) and isinstance(group[0], Broadcast) \
                and effect.seq == group[0].seq:
            group.append(effect)
            continue
        if group:
            yield group
        group = [effect]
    if group:
        yield group


def roomOf(effect: Any) -> str | None:
    """
    The name of the room an effect's stanza is from, if it has one.
    """
    stanza = getattr(effect, "stanza", None)
    if stanza is None:
        return None
    sender = stanza.getAttribute("from", "")
    return sender.partition("@")[0] if "@" in sender else None
