# -*- test-case-name: tests.muc.test_records -*-
"""
A room's record as storage keeps it: L{RoomRecord} to JSON and back.

The document is versioned (C{"v"}), names affiliations and roles by their
XEP-0045 labels, and keeps unknown configuration keys out: a record written
by a later xmuc with more settings still loads, with defaults for what
this one does not know.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from xmuc.muc.model import Affiliated, Affiliation, Role, RoomConfig, RoomRecord, Subject

VERSION = 1
_ROLE_SETS = ("presenceBroadcast", "getMemberList")


def toJSON(record: RoomRecord) -> str:
    config: dict[str, Any] = dataclasses.asdict(record.config)
    for name in _ROLE_SETS:
        config[name] = sorted(role.label for role in getattr(record.config, name))
    return json.dumps({
        "v": VERSION,
        "config": config,
        "affiliations": {
            bare: [entry.affiliation.label, entry.reason, entry.nick]
            for bare, entry in sorted(record.affiliations.items())
        },
        "subject": dataclasses.asdict(record.subject),
        "salt": record.salt,
        "created": record.created,
    }, ensure_ascii=False, sort_keys=True)


def fromJSON(name: str, text: str) -> RoomRecord:
    """
    @raise ValueError: when the text is not a room record this xmuc reads.
    """
    document = json.loads(text)
    if document.get("v") != VERSION:
        raise ValueError(f"room {name}: record version {document.get('v')!r}")
    known = {f.name for f in dataclasses.fields(RoomConfig)}
    values = {k: v for k, v in document["config"].items() if k in known}
    for key in _ROLE_SETS:
        if key in values:
            values[key] = frozenset(Role.fromLabel(label) for label in values[key])
    affiliations = {
        bare: Affiliated(Affiliation.fromLabel(label), reason, nick)
        for bare, (label, reason, nick) in document["affiliations"].items()
    }
    return RoomRecord(name, RoomConfig(**values), affiliations,
                      Subject(**document["subject"]), document["salt"], document["created"])
