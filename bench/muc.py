"""
Room (XEP-0045 MUC) benchmark: xmuc and Prosody's mod_muc side by side.

Usage::

    /tmp/venv/bin/python bench/muc.py [--quick] [--json FILE] [--plot FILE]

Starts one xmuc node and one Prosody (with C{Component "muc.localhost" "muc"})
on loopback in the same run, with the same settings (plaintext c2s, rate
limits lifted, history length 20, warn-level logging), logs in the
occupants of three rooms per server (10, 100 and 500 occupants, each
client in exactly one room) and measures:

  1. the time for all 500 occupants to join the 500-occupant room: each
     sends its presence to C{room@muc.localhost/nick} and waits for its
     self-presence (status 110), 50 at a time; the first one creates the
     room and accepts the default configuration (instant room);
  2. p50/p99 latency, send to each occupant's receipt, at a fixed offered
     rate into the 100-occupant room;
  3. deliveries per second and the server's CPU seconds per 1,000
     deliveries in each room, with K senders in a closed loop (each sender
     keeps at most W of its messages unechoed: it sends the next one when
     the room reflects one of its own back to it).

A delivery is one groupchat message received by one occupant (a sender's
own echo included). Before any timing the rooms' deliveries are checked:
a probe message must reach every occupant once, as a groupchat message
from the sender's occupant JID with the probe body.

The load generator reuses C{bench/c2s.py}'s lean asyncio client (expat
parser, SCRAM-SHA-1 with a cached salted password) for logins and its
servers' set-up (bulk accounts, configs, start and stop by PID); after
login each connection's transport is handed to a leaner protocol here:
an expat parser that keeps only what the measurements need, or, for
occupants that only count messages, a byte count of C{</message>}. Its own
CPU time is reported next to every figure, with the CPU the rest of the
machine used meanwhile (the 2 cores are shared). Nothing here is a test.
"""

from __future__ import annotations

import argparse
import dataclasses
import asyncio
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import xml.parsers.expat
from dataclasses import dataclass
from typing import Any, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import c2s  # noqa: E402  (bench/c2s.py: client, servers, measurements)

DOMAIN = c2s.DOMAIN
MUC = "muc." + DOMAIN
HISTORY = 20

NS_CLIENT = "jabber:client"
NS_MUC = "http://jabber.org/protocol/muc"
NS_MUC_USER = NS_MUC + "#user"
MESSAGE = NS_CLIENT + " message"
PRESENCE = NS_CLIENT + " presence"
IQ = NS_CLIENT + " iq"
BODY = NS_CLIENT + " body"
STATUS = NS_MUC_USER + " status"

SYNTHETIC_HEADER = (
    b"<stream:stream xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams'>"
)
END_MESSAGE = b"</message>"
# Both servers write an empty status element with single quotes.
SELF_STATUS = b"<status code='110'/>"
CARRY = len(SELF_STATUS) - 1

INSTANT_ROOM = (
    "<iq type='set' id='{id}' to='{room}'>"
    "<query xmlns='http://jabber.org/protocol/muc#owner'>"
    "<x xmlns='jabber:x:data' type='submit'/></query></iq>"
)


# --------------------------------------------------------------------------
# Servers: c2s.py's, with the MUC service configured
# --------------------------------------------------------------------------


class XmucServer(c2s.XmucServer):
    def configure(self, port: int) -> None:
        super().configure(port)
        with open(self.config, "a") as f:
            f.write(
                textwrap.dedent(
                    f"""
                    [s2s]
                    # No federation listener (port 5269 may be taken).
                    listen =

                    [muc]
                    enabled = true
                    creation = local
                    # Every MUC limit lifted (occupants, rooms, flood, sizes).
                    limits = false
                    history_size = {HISTORY}
                    """
                )
            )


class ProsodyServer(c2s.ProsodyServer):
    def configure(self, port: int) -> None:
        super().configure(port)
        with open(self.config, "a") as f:
            f.write(
                textwrap.dedent(
                    f"""
                    -- Added by bench/muc.py: Prosody 0.12's MUC, no MAM.
                    Component "{MUC}" "muc"
                        restrict_room_creation = "local"
                        muc_room_default_history_length = {HISTORY}
                        max_history_messages = {HISTORY}
                        muc_room_default_public = true
                        muc_room_default_persistent = false
                        muc_room_default_public_jids = false
                        muc_room_locking = true
                    """
                )
            )


