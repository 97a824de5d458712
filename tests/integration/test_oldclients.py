# -*- test-case-name: tests.integration.test_oldclients -*-
"""
Real clients of several ages log in to a real node: slixmpp 1.8.3 (the
release Debian 12 and its poezio ship, which binds SCRAM-PLUS to
C{tls-unique} whatever the TLS version and does not read XEP-0440) in a
subprocess, and the installed slixmpp (1.17) with TLS 1.3 and TLS 1.2.

slixmpp 1.8.3 comes from a directory of its own, which C{.ci/run} fills:

    venv/bin/pip install --no-deps --target .slixmpp-1.8.3 slixmpp==1.8.3
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from twisted.logger import globalLogPublisher

from tests.integration.support import (
    EventWaiter,
    NodeTestCase,
    asyncTest,
    readUntil,
    wait,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OLD_SLIXMPP = os.path.join(ROOT, ".slixmpp-1.8.3")
CLIENT = os.path.join(ROOT, "tests", "integration", "slixmppclient.py")


def oldSlixmppPath() -> str:
    """
    The directory holding slixmpp 1.8.3; fails the test, saying how to
    install it, when it is missing (CI fails on skipped tests, so a
    missing client must not pass unnoticed).
    """
    if not os.path.exists(os.path.join(OLD_SLIXMPP, "slixmpp", "__init__.py")):
        raise AssertionError(
            f"slixmpp 1.8.3 is not installed in {OLD_SLIXMPP}; install it with: "
            f"{sys.executable} -m pip install --no-deps --target {OLD_SLIXMPP} slixmpp==1.8.3"
        )
    return OLD_SLIXMPP


class AuthenticationLog:
    """
    Collects the node's "authenticated" log events (user, mechanism,
    channel binding type).
    """

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any]) -> None:
        if "mechanism" in event and "binding" in event and "username" in event:
            self.events.append(event)

    def of(self, username: str) -> list[tuple[str, str]]:
        return [(e["mechanism"], e["binding"]) for e in self.events if e["username"] == username]


class ClientAgesTests(NodeTestCase):
    """
    Login, a message and the mechanism chosen, for each client.
    """

    def setUp(self) -> Any:
        self.authentications = AuthenticationLog()
        globalLogPublisher.addObserver(self.authentications)
        self.addCleanup(globalLogPublisher.removeObserver, self.authentications)
        return super().setUp()

    async def runClient(self, path: str | None, *extra: str) -> list[dict[str, Any]]:
        """
        Run L{CLIENT} as alice with slixmpp from C{path} (L{None}: the
        installed one), sending a message to bob, who is logged in here
        and must receive it; return the client's reports.
        """
        await self.createUser("alice")
        await self.createUser("bob")
        bob = await self.client("bob@localhost/desk")
        messages = EventWaiter(bob, "message")
        environment = dict(os.environ)
        environment["PYTHONPATH"] = os.pathsep.join(p for p in (path, ROOT) if p)
        process = await asyncio.create_subprocess_exec(
            sys.executable, CLIENT, "alice@localhost/old", "secret", str(self.port),
            self.config.certificatePath, "bob@localhost", "hello from the past", *extra,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=environment,
        )
        try:
            output, errors = await wait(process.communicate(), 30)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        reports = [json.loads(line) for line in output.decode().splitlines() if line]
        self.assertEqual(process.returncode, 0, errors.decode()[-2000:])
        message = await messages.next()
        self.assertEqual(message["body"], "hello from the past")
        self.assertEqual(message["from"].bare, "alice@localhost")
        return reports

    @asyncTest
    async def test_slixmpp183(self) -> None:
        """
        slixmpp 1.8.3 logs in over STARTTLS with SCRAM-SHA-256-PLUS bound
        to tls-unique on TLS 1.3 (the value Python's C{ssl} computes), at
        the first attempt, and its message arrives.
        """
        reports = await self.runClient(oldSlixmppPath())
        session = reports[0]
        self.assertEqual((session["event"], session["version"]), ("session", "1.8.3"))
        self.assertEqual(session["tls"], "TLSv1.3")
        self.assertEqual(self.authentications.of("alice"), [("SCRAM-SHA-256-PLUS", "tls-unique")])

    @asyncTest
    async def test_slixmppCurrent(self) -> None:
        """
        The installed slixmpp logs in with SCRAM-SHA-256 on TLS 1.3: Python
        3.11's C{ssl} offers no tls-exporter, so it does not try -PLUS
        there (it never sends tls-unique on TLS 1.3).
        """
        reports = await self.runClient(None)
        self.assertEqual(reports[0]["tls"], "TLSv1.3")
        self.assertEqual(self.authentications.of("alice"), [("SCRAM-SHA-256", "none")])

    @asyncTest
    async def test_slixmppCurrentTLS12(self) -> None:
        """
        On TLS 1.2 the installed slixmpp binds SCRAM-SHA-256-PLUS to
        tls-unique, which the node advertises there.
        """
        reports = await self.runClient(None, "1.2")
        self.assertEqual(reports[0]["tls"], "TLSv1.2")
        self.assertEqual(self.authentications.of("alice"), [("SCRAM-SHA-256-PLUS", "tls-unique")])

    @asyncTest
    async def test_slixmpp183TLS12(self) -> None:
        """
        slixmpp 1.8.3 on TLS 1.2 binds to tls-unique too.
        """
        await self.runClient(oldSlixmppPath(), "1.2")
        self.assertEqual(self.authentications.of("alice"), [("SCRAM-SHA-256-PLUS", "tls-unique")])

    @asyncTest
    async def test_directTLSAdvertises(self) -> None:
        """
        On the direct-TLS port (TLS 1.3) the features name tls-exporter
        and tls-server-end-point for XEP-0440 clients, and not tls-unique.
        """
        reader, writer = await self.rawConnection(tls=True)
        writer.write(
            b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
            b"xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>"
        )
        data = await readUntil(reader, b"</stream:features>")
        self.assertIn(b"urn:xmpp:sasl-cb:0", data)
        self.assertIn(b"type='tls-exporter'", data)
        self.assertIn(b"type='tls-server-end-point'", data)
        self.assertNotIn(b"tls-unique", data)
