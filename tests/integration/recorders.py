# -*- test-case-name: tests.integration.test_dmuc -*-
"""
Clients that record every stanza they receive, raw, for the transcript
tests over real sockets (L{tests.integration.test_dmuc}): a slixmpp client
on this loop (L{Recorder}) or one in a subprocess running another slixmpp
release (L{PuppetRecorder}, L{tests.integration.slixmpppuppet}). Both send
raw XML and let a test await a received stanza matching a predicate; every
wait is bounded.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any, Callable

from tests.integration.support import wait
from tests.support.harness import parseStanza
from twisted.words.xish import domish

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PUPPET = os.path.join(ROOT, "tests", "integration", "slixmpppuppet.py")

Predicate = Callable[[domish.Element], bool]


class _Recording:
    """
    The stanzas (message, presence, iq) received so far, as raw XML and
    parsed, with waiters on them.
    """

    name = ""

    def __init__(self) -> None:
        self.raw: list[str] = []
        self.stanzas: list[domish.Element] = []
        self._waiters: list[tuple[int, Predicate, asyncio.Future]] = []

    def _record(self, xml: str) -> None:
        element = parseStanza(xml)
        if element.name not in ("message", "presence", "iq"):
            return
        self.raw.append(xml)
        self.stanzas.append(element)
        for waiter in list(self._waiters):
            since, predicate, future = waiter
            if not future.done() and predicate(element):
                future.set_result(element)
                self._waiters.remove(waiter)

    def mark(self) -> int:
        return len(self.stanzas)

    async def seen(self, predicate: Predicate, since: int = 0) -> domish.Element:
        """
        The first stanza received from index C{since} on that matches
        C{predicate}, waiting for it if need be.
        """
        for element in self.stanzas[since:]:
            if predicate(element):
                return element
        future = asyncio.get_event_loop().create_future()
        self._waiters.append((since, predicate, future))
        return await wait(future)

    def send(self, xml: str) -> None:
        raise NotImplementedError()


class Recorder(_Recording):
    """
    A logged-in slixmpp client of this process, recording from now on
    (slixmpp's C{incoming_filter} sees each element before any handler).
    """

    def __init__(self, client: Any, name: str) -> None:
        super().__init__()
        from slixmpp.xmlstream import tostring

        self.name = name
        self.client = client
        parse = client.incoming_filter

        def incoming(xml: Any) -> Any:
            self._record(tostring(xml))
            return parse(xml)

        client.incoming_filter = incoming

    def send(self, xml: str) -> None:
        self.client.send_raw(xml)

    async def stop(self) -> None:
        """
        Nothing to do: the test case disconnects its clients.
        """


class PuppetRecorder(_Recording):
    """
    L{tests.integration.slixmpppuppet} in a subprocess, with the slixmpp
    found first on C{path}.
    """

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.process: Any = None
        self.version: str | None = None
        self._session: asyncio.Future | None = None
        self._reader: asyncio.Task | None = None
        self._errors = b""

    async def start(self, path: str, jid: str, password: str, port: int, cafile: str) -> None:
        environment = dict(os.environ)
        environment["PYTHONPATH"] = os.pathsep.join((path, ROOT))
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, PUPPET, jid, password, str(port), cafile,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE, env=environment,
        )
        self._session = asyncio.get_event_loop().create_future()
        self._reader = asyncio.ensure_future(self._read())
        try:
            self.version = await wait(self._session, 30)
        except BaseException:
            await self.stop()
            raise

    async def _read(self) -> None:
        assert self.process is not None and self._session is not None
        while True:
            line = await self.process.stdout.readline()
            if not line:
                break
            report = json.loads(line)
            if report["event"] == "session" and not self._session.done():
                self._session.set_result(report["version"])
            elif report["event"] == "stanza":
                self._record(report["xml"])
        if not self._session.done():
            errors = await self.process.stderr.read()
            self._session.set_exception(AssertionError(
                "the old client ended before its session: " + errors.decode()[-2000:]))

    def send(self, xml: str) -> None:
        self.process.stdin.write((json.dumps({"send": xml}) + "\n").encode())

    async def stop(self) -> None:
        """
        Ask the client to quit, and kill it (by its PID) if it does not
        within 5 seconds.
        """
        process = self.process
        if process is None or process.returncode is not None:
            return
        try:
            process.stdin.write(b'{"quit": true}\n')
            await asyncio.wait_for(process.wait(), 5)
        except Exception:
            if process.returncode is None:
                process.kill()
                await process.wait()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
