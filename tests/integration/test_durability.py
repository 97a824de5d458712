# -*- test-case-name: tests.integration.test_durability -*-
"""
What a node answered for survives C{kill -9}: a real node process (twistd,
SQLite store) is killed by its PID with SIGKILL right after its last answer
and started again on the same data directory.

A raw client (SCRAM-SHA-1 on plaintext loopback) sends 600 messages, each followed by an XEP-0199 ping whose
answer it waits for: to an offline user (offline storage) and to a
persistent room (its archive). Every message the node had answered a later
ping for must be stored.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import signal
import sqlite3
import subprocess
import sys

from scramp import ScramClient
from twisted.trial import unittest

import xmuc
from tests.integration.support import TIMEOUT, asyncTest, requireAsyncioReactor, wait
from xmuc.c2s.sasl import makeCredentials
from xmuc.storage import SQLiteStore

MESSAGES = 600
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(xmuc.__file__)))
_PORT = re.compile(rb"C2SFactory starting on (\d+)")
_STARTED = b"xmuc node localhost started"


class NodeProcess:
    """
    A node run by twistd in the foreground on a data directory, its c2s
    port chosen by the kernel and read from its log.
    """

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.process: asyncio.subprocess.Process | None = None
        self.port = 0
        self._drain: asyncio.Future | None = None
        with open(os.path.join(directory, "node.ini"), "w") as f:
            f.write(
                "[node]\ndata_dir = data\n"
                "[c2s]\nlisten = 127.0.0.1:0\nrequire_tls = false\nrate_limit = 0\n"
                "[s2s]\nlisten =\ndns_servers = 127.0.0.1:1\n[muc]\nflood_rate = 0\n"
            )

    async def start(self) -> None:
        """
        Start twistd with its log on standard output, and read that until
        the node says it started (and which port it got).
        """
        env = dict(os.environ, PYTHONPATH=ROOT)
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", "from twisted.scripts.twistd import run; run()",
            "-n", "--pidfile=", "--logfile=-",
            "xmuc", "-c", "node.ini", cwd=self.directory, env=env,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        seen = b""
        while _STARTED not in seen:
            line = await asyncio.wait_for(self.process.stdout.readline(), TIMEOUT)
            if not line:
                raise unittest.FailTest(f"the node did not start: {seen[-2000:]!r}")
            seen += line
            match = _PORT.search(line)
            if match:
                self.port = int(match.group(1))
        self._drain = asyncio.ensure_future(self._drainLog())

    async def _drainLog(self) -> None:
        # Keep reading the log so that the node never blocks on the pipe.
        assert self.process is not None
        while await self.process.stdout.readline():
            pass

    async def kill(self) -> None:
        """
        SIGKILL the node by its PID and reap it.
        """
        if self.process is not None and self.process.returncode is None:
            os.kill(self.process.pid, signal.SIGKILL)
            await asyncio.wait_for(self.process.wait(), TIMEOUT)
        if self._drain is not None:
            await asyncio.wait_for(self._drain, TIMEOUT)
            self._drain = None
        self.process = None


class RawClient:
    """
    A minimal c2s client: SCRAM over plaintext loopback, bind, and waiting
    for IQ answers by id in what the node writes.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.buffer = b""

    @classmethod
    async def login(cls, port: int, username: str) -> "RawClient":
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        client = cls(reader, writer)
        client.header()
        await client.until(b"</stream:features>")
        await client.scram(username, "secret")
        client.header()
        await client.until(b"</stream:features>")
        client.send("<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                    "<resource>r</resource></bind></iq>")
        await client.until(b"id='bind'")
        return client

    async def scram(self, username: str, password: str) -> None:
        """
        SCRAM-SHA-1 (PLAIN is refused on a plaintext stream).
        """
        scram = ScramClient(["SCRAM-SHA-1"], username, password)
        first = base64.b64encode(scram.get_client_first().encode()).decode()
        self.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>"
                  f"{first}</auth>")
        await self.until(b"<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>")
        challenge, _, self.buffer = self.buffer.partition(b"</challenge>")
        scram.set_server_first(base64.b64decode(challenge).decode())
        final = base64.b64encode(scram.get_client_final().encode()).decode()
        self.send(f"<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>{final}</response>")
        await self.until(b"<success")

    def header(self) -> None:
        self.send("<stream:stream xmlns='jabber:client' "
                  "xmlns:stream='http://etherx.jabber.org/streams' to='localhost' version='1.0'>")

    def send(self, text: str) -> None:
        self.writer.write(text.encode("utf-8"))

    async def until(self, marker: bytes) -> None:
        """
        Read until C{marker} arrived, and drop what came before it.
        """
        while marker not in self.buffer:
            chunk = await asyncio.wait_for(self.reader.read(65536), TIMEOUT)
            if not chunk:
                raise unittest.FailTest(f"connection closed waiting for {marker!r}")
            self.buffer += chunk
        self.buffer = self.buffer[self.buffer.index(marker) + len(marker):]

    async def ping(self, number: int) -> None:
        self.send(f"<iq type='get' to='localhost' id='p{number}'>"
                  "<ping xmlns='urn:xmpp:ping'/></iq>")
        await self.until(f"id='p{number}'".encode())

    def close(self) -> None:
        self.writer.close()


