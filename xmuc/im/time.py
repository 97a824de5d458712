# -*- test-case-name: tests.im.test_time -*-
"""
XEP-0202 Entity Time of the server, from the node's clock.

The server keeps and tells time in UTC, so its offset is always C{+00:00}.
"""

from __future__ import annotations

import datetime
from typing import Any

from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

NS_TIME = "urn:xmpp:time"


def formatUTC(seconds: float) -> str:
    """
    A POSIX time as an XEP-0082 DateTime in UTC, with milliseconds.
    """
    moment = datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (moment.microsecond // 1000)


class EntityTime:
    """
    Answers time requests to the domain.
    """

    def __init__(self, node: Any) -> None:
        self.clock = node.clock

    def time(self, iq: domish.Element, sender: JID, session: Any) -> domish.Element:
        element = domish.Element((NS_TIME, "time"))
        element.addElement("tzo", content="+00:00")
        element.addElement("utc", content=formatUTC(self.clock.seconds()))
        return element


def install(node: Any) -> EntityTime:
    entityTime = EntityTime(node)
    node.serverIQ.register("get", NS_TIME, entityTime.time)
    node.serverFeatures.add(NS_TIME)
    return entityTime
