# -*- test-case-name: tests.glue.test_sweep -*-
"""
The invariants of the sweep (L{tests.support.sweep}), checked at a quiet
point with no fault active. Each check returns its violations as text,
C{"kind: detail"}; L{check} runs them all.

"Present for a message": a session of an occupant of the room at the end
of the room's turn that archived it (L{tests.support.sweep.Accepted}).
Such a session, alive at the check, got the message exactly once live;
a session that died in a restart at most once; any other session never
live.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any, Iterator

from xmuc.muc.model import Affiliation

if TYPE_CHECKING:
    from tests.support.sweep import Sweep

#: Codes of an unavailable presence that removes someone, and who may
#: cause them in a sweep: a kick, a ban, a server unreachable for longer
#: than the grace period.
KICK, BAN, GHOST = 307, 301, 333


def check(sweep: "Sweep") -> list[str]:
    found: list[str] = []
    for checker in (answers, delivery, rosters, mirrors, archives, bans, splitJoins,
                    removals, ghosts):
        found.extend(checker(sweep))
    return found


def answers(sweep: "Sweep") -> Iterator[str]:
    """
    Every message sent was either taken (the sender got it back, and the
    room archived it) or refused (the sender got an error with its id,
    and the room did not archive it), never both, never neither.
    """
    archived = {a.body for a in sweep.accepted}
    views = {v.full: v for v in sweep.views}
    for sent in sweep.sent:
        view = views[sent.sender]
        echoed = any(body == sent.body for body, _ in view.live(sent.room))
        refused = sent.body in view.errors
        taken = sent.body in archived
        if view.died is not None and not (echoed or refused):
            continue
        if echoed and refused:
            yield f"answered twice: {sent.body} from {sent.sender} (echo and error)"
        elif refused and taken:
            yield (f"refused but archived: {sent.body} from {sent.sender} "
                   f"({view.errors[sent.body]})")
        elif echoed and not taken:
            yield f"echoed, not archived: {sent.body} from {sent.sender}"
        elif not echoed and not refused:
            state = "archived" if taken else "not archived"
            yield f"unanswered send: {sent.body} from {sent.sender} to {sent.room} ({state})"


def delivery(sweep: "Sweep") -> Iterator[str]:
    """
    Exactly once to every session present (at most once to a dead one),
    never live to anyone else, nothing while out of the room, and the
    stanza-id the room archived.
    """
    for view in sweep.views:
        for room in sweep.rooms:
            counts = Counter(body for body, _ in view.live(room))
            ids = dict(view.live(room))
            for message in (a for a in sweep.accepted if a.room == room):
                got = counts.pop(message.body, 0)
                present = view.full in message.audience
                if got and ids[message.body] != message.stanzaId:
                    yield (f"wrong stanza-id: {message.body} to {view.full} "
                           f"({ids[message.body]} != {message.stanzaId})")
                if present and got == 0 and view.died is None:
                    yield f"lost: {message.body} in {room} to {view.full}"
                elif got > 1:
                    yield f"duplicated: {message.body} in {room} to {view.full} x{got}"
                elif got and not present:
                    yield f"not an occupant: {message.body} in {room} to {view.full}"
            for body in counts:
                yield f"never archived: {body} in {room} to {view.full}"
            for body in view.rooms[room].strays:
                yield f"while out of the room: {body} in {room} to {view.full}"


def rosters(sweep: "Sweep") -> Iterator[str]:
    """
    Each live session is in a room under the nick the room's node holds
    for it, or out when it holds none; one that is in sees the room's
    roster.
    """
    for room in sweep.rooms:
        occupants = sweep.occupants(room)
        nicks = set(occupants)
        for view in sweep.live.values():
            held = next((n for n, jids in occupants.items() if view.full in jids), None)
            seen = view.rooms[room]
            if held != seen.nick:
                yield f"roster: {view.full} is {seen.nick!r} in {room}, the room says {held!r}"
            elif held is not None and seen.roster != nicks:
                yield (f"roster: {view.full} sees {sorted(seen.roster)} in {room}, "
                       f"the room holds {sorted(nicks)}")


def _replica(sweep: "Sweep", node: str) -> Any:
    dmuc = sweep.net.nodes[node].node.modules.get("dmuc")
    return dmuc.replica.replica if dmuc is not None else None


def _primaryEngine(sweep: "Sweep", room: str) -> Any:
    home = room.split("@", 1)[1].split(".", 1)[1]
    dmuc = sweep.net.nodes[home].node.modules.get("dmuc")
    return dmuc.primary.primary if dmuc is not None and dmuc.primary else None


def mirrors(sweep: "Sweep") -> Iterator[str]:
    """
    Every replica attached to a room is live, at the room's last C{seq}
    for it (no gap, nothing missing), with the room's roster, its
    node's sessions as local members, the room's bans on its domain, and
    a history that ends the room's; no replica holds a room that is not
    attached to it.
    """
    for room in sweep.rooms:
        engine, held = _primaryEngine(sweep, room), sweep.primary(room)
        name = room.split("@", 1)[0]
        occupants = sweep.occupants(room)
        for node in sweep.scenario.nodes:
            replica = _replica(sweep, node)
            if replica is None:
                continue
            mirror = replica.rooms.get(room)
            attached = engine.attachment(name, node) if engine is not None else None
            if attached is None:
                if mirror is not None:
                    yield f"mirror: {node} holds {room}, which is not attached to it"
                continue
            if attached.state.value != "attached":
                yield f"mirror: the attach of {room} to {node} is still {attached.state.value}"
                continue
            if mirror is None:
                yield f"mirror: {room} is attached to {node}, which holds no copy"
                continue
            yield from _mirror(room, node, mirror, attached, held, occupants)


def _mirror(room: str, node: str, mirror: Any, attached: Any, held: Any,
            occupants: dict[str, set[str]]) -> Iterator[str]:
    where = f"{room} on {node}"
    if mirror.phase.value != "live":
        yield f"seq: {where} is {mirror.phase.value} at seq {mirror.lastSeq}"
    if mirror.lastSeq != attached.seq:
        yield f"seq: {where} is at {mirror.lastSeq}, the room sent it {attached.seq}"
    if set(mirror.roster) != set(occupants):
        yield f"mirror: {where} has {sorted(mirror.roster)}, the room {sorted(occupants)}"
    local = {j.full() for j in mirror.sessions()}
    mine = {j for jids in occupants.values() for j in jids if j.split("/")[0].endswith(
        "@" + node)}
    if local != mine:
        yield f"mirror: {where} serves {sorted(local)}, the room holds {sorted(mine)}"
    outcasts = {j for j, a in held.affiliations.items()
                if a.affiliation is Affiliation.OUTCAST and j.endswith("@" + node)}
    if set(mirror.outcasts) != outcasts:
        yield f"mirror: {where} refuses {sorted(mirror.outcasts)}, the room {sorted(outcasts)}"
    ids = [e.stanzaId for e in held.history]
    theirs = [e.stanzaId for e in mirror.history]
    if theirs and theirs != ids[-len(theirs):]:
        yield f"history: {where} holds {theirs}, the room ends with {ids[-len(theirs):]}"


def _archive(sweep: "Sweep", room: str) -> list[str]:
    name, host = room.split("@", 1)
    found: list[Any] = []
    store = sweep.net.nodes[host.split(".", 1)[1]].store
    store.lastMessages(host, name, 1_000_000).addCallback(found.append)
    return [m.stanzaId for m in found[0]]


def archives(sweep: "Sweep") -> Iterator[str]:
    """
    The room's archive holds what its turns archived, in that order; its
    history ends the archive; every session saw the room's messages live
    in archive order, and each join's history as one run of the archive.
    """
    for room in sweep.rooms:
        archive = _archive(sweep, room)
        turns = [a.stanzaId for a in sweep.accepted if a.room == room]
        if archive != turns:
            yield f"archive: {room} holds {archive}, its turns archived {turns}"
        held = sweep.primary(room)
        history = [e.stanzaId for e in held.history] if held is not None else []
        if history and archive[-len(history):] != history:
            yield f"archive: the history of {room} {history} does not end its archive"
        place = {sid: n for n, sid in enumerate(archive)}
        for view in sweep.views:
            order = [place.get(sid, -1) for _, sid in view.live(room)]
            if order != sorted(order):
                yield (f"order: {view.full} got {[b for b, _ in view.live(room)]} in {room}, "
                       "not in archive order")
            for episode in view.rooms[room].episodes:
                got = [place.get(sid, -1) for sid in episode.history]
                if got and (got[0] < 0 or got != list(range(got[0], got[0] + len(got)))):
                    yield (f"history: {view.full} joined {room} with {episode.history}, "
                           "not one run of the archive")


def bans(sweep: "Sweep") -> Iterator[str]:
    """
    No outcast is an occupant.
    """
    for room in sweep.rooms:
        held = sweep.primary(room)
        if held is None:
            continue
        outcasts = {j for j, a in held.affiliations.items()
                    if a.affiliation is Affiliation.OUTCAST}
        for nick, occupant in held.occupants.items():
            if occupant.bare in outcasts:
                yield f"banned inside: {occupant.bare} is {nick!r} in {room}"


def splitJoins(sweep: "Sweep") -> Iterator[str]:
    """
    No session entered a room while its node was cut off from the room's,
    unless it was back under the bare JID and nick of an occupant when
    that split began (a client reconnecting).
    """
    for view in sweep.views:
        for room, seen in view.rooms.items():
            for episode in seen.episodes:
                if not episode.split:
                    continue
                split = next((s for s in reversed(sweep.splits)
                              if s.began <= episode.entered), None)
                was = split is not None and (view.bare, episode.joinedAs) in split.occupants[room]
                if not was:
                    yield (f"split join: {view.full} entered {room} as {episode.nick!r} "
                           f"at t={episode.entered:.3f}, cut off from the room's node")


def _splitFor(sweep: "Sweep", a: str, b: str) -> float:
    """
    The longest split between nodes C{a} and C{b}.
    """
    return max((s.ended - s.began for s in sweep.splits
                if s.ended is not None and ((a, b) in s.cut or (b, a) in s.cut)), default=0.0)


def removals(sweep: "Sweep") -> Iterator[str]:
    """
    A session removed from a room was kicked (307, a nick some step
    kicked), banned (301, a user some step banned), behind a split longer
    than the grace period (333), or asked to leave; nothing else removes
    anyone.
    """
    for view in sweep.views:
        for room, seen in view.rooms.items():
            home = room.split("@", 1)[1].split(".", 1)[1]
            for episode in seen.episodes:
                if episode.ended is None:
                    continue
                codes = episode.codes
                if not codes and not episode.asked:
                    yield f"left without asking: {view.full} from {room} ({episode.nick!r})"
                elif KICK in codes and (room, episode.nick) not in sweep.kicked:
                    yield f"kicked: {view.full} from {room} as {episode.nick!r}, by no step"
                elif BAN in codes and view.bare not in sweep.banned[room]:
                    yield f"banned: {view.full} from {room}, by no step"
                elif GHOST in codes and _splitFor(sweep, view.node, home) < sweep.scenario.grace:
                    yield (f"kicked for a split: {view.full} from {room} (333) after a split "
                           f"of {_splitFor(sweep, view.node, home):.1f} s, grace "
                           f"{sweep.scenario.grace:.0f} s")
                elif codes - {KICK, BAN, GHOST, 303}:
                    yield f"removed: {view.full} from {room} with codes {sorted(codes)}"


def ghosts(sweep: "Sweep") -> Iterator[str]:
    """
    No session that died in a restart is still an occupant.
    """
    dead = {v.full for v in sweep.views if v.died is not None}
    for room in sweep.rooms:
        for nick, jids in sweep.occupants(room).items():
            for jid in sorted(jids & dead):
                yield f"ghost: {jid} (dead in a restart) is still {nick!r} in {room}"