# --------------------------------------------------------------------------
# A lean protocol for a logged-in connection
# --------------------------------------------------------------------------


class Shared:
    """
    State all connections of one measurement share.
    """

    def __init__(self) -> None:
        self.delivered = 0
        self.target = 0
        self.done: Optional[asyncio.Future] = None
        # Latency: send time by message id, and the samples.
        self.sent: dict[str, float] = {}
        self.latencies: list[float] = []

    def expect(self, count: int) -> asyncio.Future:
        self.target = self.delivered + count
        self.done = asyncio.get_running_loop().create_future()
        return self.done

    def add(self, n: int) -> None:
        self.delivered += n
        if self.done is not None and self.delivered >= self.target and not self.done.done():
            self.done.set_result(None)


class Conn(asyncio.Protocol):
    """
    One logged-in client, after c2s.Client's login, as an occupant.

    In parse mode an expat parser keeps, for each top-level stanza, its
    name, attributes, whether it carries status 110 and its body; in
    count mode the bytes are only searched for C{</message>} and, while
    joining, for the self-presence's C{<status code='110'/>} (the only
    presence that carries it during a join; the parsing occupants check
    that it comes from the occupant's own room JID).
    """

    def __init__(self, client: c2s.Client, index: int, shared: Shared) -> None:
        self.index = index
        self.shared = shared
        self.transport = client.writer.transport
        # Kept: a StreamWriter that is collected closes its transport.
        self.client = client
        self.closed = False
        self.counting = False
        self.carry = b""
        self.messages = 0  # groupchat messages with a body received
        self.now = 0.0
        self.occupantJid = ""
        self.joined: Optional[asyncio.Future] = None
        self.pending: dict[str, asyncio.Future] = {}
        self.window: Optional[asyncio.Semaphore] = None
        self.seen: Optional[list[tuple[str, str, str]]] = None  # probe records
        self.record = False  # latency samples
        self._newParser()
        leftover = bytes(client.reader._buffer)  # normally empty after bind
        client.reader._buffer.clear()
        self.transport.set_protocol(self)
        if leftover:
            self.data_received(leftover)

    # Modes

    def _newParser(self) -> None:
        p = xml.parsers.expat.ParserCreate(namespace_separator=" ")
        p.StartElementHandler = self._start
        p.EndElementHandler = self._end
        p.CharacterDataHandler = self._text
        p.buffer_text = True
        self.parser = p
        self.depth = 0
        self.top = ""
        self.attrs: dict = {}
        self.has110 = False
        self.inBody = False
        self.body: Optional[str] = None
        p.Parse(SYNTHETIC_HEADER, False)

    def countMode(self) -> None:
        self.counting = True
        self.carry = b""

    def parseMode(self) -> None:
        """
        Back to parsing; only while no stanza is in flight to this client.
        """
        self.counting = False
        self._newParser()

    # asyncio.Protocol

    def data_received(self, data: bytes) -> None:
        if self.counting:
            carry = self.carry
            buf = carry + data
            # Only matches that reach into the new data (the others were
            # counted with the previous chunk).
            n = buf.count(END_MESSAGE, max(0, len(carry) - len(END_MESSAGE) + 1))
            self.carry = buf[-CARRY:]
            if n:
                self.messages += n
                self.shared.add(n)
            joined = self.joined
            if joined is not None and not joined.done() and SELF_STATUS in buf:
                joined.set_result(time.perf_counter())
            return
        self.now = time.perf_counter()
        self.parser.Parse(data, False)

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self.closed = True
        for f in [self.joined, *self.pending.values()]:
            if f is not None and not f.done():
                f.set_exception(c2s.XMPPError("connection lost"))

    # expat

    def _start(self, name: str, attrs: dict) -> None:
        self.depth += 1
        d = self.depth
        if d == 2:
            self.top = name
            self.attrs = attrs
            self.has110 = False
            self.body = None
        elif name == STATUS:
            if attrs.get("code") == "110":
                self.has110 = True
        elif name == BODY and d == 3:
            self.inBody = True
            self.body = ""

    def _text(self, data: str) -> None:
        if self.inBody:
            self.body += data

    def _end(self, name: str) -> None:
        d = self.depth
        self.depth = d - 1
        if d == 3:
            self.inBody = False
        elif d == 2:
            self._stanza()
        elif d == 1:
            raise c2s.XMPPError("stream closed by server")

    def _stanza(self) -> None:
        top, attrs = self.top, self.attrs
        if top == MESSAGE:
            if self.body is None or attrs.get("type") != "groupchat":
                return
            self.messages += 1
            self.shared.add(1)
            sender = attrs.get("from")
            if self.record:
                sent = self.shared.sent.get(attrs.get("id"))
                if sent is not None:
                    self.shared.latencies.append(self.now - sent)
            if self.seen is not None:
                self.seen.append((attrs.get("type", ""), sender or "", self.body))
            if self.window is not None and sender == self.occupantJid:
                self.window.release()
        elif top == PRESENCE:
            joined = self.joined
            if joined is None or joined.done():
                return
            sender = attrs.get("from", "")
            if attrs.get("type") == "error" and sender == self.occupantJid:
                joined.set_exception(c2s.XMPPError(f"join of {sender} refused"))
            elif self.has110 and sender == self.occupantJid:
                joined.set_result(self.now)
        elif top == IQ:
            f = self.pending.pop(attrs.get("id", ""), None)
            if f is not None and not f.done():
                f.set_result(attrs.get("type"))

    # Actions

    def send(self, data: bytes) -> None:
        self.transport.write(data)

    def join(self, room: str, nick: str, counting: bool = False) -> asyncio.Future:
        """
        Enter a room; the future is done on the self-presence. A counting
        occupant only scans its bytes, now and afterwards.
        """
        self.occupantJid = f"{room}/{nick}"
        self.joined = asyncio.get_running_loop().create_future()
        if counting:
            self.countMode()
        self.send(
            f"<presence to='{self.occupantJid}'><x xmlns='{NS_MUC}'/></presence>".encode()
        )
        return self.joined

    def iq(self, template: str, **kw: str) -> asyncio.Future:
        ident = f"iq{self.index}-{len(self.pending)}-{time.monotonic_ns()}"
        f = asyncio.get_running_loop().create_future()
        self.pending[ident] = f
        self.send(template.format(id=ident, **kw).encode())
        return f

    def close(self) -> None:
        if not self.closed:
            try:
                self.transport.write(b"</stream:stream>")
            except Exception:
                pass
            self.transport.close()