def count(path: str, query: str) -> int:
    with sqlite3.connect(path) as connection:
        return connection.execute(query).fetchone()[0]


class KillTests(unittest.TestCase):
    """
    A node killed with SIGKILL right after answering keeps what it answered
    for.
    """

    def setUp(self) -> None:
        requireAsyncioReactor()
        self.directory = self.mktemp()
        os.makedirs(os.path.join(self.directory, "data"))
        self.database = os.path.join(self.directory, "data", "xmuc.sqlite")
        self.node = NodeProcess(self.directory)
        self.clients: list[RawClient] = []

    async def createUsers(self, *names: str) -> None:
        store = SQLiteStore(self.database)
        await wait(store.start())
        try:
            for name in names:
                await wait(store.createUser(name, makeCredentials("secret")))
        finally:
            await wait(store.stop())

    async def cleanUp(self) -> None:
        for client in self.clients:
            client.close()
        await self.node.kill()

    async def killAndRestart(self) -> None:
        await self.node.kill()
        for client in self.clients:
            client.close()
        self.clients = []
        # Started again, the node opens the same file (and must find it
        # consistent); then the test reads it.
        await self.node.start()
        await self.node.kill()

    @asyncTest
    async def test_offlineMessages(self) -> None:
        """
        Messages to an offline user, each followed by an answered ping, are
        all in offline storage after SIGKILL and a restart.
        """
        try:
            await self.createUsers("alice", "bob")
            await self.node.start()
            alice = await RawClient.login(self.node.port, "alice")
            self.clients.append(alice)
            for i in range(MESSAGES):
                alice.send(f"<message to='bob@localhost' type='chat'><body>m{i}</body></message>")
                await alice.ping(i)
            await self.killAndRestart()
            self.assertEqual(
                count(self.database,
                      "SELECT COUNT(*) FROM offline_messages WHERE username = 'bob'"),
                MESSAGES)
        finally:
            await self.cleanUp()

    @asyncTest
    async def test_roomArchive(self) -> None:
        """
        Messages to a persistent room, each followed by an answered ping,
        are all in its archive after SIGKILL and a restart.
        """
        try:
            await self.createUsers("alice")
            await self.node.start()
            alice = await RawClient.login(self.node.port, "alice")
            self.clients.append(alice)
            alice.send("<presence to='tea@muc.localhost/alice'>"
                       "<x xmlns='http://jabber.org/protocol/muc'/></presence>")
            await alice.until(b"status code='110'")
            alice.send(
                "<iq type='set' to='tea@muc.localhost' id='cfg'>"
                "<query xmlns='http://jabber.org/protocol/muc#owner'>"
                "<x xmlns='jabber:x:data' type='submit'>"
                "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig"
                "</value></field><field var='muc#roomconfig_persistentroom'><value>1</value>"
                "</field><field var='muc#roomconfig_enablelogging'><value>1</value></field>"
                "</x></query></iq>")
            await alice.until(b"id='cfg'")
            for i in range(MESSAGES):
                alice.send(f"<message to='tea@muc.localhost' type='groupchat'>"
                           f"<body>m{i}</body></message>")
                await alice.ping(i)
            await self.killAndRestart()
            self.assertEqual(
                count(self.database,
                      "SELECT COUNT(*) FROM muc_archive WHERE room = 'tea'"),
                MESSAGES)
            self.assertEqual(
                count(self.database, "SELECT COUNT(*) FROM muc_rooms WHERE name = 'tea'"), 1)
        finally:
            await self.cleanUp()
