# -*- test-case-name: tests.im.test_version -*-
"""
Tests for L{xmuc.im.version}: XEP-0092 of the server.
"""

from __future__ import annotations

import platform

from twisted.trial import unittest

import xmuc
from tests.support.harness import Harness

FEATURES = ("xmuc.im.delivery", "xmuc.im.version")
REQUEST = "<iq type='get' id='v1' to='localhost'><query xmlns='jabber:iq:version'/></iq>"


def askVersion(config: str = ""):
    harness = Harness(features=FEATURES, config=config)
    client = harness.login("alice")
    client.send(REQUEST)
    [reply] = client.received()
    return reply


class VersionTests(unittest.TestCase):
    def test_nameAndVersion(self) -> None:
        """
        The server calls itself xmuc, with the package's version.
        """
        reply = askVersion()
        self.assertEqual(reply["type"], "result")
        fields = {child.name: str(child) for child in reply.query.elements()}
        self.assertEqual(fields, {"name": "xmuc", "version": xmuc.__version__})

    def test_osHiddenByDefault(self) -> None:
        """
        Without C{version_show_os} the operating system is not told.
        """
        reply = askVersion()
        self.assertEqual(list(reply.query.elements(None, "os")), [])
        self.assertEqual(list(reply.query.elements("jabber:iq:version", "os")), [])

    def test_osShownWhenConfigured(self) -> None:
        """
        With C{version_show_os} on, the operating system is told.
        """
        reply = askVersion("[services]\nversion_show_os = true\n")
        [os] = list(reply.query.elements("jabber:iq:version", "os"))
        self.assertIn(platform.system(), str(os))