# --------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------


def machineBusy() -> float:
    """
    CPU seconds all processes on the machine used so far (from /proc/stat).
    """
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # user..steal (guest is already in user)
    return (total - idle) / c2s.CLK_TCK


class Meter(c2s.Meter):
    """
    c2s.Meter plus the CPU the rest of the machine used in the interval.
    """

    def __enter__(self) -> c2s.Sample:
        self.m0 = machineBusy()
        return super().__enter__()

    def __exit__(self, *exc: Any) -> None:
        super().__exit__(*exc)
        s = self.sample
        s.otherCPU = max(0.0, machineBusy() - self.m0 - s.serverCPU - s.genCPU)


def figures(m: c2s.Sample) -> dict:
    return {
        "wall_s": m.wall,
        "server_cpu_s": m.serverCPU,
        "gen_cpu_s": m.genCPU,
        "gen_cpu_share": m.genCPU / m.wall,
        "server_cpu_share": m.serverCPU / m.wall,
        "other_cpu_share": m.otherCPU / m.wall,
    }


async def loginAll(server: c2s.Server, indices: list[int], concurrency: int,
                   shared: Shared) -> dict[int, Conn]:
    ctx = c2s.clientTLSContext()
    queue = list(reversed(indices))
    conns: dict[int, Conn] = {}

    async def worker() -> None:
        while queue:
            i = queue.pop()
            client = await c2s.Client.connect(server.port)
            await asyncio.wait_for(client.login(c2s.userName(i), "muc", False, ctx), 60)
            conn = Conn(client, i, shared)
            conn.send(b"<presence/>")
            conns[i] = conn

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return conns


def roomJid(size: int) -> str:
    return f"room{size}@{MUC}"


def nick(i: int) -> str:
    return f"nick{i:05d}"


async def createRoom(owner: Conn, room: str) -> None:
    """
    Join as the first occupant (status 201 expected) and accept the default
    configuration with the instant-room form.
    """
    await asyncio.wait_for(owner.join(room, nick(owner.index)), 30)
    kind = await asyncio.wait_for(owner.iq(INSTANT_ROOM, room=room), 30)
    if kind != "result":
        raise c2s.XMPPError(f"instant room {room}: {kind}")


