"""
The stanza fuzzer against a live node: tests/fuzz's hypothesis strategies
driving an xmuc node over loopback sockets for a long run.

Usage::

    /tmp/venv/bin/python bench/fuzz.py [--stanzas 1000000] [--json FILE]

Starts one xmuc node (c2s without a rate limit so that the run is not
paced by it, s2s with dialback, MUC, SQLite), draws a pool of pieces from
the strategies of C{tests/fuzz/strategies.py} (valid and mutated stanzas,
fatal pieces, mutated headers and pre-authentication input, dialback
elements, s2s stanzas) with a fixed seed, and sends them, with fresh ids,
over several client connections at once and over s2s connections:

  - a client session logs in, joins a room, sends a few hundred to a few
    thousand stanzas and sometimes one fatal piece at the end (bad UTF-8,
    DTD, comment, broken tag, oversized stanza ...), then a ping as a
    barrier; what the node wrote back is parsed and checked with
    C{tests/fuzz/oracle.py} (errors with a defined condition of the right
    type and the one a mutation calls for, every iq to the node answered,
    a stream error for a fatal piece and the stream's end after it);
  - some client sessions are mutated headers and pre-authentication input;
  - an unauthenticated s2s session is a (mutated) header, hundreds of
    dialback elements with any addresses, ids and keys, and sometimes a
    stanza (which must end the unauthenticated stream with not-authorized);
  - an authenticated s2s session does dialback as C{b.test}, whose
    authoritative server (L{Authority}, in this process, reached through
    the node's static host table) says every key is valid, then sends
    valid and mutated stanzas from C{b.test} and sometimes a spoofed,
    unaddressed or foreign one (which must end the stream); the errors the
    node sends back to C{b.test} arrive at the authority and are checked.

Meanwhile a well-behaved client pings the node every 100 ms, and the
node's RSS is sampled every second. At the end the node's log is scanned
for tracebacks. Printed: stanzas/s, RSS start/max/end, tracebacks, wrong
answers (by kind, with examples), the checker's pings.

Deeply nested elements: on a branch without a depth limit, elements nested
deeper than about 970 levels make the node's serialiser recurse past
Python's limit (a logged RecursionError, the stanza lost). The default
C{--max-depth 500} keeps the run about everything else; C{--max-depth
2000} shows that case.

Nothing here is a test: it reports what it finds. Every process it starts
is stopped by its PID; everything runs on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import random
import shutil
import socket
import tempfile
import time
import traceback
from typing import Any, Optional

import live  # noqa: E402  (bench/live.py; puts the repository on sys.path)
from live import DOMAIN, HOST, MUC, LiveNode, RSSSampler, ping, userName

import c2s  # noqa: E402
from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from twisted.words.xish import domish  # noqa: E402

from tests.fuzz.oracle import Oracle, stanzaError  # noqa: E402
from tests.fuzz.pieces import MAY_END, STANZA_CONDITIONS, Piece  # noqa: E402
from tests.fuzz.strategies import (  # noqa: E402
    Addresses,
    c2sHeaders,
    c2sStanzas,
    dialbackPieces,
    fatalPieces,
    preAuthPieces,
    s2sHeaders,
    s2sStanzas,
)

OWN = "fuzzown@" + DOMAIN
ROOM = "fuzz@" + MUC
CHECKER = userName(999)
SYNTHETIC_HEADER = (
    b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
)
S2S_HEADER = (
    b"<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' "
    b"xmlns:db='jabber:server:dialback'>"
)


# --------------------------------------------------------------------------
# The pool of pieces, drawn once from the strategies
# --------------------------------------------------------------------------


@dataclasses.dataclass
class Pool:
    """
    Drawn pieces by use: C{stanzas} and C{dialback} leave the stream
    open (bar a limit of the node's), C{enders} may end it (fatal pieces,
    forged from addresses, unaddressed dialback ...) and go last.
    """

    stanzas: list[Piece]
    enders: list[Piece]
    headers: list[tuple[bytes, Any]]
    preAuth: list[Piece]
    s2sHeaders: list[tuple[bytes, Any]]
    dialback: list[Piece]
    s2sStanzas: list[Piece]
    s2sEnders: list[Piece]
    s2sBody: list[Piece]
    dialbackEnders: list[Piece]


def drawPool(size: int, maxDepth: int, hugeSize: int, fixedSeed: int) -> Pool:
    """
    Draw about C{size} stanzas (and the other kinds in proportion) from the
    strategies, reproducibly.
    """
    addr = Addresses(domain=DOMAIN, own=OWN, others=(userName(1) + "@" + DOMAIN, "nobody@" + DOMAIN),
                     remote="remote.invalid", room=ROOM)
    pool = Pool([], [], [], [], [], [], [], [], [], [])
    batch = 40

    @settings(max_examples=max(1, size // batch), database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @seed(fixedSeed)
    @given(
        st.lists(c2sStanzas(addr, maxDepth, hugeSize), min_size=batch, max_size=batch),
        fatalPieces(), c2sHeaders(DOMAIN), st.lists(preAuthPieces(), max_size=4),
        s2sHeaders(DOMAIN, PEER), st.lists(dialbackPieces(DOMAIN, PEER), min_size=10, max_size=10),
        s2sStanzas(DOMAIN, PEER, maxDepth, hugeSize),
    )
    def collect(stanzas: list, fatal: Piece, header: tuple, preAuth: list, s2sHeader: tuple,
                dialback: list, s2sStanza: Piece) -> None:
        for piece in stanzas:
            (pool.enders if piece.endsStream else pool.stanzas).append(piece)
        pool.enders.append(fatal)
        pool.headers.append(header)
        pool.preAuth.extend(preAuth)
        pool.s2sHeaders.append(s2sHeader)
        for piece in dialback:
            (pool.dialbackEnders if piece.endsStream else pool.dialback).append(piece)
        (pool.s2sEnders if s2sStanza.endsStream else pool.s2sBody).append(s2sStanza)
        pool.s2sStanzas.append(s2sStanza)

    collect()
    return pool


# --------------------------------------------------------------------------
# A raw connection whose answers are parsed with domish
# --------------------------------------------------------------------------


class Answers:
    """
    Everything the node writes on one connection, as domish elements.
    """

    def __init__(self, reader: asyncio.StreamReader, primed: bytes | None) -> None:
        self.reader = reader
        self.elements: list[domish.Element] = []
        self.ended = False
        self.parseErrors = 0
        self.lastData = time.monotonic()
        self.seen: dict[str, asyncio.Event] = {}
        self.answered: set[str] = set()
        self.reset = False
        self._parser: Any = None
        if primed is not None:
            self._newParser()
            self._parser.parse(primed)
        self.task = asyncio.ensure_future(self._run())

    def _newParser(self) -> None:
        parser = domish.elementStream()
        parser.DocumentStartEvent = lambda root: None
        parser.ElementEvent = self._element
        parser.DocumentEndEvent = self._end
        self._parser = parser

    def _element(self, element: domish.Element) -> None:
        self.elements.append(element)
        if element.name == "iq" and element.getAttribute("type") in ("result", "error"):
            self.answered.add(element.getAttribute("id"))
        event = self.seen.get(element.getAttribute("id") or "")
        if event is not None:
            event.set()

    def _end(self) -> None:
        self.ended = True

    def waitFor(self, stanzaId: str) -> asyncio.Event:
        return self.seen.setdefault(stanzaId, asyncio.Event())

    async def _run(self) -> None:
        try:
            while True:
                data = await self.reader.read(1 << 16)
                if not data:
                    break
                self.lastData = time.monotonic()
                for index, part in enumerate(data.split(b"<?xml version='1.0'?>")):
                    if index > 0:
                        self._newParser()
                    if part:
                        self._parser.parse(part)
        except (ConnectionError, OSError):
            # A reset: what the node wrote last (its stream error) may be
            # lost with it.
            self.reset = True
        except Exception:
            self.parseErrors += 1
        self.ended = True
        for event in self.seen.values():
            event.set()

    async def answeredAll(self, ids: set[str], limit: float) -> None:
        """
        Wait until every iq of C{ids} was answered (at most C{limit} s).
        """
        deadline = time.monotonic() + limit
        while not self.ended and time.monotonic() < deadline and not ids <= self.answered:
            await asyncio.sleep(0.05)

    async def quiet(self, period: float, limit: float, answer: bool = True) -> None:
        """
        Wait until (with C{answer}: something arrived and then) nothing
        arrived for C{period} s, at most C{limit} s.
        """
        start = time.monotonic()
        deadline = start + limit
        while not self.ended and time.monotonic() < deadline:
            last = self.lastData
            if (last > start or not answer) and time.monotonic() - max(last, start) >= period:
                return
            await asyncio.sleep(period / 3)

    async def settle(self, mustEnd: bool, limit: float = 30, answer: bool = True) -> None:
        """
        Wait for the end of a stream that must end, or else for the node
        to fall quiet (a loaded node may take a while to answer at all).
        """
        if mustEnd:
            deadline = time.monotonic() + limit
            while not self.ended and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        else:
            await self.quiet(1.0, limit, answer)


# --------------------------------------------------------------------------
# b.test: the peer whose streams are authenticated
# --------------------------------------------------------------------------

PEER = "b.test"
NS_DB = "jabber:server:dialback"
#: The dialback key the authenticated sessions send (and b.test accepts).
KEY = "0" * 64


class Authority:
    """
    The peer domain's server as the node sees it: the node's link to
    C{b.test} (static host table) reaches this, which says the dialback
    key of the authenticated sessions (L{KEY}) is valid and every other
    invalid, and receives what the node sends C{b.test} (the errors for
    the fuzzed stanzas of authenticated streams).

    @ivar stanzas: what the node sent to C{b.test}.
    """

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind((HOST, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.stanzas: list[domish.Element] = []
        self.streams = 0
        self.server: Any = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, sock=self.sock)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for writer in self._writers:
            writer.close()
        await asyncio.sleep(0.2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.streams += 1
        self._writers.append(writer)
        streamId = f"auth{self.streams}"
        parser = domish.elementStream()

        def started(root: domish.Element) -> None:
            writer.write(
                "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
                "xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' "
                f"from='{PEER}' to='{DOMAIN}' id='{streamId}' version='1.0'>"
                "<stream:features><dialback xmlns='urn:xmpp:features:dialback'/></stream:features>"
                .encode())

        def element(e: domish.Element) -> None:
            if e.uri == NS_DB and e.name == "result":
                writer.write(f"<db:result from='{PEER}' to='{DOMAIN}' type='valid'/>".encode())
            elif e.uri == NS_DB and e.name == "verify":
                # Only the authenticated sessions' key is ours: the fuzzed
                # dialback elements of the other sessions are refused.
                kind = "valid" if str(e).strip() == KEY else "invalid"
                writer.write((f"<db:verify from='{PEER}' to='{DOMAIN}' "
                              f"id='{e.getAttribute('id', '')}' type='{kind}'/>").encode())
            else:
                self.stanzas.append(e)

        parser.DocumentStartEvent = started
        parser.ElementEvent = element
        parser.DocumentEndEvent = lambda: None
        try:
            while True:
                data = await reader.read(1 << 16)
                if not data:
                    break
                parser.parse(data)
        except Exception:
            pass
        writer.close()

    def check(self, byId: dict[str, Piece]) -> list[str]:
        """
        Problems in the errors the node sent b.test since the last call.
        """
        problems: list[str] = []
        stanzas, self.stanzas = self.stanzas, []
        for stanza in stanzas:
            if stanza.getAttribute("type") != "error":
                continue
            condition, errorType = stanzaError(stanza)
            piece = byId.get(stanza.getAttribute("id") or "")
            where = piece.label if piece else f"id {stanza.getAttribute('id')!r}"
            if condition is None:
                if any(c.name == "error" for c in stanza.elements()):
                    problems.append(f"bounce without one defined condition for {where}")
            elif errorType not in STANZA_CONDITIONS[condition]:
                problems.append(f"bounce {condition} with type {errorType!r} for {where}")
            elif condition == "internal-server-error":
                problems.append(f"internal-server-error bounced for {where}")
            elif piece is not None and piece.allowed is not None and condition not in piece.allowed:
                problems.append(f"bounce {condition} for {where} (allowed: {sorted(piece.allowed)})")
        return problems


# --------------------------------------------------------------------------
# Sessions
# --------------------------------------------------------------------------


def mustEnd(headerFatal: Optional[frozenset], pieces: list[Piece]) -> bool:
    """
    Whether the header or a piece must end the stream.
    """
    return any(f is not None and MAY_END not in f for f in [headerFatal] + [p.fatal for p in pieces])


@dataclasses.dataclass
class Tally:
    stanzas: int = 0
    sessions: dict = dataclasses.field(default_factory=dict)
    problems: dict = dataclasses.field(default_factory=dict)
    examples: dict = dataclasses.field(default_factory=dict)
    failures: dict = dataclasses.field(default_factory=dict)
    conditions: dict = dataclasses.field(default_factory=dict)

    def session(self, kind: str) -> None:
        self.sessions[kind] = self.sessions.get(kind, 0) + 1

    def add(self, problems: list[str], pieces: list[Piece]) -> None:
        for problem in problems:
            kind = problem.split(" after header")[0].split(" for ")[0].split(":")[0][:80]
            self.problems[kind] = self.problems.get(kind, 0) + 1
            examples = self.examples.setdefault(kind, [])
            if len(examples) < 3:
                examples.append(problem[:600])

    def count(self, elements: list[domish.Element]) -> None:
        for e in elements:
            if e.name == "error" and e.uri == "http://etherx.jabber.org/streams":
                name = "stream:" + next((c.name for c in e.elements() if c.name != "text"), "?")
            elif e.getAttribute("type") == "error":
                error = next((c for c in e.elements() if c.name == "error"), None)
                if error is None:
                    continue
                name = e.name + ":" + next((c.name for c in error.elements() if c.name != "text"), "?")
            else:
                continue
            self.conditions[name] = self.conditions.get(name, 0) + 1

    def failed(self, kind: str, error: BaseException) -> None:
        key = f"{kind}: {type(error).__name__}: {error}"[:160]
        self.failures[key] = self.failures.get(key, 0) + 1


class Fuzzer:
    def __init__(self, node: LiveNode, pool: Pool, rng: random.Random, total: int,
                 deadline: float, authority: Authority) -> None:
        self.node = node
        self.authority = authority
        self.byId: dict[str, Piece] = {}
        self.pool = pool
        self.rng = rng
        self.total = total
        self.deadline = deadline
        self.tally = Tally()
        self.serial = 0

    def more(self) -> bool:
        return self.tally.stanzas < self.total and time.monotonic() < self.deadline

    def fresh(self, piece: Piece, own: bytes) -> Piece:
        self.serial += 1
        piece = piece.withId(f"z{self.serial}")
        if OWN.encode() in piece.data:
            piece = dataclasses.replace(piece, data=piece.data.replace(OWN.encode(), own))
        return piece

    async def connection(self, index: int) -> None:
        user = userName(10 + index)
        while self.more():
            kind = "c2s-negotiation" if self.rng.random() < 0.05 else "c2s-session"
            try:
                if kind == "c2s-session":
                    await self.c2sSession(user, index)
                else:
                    await self.negotiation()
                self.tally.session(kind)
            except Exception as e:
                self.tally.failed(kind, e)
                await asyncio.sleep(0.1)

    async def send(self, writer: asyncio.StreamWriter, pieces: list[Piece],
                   answers: "Answers") -> list[Piece]:
        """
        Write the pieces until the node ends the stream; return those
        written (a piece written after the end is not counted).
        """
        try:
            for n, piece in enumerate(pieces):
                if answers.ended or writer.is_closing():
                    return pieces[:n]
                writer.write(piece.data)
                self.tally.stanzas += 1
                if n % 32 == 31:
                    await writer.drain()
            await writer.drain()
        except ConnectionError:
            # The node ended the stream (and reset the connection) while
            # more was on its way: what it wrote is still checked.
            answers.reset = True
            return pieces[:n]
        return pieces

    async def c2sSession(self, user: str, index: int) -> None:
        client = await live.loginClient(self.node.port, user, f"fz{index}")
        reader, writer = client.reader, client.writer
        answers = Answers(reader, SYNTHETIC_HEADER)
        own = f"{user}@{DOMAIN}"
        try:
            writer.write(f"<presence/><presence to='{ROOM}/{user}'><x xmlns='http://jabber.org/protocol/muc'/></presence>".encode())
            count = self.rng.randint(100, 3000)
            pieces = [self.fresh(self.rng.choice(self.pool.stanzas), own.encode()) for _ in range(count)]
            if self.rng.random() < 0.3:
                pieces.append(self.fresh(self.rng.choice(self.pool.enders), own.encode()))
            pieces = await self.send(writer, pieces, answers)
            if not mustEnd(None, pieces) and not answers.ended:
                barrier = answers.waitFor("barrier")
                writer.write(f"<iq type='get' id='barrier' to='{DOMAIN}'><ping xmlns='urn:xmpp:ping'/></iq>".encode())
                await asyncio.wait_for(barrier.wait(), 120)
                await answers.answeredAll({p.stanzaId for p in pieces if p.mustAnswer}, 30)
                await answers.quiet(0.3, 5)
            else:
                await asyncio.wait_for(answers.task, 60)
        finally:
            writer.close()
        answers.task.cancel()
        problems = Oracle(pieces, own=own, requireAnswers=not answers.reset).check(
            answers.elements, answers.ended, quietEnd=answers.reset)
        if answers.parseErrors:
            problems.append("the node wrote what does not parse")
        self.tally.add(problems, pieces)
        self.tally.count(answers.elements)
        if answers.reset:
            self.tally.session("reset by the node")

    async def negotiation(self) -> None:
        reader, writer = await asyncio.open_connection(HOST, self.node.port)
        answers = Answers(reader, None)
        header, headerFatal = self.rng.choice(self.pool.headers)
        pieces = [self.fresh(self.rng.choice(self.pool.preAuth), b"") for _ in range(self.rng.randint(0, 4))]
        try:
            writer.write(header)
            pieces = await self.send(writer, pieces, answers)
            await answers.settle(mustEnd(headerFatal, pieces))
        finally:
            writer.close()
        answers.task.cancel()
        problems = Oracle(pieces, headerFatal=headerFatal, requireAnswers=False).check(
            answers.elements, answers.ended, quietEnd=answers.reset)
        problems = [f"{p} after header {header[:200]!r}" for p in problems]
        self.tally.add(problems, pieces)
        self.tally.count(answers.elements)
        if answers.reset:
            self.tally.session("reset by the node")

    async def s2sConnection(self) -> None:
        while self.more():
            kind = "s2s-authenticated" if self.rng.random() < 0.5 else "s2s-unauthenticated"
            try:
                if kind == "s2s-authenticated":
                    await self.s2sAuthenticatedSession()
                else:
                    await self.s2sSession()
                self.tally.session(kind)
            except Exception as e:
                self.tally.failed(kind, e)
                await asyncio.sleep(0.1)

    async def s2sAuthenticatedSession(self) -> None:
        """
        Dialback as b.test (the authority says yes), then stanzas from
        b.test, valid and mutated, sometimes one that ends the stream.
        """
        reader, writer = await asyncio.open_connection(HOST, self.node.s2sPort)
        answers = Answers(reader, None)
        try:
            writer.write(
                "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
                "xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' "
                f"from='{PEER}' to='{DOMAIN}' version='1.0'>"
                f"<db:result from='{PEER}' to='{DOMAIN}'>{KEY}</db:result>".encode())
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not answers.ended:
                if any(e.name == "result" and e.getAttribute("type") == "valid" for e in answers.elements):
                    break
                await asyncio.sleep(0.02)
            else:
                raise RuntimeError("dialback as b.test was not accepted")
            answers.elements.clear()
            pieces = [self.fresh(self.rng.choice(self.pool.s2sBody), b"")
                      for _ in range(self.rng.randint(50, 1000))]
            if self.rng.random() < 0.3:
                pieces.append(self.fresh(self.rng.choice(self.pool.s2sEnders), b""))
            for piece in pieces:
                if piece.stanzaId:
                    self.byId[piece.stanzaId] = piece
            pieces = await self.send(writer, pieces, answers)
            # Errors go back over the link, not this stream: nothing needs
            # to arrive here.
            await answers.settle(mustEnd(None, pieces), answer=False)
        finally:
            writer.close()
        answers.task.cancel()
        problems = Oracle(pieces, requireAnswers=False).check(
            answers.elements, answers.ended, quietEnd=answers.reset)
        self.tally.add(problems, pieces)
        self.tally.count(answers.elements)
        if answers.reset:
            self.tally.session("reset by the node")

    async def s2sSession(self) -> None:
        reader, writer = await asyncio.open_connection(HOST, self.node.s2sPort)
        answers = Answers(reader, None)
        header, headerFatal = self.rng.choice(self.pool.s2sHeaders)
        pieces = [self.fresh(self.rng.choice(self.pool.dialback), b"") for _ in range(self.rng.randint(50, 1000))]
        ender = self.rng.random()
        if ender < 0.3:
            stanza = self.fresh(self.rng.choice(self.pool.s2sStanzas), b"")
            pieces.append(dataclasses.replace(
                stanza, fatal=frozenset({"not-authorized", "improper-addressing", "invalid-from",
                                         "host-unknown"})))
        elif ender < 0.5:
            pieces.append(self.fresh(self.rng.choice(self.pool.dialbackEnders), b""))
        try:
            writer.write(header)
            pieces = await self.send(writer, pieces, answers)
            await answers.settle(mustEnd(headerFatal, pieces))
        finally:
            writer.close()
        answers.task.cancel()
        results = [e for e in answers.elements if e.name == "result" and e.getAttribute("type") == "invalid"]
        problems = Oracle(pieces, headerFatal=headerFatal, requireAnswers=False).check(
            answers.elements, answers.ended, quietEnd=bool(results) or answers.reset)
        problems = [f"{p} after header {header[:200]!r}" for p in problems]
        # The node answers db:verify and db:result only; a stanza's error
        # would go back over a link, not this stream.
        self.tally.add(problems, pieces)
        self.tally.count(answers.elements)
        if answers.reset:
            self.tally.session("reset by the node")


async def run(node: LiveNode, pool: Pool, args: argparse.Namespace, authority: Authority) -> dict:
    rng = random.Random(args.seed)
    deadline = time.monotonic() + args.time_limit
    await authority.start()
    fuzzer = Fuzzer(node, pool, rng, args.stanzas, deadline, authority)
    rss = RSSSampler(node.pid)
    rss.start()
    stop = asyncio.Event()
    checker = asyncio.ensure_future(
        ping(node.port, CHECKER, count=10**7, interval=0.1, stop=stop))
    cpu0 = c2s.processCPU(node.pid)
    t0 = time.perf_counter()
    workers = [fuzzer.connection(i) for i in range(args.connections)]
    workers += [fuzzer.s2sConnection() for _ in range(args.s2s_connections)]
    await asyncio.gather(*workers)
    wall = time.perf_counter() - t0
    # What the node bounced to b.test (a link queue may still be flushing).
    await asyncio.sleep(2)
    bounces = len(authority.stanzas)
    fuzzer.tally.add(authority.check(fuzzer.byId), [])
    await authority.stop()
    cpu = c2s.processCPU(node.pid) - cpu0
    stop.set()
    pings = (await checker).figures()
    memory = rss.stop()
    tally = fuzzer.tally
    return {
        "stanzas": tally.stanzas,
        "wall_s": wall,
        "stanzas_per_s": tally.stanzas / wall,
        "node_cpu_s": cpu,
        **memory,
        "sessions": tally.sessions,
        "wrong_answers": sum(tally.problems.values()),
        "problems": tally.problems,
        "problem_examples": tally.examples,
        "session_failures": tally.failures,
        "conditions": dict(sorted(tally.conditions.items(), key=lambda kv: -kv[1])),
        "checker_pings": pings,
        "stanzas_to_peer": bounces,
        "peer_streams": authority.streams,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--stanzas", type=int, default=1_000_000, help="stanzas in total")
    ap.add_argument("--connections", type=int, default=8, help="client connections at once")
    ap.add_argument("--s2s-connections", type=int, default=2, help="s2s connections at once")
    ap.add_argument("--pool", type=int, default=20_000, help="stanzas drawn from the strategies")
    ap.add_argument("--max-depth", type=int, default=500, help="deepest nesting drawn")
    ap.add_argument("--huge", type=int, default=100_000, help="largest attribute/text drawn")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--time-limit", type=float, default=3600, help="seconds, at most")
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="xmuc-fuzz-")
    node: Optional[LiveNode] = None
    try:
        cert, key = c2s.makeCertificate(root)
        authority = Authority()
        node = LiveNode(root, cert, key, c2sLimits="rate_limit = 0\n",
                        extra=f"\n[s2s_hosts]\n{PEER} = {HOST}:{authority.port}\n")
        node.configure(c2s.freePort())
        node.createUsers(1000)
        t = time.monotonic()
        pool = drawPool(args.pool, args.max_depth, args.huge, args.seed)
        drawn = time.monotonic() - t
        print(f"pool: {len(pool.stanzas)} stanzas, {len(pool.enders)} enders, "
              f"{len(pool.dialback)} dialback in {drawn:.1f}s", flush=True)
        node.start()
        print(f"xmuc pid {node.pid} c2s {node.port} s2s {node.s2sPort}", flush=True)
        result = asyncio.run(run(node, pool, args, authority))
        node.stop()
        result["log"] = node.logScan()
        result["xmuc_package"] = node.xmucPackage()
        result["args"] = vars(args)
        result["pool_draw_s"] = drawn
    except Exception:
        traceback.print_exc()
        raise
    finally:
        if node is not None:
            node.stop()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    print(report(result))
    print(json.dumps({k: v for k, v in result.items() if k not in ("problem_examples",)}))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


def report(r: dict) -> str:
    p = r["checker_pings"]
    lines = [
        "",
        "| figure | value |",
        "|---|---:|",
        f"| stanzas sent | {r['stanzas']:,} |",
        f"| wall time (s) | {r['wall_s']:.0f} |",
        f"| stanzas/s | {r['stanzas_per_s']:,.0f} |",
        f"| node CPU (s) | {r['node_cpu_s']:.0f} |",
        f"| RSS start / max / end (MiB) | {r['rss_start_mib']:.1f} / {r['rss_max_mib']:.1f} / {r['rss_end_mib']:.1f} |",
        f"| sessions | {', '.join(f'{k} {v}' for k, v in r['sessions'].items())} |",
        f"| tracebacks in the node's log | {r['log']['tracebacks']} |",
        f"| wrong answers | {r['wrong_answers']} |",
        f"| checker pings answered / sent (p50 / p99 ms) | {p['answered']} / {p['pings']} ({p['p50_ms']:.1f} / {p['p99_ms']:.1f}) |",
        "",
    ]
    for kind, n in r["problems"].items():
        lines.append(f"problem {kind}: {n}")
        for example in r["problem_examples"][kind]:
            lines.append(f"    {example}")
    for kind, n in r["log"]["traceback_kinds"].items():
        lines.append(f"traceback {kind}: {n}")
    for kind, n in r["session_failures"].items():
        lines.append(f"session failure {kind}: {n}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
