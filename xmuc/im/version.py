# -*- test-case-name: tests.im.test_version -*-
"""
XEP-0092 Software Version of the server.

The operating system is told only when C{[services] version_show_os} is
on: it helps attackers more than users.
"""

from __future__ import annotations

import platform
from typing import Any

from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

import xmuc

NS_VERSION = "jabber:iq:version"


class Version:
    """
    Answers version requests to the domain.
    """

    def __init__(self, showOS: bool) -> None:
        self.showOS = showOS

    def version(self, iq: domish.Element, sender: JID, session: Any) -> domish.Element:
        query = domish.Element((NS_VERSION, "query"))
        query.addElement("name", content="xmuc")
        query.addElement("version", content=xmuc.__version__)
        if self.showOS:
            query.addElement("os", content=f"{platform.system()} {platform.release()}")
        return query


def install(node: Any) -> Version:
    version = Version(node.config.services.version_show_os)
    node.serverIQ.register("get", NS_VERSION, version.version)
    node.serverFeatures.add(NS_VERSION)
    return version
