# -*- test-case-name: tests.muc.test_room -*-
"""
Where the room's parts meet: named hooks, the handler of each input type,
and the fields of the configuration form.

The room core fires named hooks at fixed points and the features (one
module each under L{xmuc.muc.features}) hook into them, Prosody-style.
Every module in L{MODULES} has an C{install(registry)} function; adding a
feature is a module, its tests and one line here.

Hooks (each handler is called with the arguments shown; L{Hooks.fire}
stops at the first handler that returns a true value):

  - C{pre-join(room, turn, entrant)}: may the entrant come in? Raise a
    domain exception to refuse.
  - C{joined(room, turn, occupant, event)}: after the join sequence
    (L{xmuc.muc.entrant.joinSequence}: roster, own presence, history,
    subject).
  - C{self-codes(room, occupant, codes)}: add status codes to the
    entering occupant's own presence, beyond those of
    L{xmuc.muc.entrant.entrantCodes} (100, 170, 201, 210).
  - C{inbound(room, turn, event)}: any stanza reached the room, before its
    handler (a sign of life from its sender's server).
  - C{from-occupant(room, occupant, element)}: decorate a message the
    room sends from an occupant (occupant-id). Presences are rendered by
    L{xmuc.muc.view} from the occupant's view alone, so that a replica
    renders them the same.
  - C{groupchat(room, turn, occupant, event)}: checks on a message to all
    (voice, flood, size); raise to refuse. A true value means consumed
    (a subject change).
  - C{archived(room, turn, occupant, element, stanzaId, stamp)}: a
    message with a body went out with this stanza-id; C{stamp} is when
    the room first received it, what history and MAM show.
  - C{nick-change(room, turn, occupant, nick, key)}: may the occupant take
    this nickname? Raise to refuse (reserved nicknames).
  - C{config-changed(room, turn, old, new)}: after a configuration change,
    with the room's status codes collected by handlers in C{turn.codes}.
  - C{affiliation-changed(room, turn, occupant, old, new)}: an occupant's
    affiliation changed (not to outcast); true when a handler removed the
    occupant (members-only, 321).
  - C{occupant-left(room, turn, occupant)}.
  - C{iq-to-occupant(room, turn, event)}: true when answered (self-ping).
  - C{disco-node(room, turn, event)}: true when a handler answered a
    disco#info request for a named node.
  - C{timer(room, turn, event)}: a timer went off; the handler whose kind
    the key names returns true.
  - C{disco-features(room, features)}: add features to the room's
    disco#info; C{roominfo(room, fields)}: fields of its muc#roominfo form.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable

from xmuc.core.hooks import Hooks

#: The room's modules: the core first, then one line per feature.
MODULES = (
    "xmuc.muc.occupancy",
    "xmuc.muc.moderation",
    "xmuc.muc.owner",
    "xmuc.muc.messages",
    "xmuc.muc.discovery",
    "xmuc.muc.features.anonymity",
    "xmuc.muc.features.ghosts",
    "xmuc.muc.features.history",
    "xmuc.muc.features.invitations",
    "xmuc.muc.features.limits",
    "xmuc.muc.features.logging",
    "xmuc.muc.features.mam",
    "xmuc.muc.features.membersonly",
    "xmuc.muc.features.moderated",
    "xmuc.muc.features.occupantid",
    "xmuc.muc.features.password",
    "xmuc.muc.features.persistence",
    "xmuc.muc.features.privatemessages",
    "xmuc.muc.features.public",
    "xmuc.muc.features.registration",
    "xmuc.muc.features.selfping",
    "xmuc.muc.features.subject",
    "xmuc.muc.features.voicerequests",
)


@dataclass(frozen=True)
class ConfigField:
    """
    A field of the configuration form (muc#roomconfig) and how it maps to
    the room.

    @ivar read: the field's current values, from the room.
    @ivar write: C{write(values, settings)} turns submitted values into
        the value of L{attribute}, raising C{BadRequest} for a value of
        the wrong type and C{NotAcceptable} for one the service refuses;
        L{None} for fields the owner module applies itself.
    @ivar order: place in the form, lowest first.
    """

    var: str
    kind: str
    label: str
    attribute: str | None
    read: Callable[[Any], tuple[str, ...]]
    write: Callable[[tuple[str, ...], Any], Any] | None
    options: tuple[tuple[str, str], ...] = ()
    order: int = 100


class Registry:
    """
    The installed modules of a MUC service: hooks, input handlers and
    configuration fields.
    """

    def __init__(self) -> None:
        self.hooks = Hooks()
        self.handlers: dict[type, Callable[..., None]] = {}
        self._fields: dict[str, ConfigField] = {}

    def on(self, eventType: type, handler: Callable[..., None]) -> None:
        """
        Make C{handler(room, turn, event)} handle inputs of C{eventType}.
        """
        if eventType in self.handlers:
            raise ValueError(f"{eventType.__name__} is handled already")
        self.handlers[eventType] = handler

    def addField(self, field: ConfigField) -> None:
        if field.var in self._fields:
            raise ValueError(f"{field.var} is defined already")
        self._fields[field.var] = field

    def fields(self) -> list[ConfigField]:
        """
        The configuration fields in form order.
        """
        return sorted(self._fields.values(), key=lambda f: (f.order, f.var))


def buildRegistry(modules: tuple[str, ...] = MODULES) -> Registry:
    """
    Install C{modules} into a new registry.
    """
    registry = Registry()
    for name in modules:
        importlib.import_module(name).install(registry)
    return registry
