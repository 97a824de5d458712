# -*- test-case-name: tests.muc.features.test_occupantid -*-
"""
Occupant ids (XEP-0421): every presence and message the room sends from an
occupant carries an id that is the same for the same account in this room
across visits and nickname changes, and reveals nothing of the real JID
(a hash of the room's secret salt and the bare JID, L{Room.occupantIdOf}).
Messages get it here; presences from the occupant's view
(L{xmuc.muc.view.OccupantView.occupantId}), so that a replica shows the
same. Ids clients put in their stanzas are removed at the edge.
"""

from __future__ import annotations

from typing import Any

from xmuc.muc.model import Occupant
from xmuc.muc.ns import NS_OCCUPANT_ID
from xmuc.muc.registry import Registry


def decorate(room: Any, occupant: Occupant, element: Any) -> None:
    element.addElement((NS_OCCUPANT_ID, "occupant-id"))["id"] = occupant.occupantId


def discoFeatures(room: Any, features: set[str]) -> None:
    features.add(NS_OCCUPANT_ID)


def install(registry: Registry) -> None:
    registry.hooks.add("from-occupant", decorate)
    registry.hooks.add("disco-features", discoFeatures)