async def joinRoom(conns: list[Conn], room: str, concurrency: int,
                   counting: set[int]) -> None:
    """
    The first creates the room; the others join, C{concurrency} at a time.
    """
    await createRoom(conns[0], room)
    queue = list(reversed(conns[1:]))

    async def worker() -> None:
        while queue:
            c = queue.pop()
            await asyncio.wait_for(c.join(room, nick(c.index), c.index in counting), 120)

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def settle(server: c2s.Server, quiet: float = 0.3, timeout: float = 60.0) -> None:
    """
    Wait until the server has been idle for C{quiet} seconds (its output,
    e.g. the presences of the last joins, is then on the wire).
    """
    deadline = time.monotonic() + timeout
    last = c2s.processCPU(server.pid)
    while time.monotonic() < deadline:
        await asyncio.sleep(quiet)
        now = c2s.processCPU(server.pid)
        if now - last < 0.02 * quiet:
            return
        last = now


async def probe(server: c2s.Server, conns: list[Conn], room: str, shared: Shared) -> dict:
    """
    One message from the first occupant: every occupant must receive it
    once; those that parse must see a groupchat message from the sender's
    occupant JID with the probe body.
    """
    sender = conns[0]
    body = f"probe {room} {time.time():.6f}"
    before = {c.index: c.messages for c in conns}
    for c in conns:
        if not c.counting:
            c.seen = []
    done = shared.expect(len(conns))
    sender.send(
        f"<message type='groupchat' to='{room}' id='probe'><body>{body}</body></message>".encode()
    )
    await asyncio.wait_for(done, 30)
    await asyncio.sleep(0.3)  # a second copy would show up here
    checked = 0
    for c in conns:
        got = c.messages - before[c.index]
        if got != 1:
            raise c2s.XMPPError(f"{server.name}: occupant {c.index} got {got} probe messages")
        if c.seen is not None:
            if c.seen != [("groupchat", f"{room}/{nick(sender.index)}", body)]:
                raise c2s.XMPPError(f"{server.name}: occupant {c.index} saw {c.seen!r}")
            checked += 1
            c.seen = None
    return {"occupants": len(conns), "parsed_and_checked": checked}


async def measureJoin(server: c2s.Server, conns: list[Conn], concurrency: int,
                      watchers: set[int]) -> dict:
    room = roomJid(len(conns))
    counting = {c.index for c in conns} - watchers
    with Meter(server.pid) as m:
        await joinRoom(conns, room, concurrency, counting)
    out = {"occupants": len(conns), "concurrency": concurrency, **figures(m)}
    out["joins_per_s"] = len(conns) / m.wall
    return out


async def measureThroughput(server: c2s.Server, conns: list[Conn], shared: Shared,
                            senders: int, window: int, deliveries: int) -> dict:
    room = roomJid(len(conns))
    n = len(conns)
    perSender = max(1, deliveries // (n * senders))
    active = conns[:senders]
    for s in active:
        s.window = asyncio.Semaphore(window)
    body = "x" * 64
    done = shared.expect(perSender * senders * n)
    start = shared.delivered

    async def sender(s: Conn) -> None:
        prefix = f"<message type='groupchat' to='{room}' id='t{s.index}-".encode()
        suffix = f"'><body>{body}</body></message>".encode()
        for k in range(perSender):
            await s.window.acquire()
            s.send(prefix + str(k).encode() + suffix)

    with Meter(server.pid) as m:
        try:
            await asyncio.wait_for(
                asyncio.gather(*(sender(s) for s in active), done), 300)
            timedOut = False
        except asyncio.TimeoutError:
            timedOut = True
    for s in active:
        s.window = None
    got = shared.delivered - start
    out = {
        "occupants": n,
        "senders": senders,
        "window": window,
        "messages": perSender * senders,
        "deliveries": got,
        "timed_out": timedOut,
        **figures(m),
    }
    out["deliveries_per_s"] = got / m.wall
    out["server_cpu_s_per_1000"] = 1000 * m.serverCPU / max(got, 1)
    out["gen_cpu_s_per_1000"] = 1000 * m.genCPU / max(got, 1)
    return out


async def measureLatency(server: c2s.Server, conns: list[Conn], shared: Shared,
                         senders: int, rate: float, duration: float) -> dict:
    room = roomJid(len(conns))
    count = int(rate * duration)
    shared.sent.clear()
    shared.latencies = []
    for c in conns:
        c.record = True
    done = shared.expect(count * len(conns))
    body = "y" * 64
    with Meter(server.pid) as m:
        t0 = time.perf_counter()
        for k in range(count):
            delay = t0 + k / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            ident = f"L{k}"
            shared.sent[ident] = time.perf_counter()
            conns[k % senders].send(
                f"<message type='groupchat' to='{room}' id='{ident}'><body>{body}</body></message>".encode()
            )
        try:
            await asyncio.wait_for(done, 60)
        except asyncio.TimeoutError:
            pass
    for c in conns:
        c.record = False
    samples = sorted(shared.latencies)
    out = {
        "occupants": len(conns),
        "rate_per_s": rate,
        "messages": count,
        "samples": len(samples),
        "expected_samples": count * len(conns),
        **figures(m),
    }

    def pct(p: float) -> float:
        return 1000 * samples[min(len(samples) - 1, int(p * len(samples)))] if samples else float("nan")

    out.update(p50_ms=pct(0.50), p90_ms=pct(0.90), p99_ms=pct(0.99), max_ms=1000 * samples[-1] if samples else float("nan"))
    return out


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


@dataclass
class Plan:
    sizes: tuple[int, ...]
    joinConcurrency: int
    loginConcurrency: int
    senders: int
    window: int
    deliveries: dict  # per run, by room size
    repeats: int
    latencyRate: float
    latencyDuration: float
    watchers: int  # occupants of the largest room that parse (besides senders)


FULL = Plan(sizes=(10, 100, 500), joinConcurrency=50, loginConcurrency=50, senders=5,
            window=5, deliveries={10: 80_000, 100: 150_000, 500: 200_000}, repeats=3,
            latencyRate=20.0, latencyDuration=15.0, watchers=20)
QUICK = Plan(sizes=(10, 100, 200), joinConcurrency=50, loginConcurrency=50, senders=5,
             window=5, deliveries={10: 10_000, 100: 20_000, 200: 20_000}, repeats=1,
             latencyRate=20.0, latencyDuration=3.0, watchers=20)


class Population:
    """
    One server's logged-in clients, split into rooms.
    """

    def __init__(self, server: c2s.Server) -> None:
        self.server = server
        self.shared = Shared()
        self.conns: dict[int, Conn] = {}
        self.rooms: dict[int, list[Conn]] = {}


def show(r: dict) -> None:
    print("    " + json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()}),
          flush=True)


async def runAll(servers: list[c2s.Server], plan: Plan, skip: frozenset = frozenset()) -> dict:
    results: dict = {s.name: {"throughput": {}, "probe": {}} for s in servers}
    pops = [Population(s) for s in servers]
    total = sum(plan.sizes)
    # Logins (untimed; each client is in exactly one room).
    for pop in pops:
        t = time.perf_counter()
        pop.conns = await loginAll(pop.server, list(range(total)), plan.loginConcurrency, pop.shared)
        first = 0
        for size in plan.sizes:
            pop.rooms[size] = [pop.conns[i] for i in range(first, first + size)]
            first += size
        print(f"  {pop.server.name}: {total} logged in in {time.perf_counter() - t:.1f}s", flush=True)
    big = max(plan.sizes)
    for pop in pops:
        await settle(pop.server)
    # Joins: the small rooms untimed, the largest timed.
    for size in plan.sizes:
        for pop in pops:
            conns = pop.rooms[size]
            if size == big:
                print(f"  {pop.server.name}: {size} join room{size} (timed) ...", flush=True)
                watchers = {c.index for c in conns[: plan.senders + plan.watchers]}
                watchers |= {c.index for c in conns[-plan.watchers:]}
                r = await measureJoin(pop.server, conns, plan.joinConcurrency, watchers)
                results[pop.server.name]["join"] = r
                show(r)
            else:
                await joinRoom(conns, roomJid(size), plan.joinConcurrency, set())
            await settle(pop.server)
            r = await probe(pop.server, conns, roomJid(size), pop.shared)
            results[pop.server.name]["probe"][size] = r
            print(f"  {pop.server.name}: room{size} probe ok {r}", flush=True)
    # Latency at a fixed rate into the 100-occupant room (all parse).
    mid = 100 if 100 in plan.sizes else plan.sizes[len(plan.sizes) // 2]
    for pop in pops if "latency" not in skip else []:
        print(f"  {pop.server.name}: latency room{mid} at {plan.latencyRate}/s ...", flush=True)
        r = await measureLatency(pop.server, pop.rooms[mid], pop.shared, plan.senders,
                                 plan.latencyRate, plan.latencyDuration)
        results[pop.server.name]["latency"] = r
        show(r)
        await settle(pop.server)
    # Throughput: senders parse (they wait for their echoes), the rest count.
    for pop in pops:
        for size in plan.sizes:
            for c in pop.rooms[size][plan.senders:]:
                if not c.counting:
                    c.countMode()
    for size in plan.sizes if "throughput" not in skip else []:
        runs: dict[str, list[dict]] = {s.name: [] for s in servers}
        for rep in range(plan.repeats):
            for pop in pops:
                print(f"  {pop.server.name}: throughput room{size} #{rep + 1} ...", flush=True)
                r = await measureThroughput(pop.server, pop.rooms[size], pop.shared,
                                            plan.senders, plan.window,
                                            plan.deliveries.get(size, 100_000))
                runs[pop.server.name].append(r)
                show(r)
                await settle(pop.server)
        for s in servers:
            results[s.name]["throughput"][size] = c2s.medianOf(runs[s.name])
    for pop in pops:
        for c in pop.conns.values():
            c.close()
    await asyncio.sleep(0.5)
    return results


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def table(results: dict, plan: Plan) -> str:
    x, p = results["xmuc"], results["prosody"]
    out = ["| Figure | xmuc | Prosody | xmuc/Prosody |", "|---|---:|---:|---:|"]

    def row(label: str, a: float, b: float, fmt: str, r: bool = True) -> None:
        out.append(f"| {label} | {fmt.format(a)} | {fmt.format(b)} | {ratio(a, b) if r else ''} |")

    for size in plan.sizes:
        tx, tp = x["throughput"][size], p["throughput"][size]
        row(f"{size} occupants: deliveries/s", tx["deliveries_per_s"], tp["deliveries_per_s"], "{:,.0f}")
        row(f"{size} occupants: **server CPU s per 1,000 deliveries**",
            tx["server_cpu_s_per_1000"], tp["server_cpu_s_per_1000"], "{:.4f}")
        row(f"{size} occupants: generator CPU share (of one core)",
            tx["gen_cpu_share"], tp["gen_cpu_share"], "{:.0%}", False)
        row(f"{size} occupants: others' CPU share meanwhile",
            tx["other_cpu_share"], tp["other_cpu_share"], "{:.0%}", False)
    jx, jp = x["join"], p["join"]
    big = jx["occupants"]
    row(f"**{big} occupants join (s)**", jx["wall_s"], jp["wall_s"], "{:.2f}")
    row(f"{big} join: server CPU s", jx["server_cpu_s"], jp["server_cpu_s"], "{:.2f}")
    row(f"{big} join: generator CPU share", jx["gen_cpu_share"], jp["gen_cpu_share"], "{:.0%}", False)
    row(f"{big} join: others' CPU share meanwhile", jx["other_cpu_share"], jp["other_cpu_share"], "{:.0%}", False)
    lx, lp = x["latency"], p["latency"]
    tag = f"{lx['occupants']} occupants at {lx['rate_per_s']:.0f} msg/s"
    row(f"{tag}: latency p50 (ms)", lx["p50_ms"], lp["p50_ms"], "{:.2f}")
    row(f"{tag}: latency p99 (ms)", lx["p99_ms"], lp["p99_ms"], "{:.2f}")
    row(f"{tag}: server CPU share", lx["server_cpu_share"], lp["server_cpu_share"], "{:.0%}", False)
    row(f"{tag}: generator CPU share", lx["gen_cpu_share"], lp["gen_cpu_share"], "{:.0%}", False)
    return "\n".join(out)


def plot(results: dict, plan: Plan, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [("xmuc", "tab:blue"), ("prosody", "tab:orange")]
    sizes = list(plan.sizes)
    fig, axes = plt.subplots(1, 3, figsize=(13, 4))
    width = 0.38
    xs = range(len(sizes))
    for k, (name, color) in enumerate(names):
        t = results[name]["throughput"]
        label = "Prosody 0.12" if name == "prosody" else name
        axes[0].bar([i + (k - 0.5) * width for i in xs], [t[s]["deliveries_per_s"] for s in sizes],
                    width, label=label, color=color)
        axes[1].bar([i + (k - 0.5) * width for i in xs],
                    [t[s]["server_cpu_s_per_1000"] for s in sizes], width, label=label, color=color)
    tx, tp = results["xmuc"]["throughput"], results["prosody"]["throughput"]
    for i, s in zip(xs, sizes):
        a, b = tx[s]["server_cpu_s_per_1000"], tp[s]["server_cpu_s_per_1000"]
        axes[1].text(i - 0.5 * width, a, f"{a / b:.2f}×", ha="center", va="bottom")
    for ax, title in ((axes[0], "Deliveries per second"),
                      (axes[1], "Server CPU s per 1,000 deliveries (xmuc/Prosody)")):
        ax.set_xticks(list(xs))
        ax.set_xticklabels([f"{s} occupants" for s in sizes])
        ax.set_title(title)
        ax.legend(loc="upper left")
    joins = [results[n]["join"]["wall_s"] for n, _ in names]
    axes[2].bar(["xmuc", "Prosody 0.12"], joins, color=[c for _, c in names])
    axes[2].set_title(f"Time for {results['xmuc']['join']['occupants']} occupants to join (s): "
                      f"{joins[0] / joins[1]:.2f}×")
    for i, v in enumerate(joins):
        axes[2].text(i, v, f"{v:.2f} s", ha="center", va="bottom")
    fig.suptitle("Rooms: xmuc vs Prosody 0.12 mod_muc (bench/muc.py, same run, 2 shared cores)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small smoke run (< 1 minute)")
    ap.add_argument("--json", help="also write raw results to this file")
    ap.add_argument("--plot", help="also draw the figures into this PNG (needs matplotlib)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--only", choices=["xmuc", "prosody"], help="run one server (profiling)")
    ap.add_argument("--sizes", help="room sizes instead of the plan's, e.g. 500 (profiling)")
    ap.add_argument("--skip", default="", help="comma-separated: latency, throughput (profiling)")
    args = ap.parse_args()
    plan = QUICK if args.quick else FULL
    if args.sizes:
        plan = dataclasses.replace(plan, sizes=tuple(int(x) for x in args.sizes.split(",")))
    skip = frozenset(filter(None, args.skip.split(",")))
    limit = c2s.raiseFileLimit(4 * sum(plan.sizes) + 1000)
    print(f"fd limit {limit}; plan {plan}", flush=True)
    # The servers inherit this environment: say which xmuc they import.
    xmucPath = subprocess.run([c2s.PYTHON, "-c", "import xmuc; print(xmuc.__file__)"],
                              capture_output=True, text=True, check=True).stdout.strip()
    print(f"xmuc imported from {xmucPath}", flush=True)
    root = tempfile.mkdtemp(prefix="xmuc-bench-muc-")
    servers: list[c2s.Server] = []
    started = time.monotonic()
    try:
        xmuc = XmucServer(root, *c2s.makeCertificate(root))
        prosody = ProsodyServer(root, xmuc.cert, xmuc.key)
        servers = [xmuc, prosody]
        if args.only:
            servers = [s for s in servers if s.name == args.only]
        for s in servers:
            s.configure(c2s.freePort())
            t = time.monotonic()
            s.createUsers(sum(plan.sizes))
            print(f"{s.name}: {sum(plan.sizes)} accounts in {time.monotonic() - t:.1f}s", flush=True)
        for s in servers:
            s.start()
            print(f"{s.name} started, pid {s.pid}, port {s.port}", flush=True)
        results = asyncio.run(runAll(servers, plan, skip))
    finally:
        for s in servers:
            s.stop()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    meta = {
        "xmuc_imported_from": xmucPath,
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "prosody": open("/usr/lib/prosody/prosody.version").read().strip(),
        "plan": plan.__dict__,
        "elapsed_s": time.monotonic() - started,
    }
    if len(servers) == 2 and not skip and not args.sizes:
        print(table(results, plan))
        if args.plot:
            plot(results, plan, args.plot)
    print(json.dumps(meta))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=2, default=str)


if __name__ == "__main__":
    main()
