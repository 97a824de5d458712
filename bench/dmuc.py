"""
Distributed rooms over real sockets: a room on node A with N occupants on
node B (and a few on A), through B's replica, classically, and between two
Prosody servers, side by side in one run; and the same room with every
occupant on one node.

Usage::

    PYTHONPATH=. /tmp/venv/bin/python bench/dmuc.py [--quick] [--json FILE]

Starts on loopback, in one run:

  - xmuc a.test + xmuc b.test with C{[dmuc] enabled = true} ("dmuc": B's
    users are served by B's replica, dmuc@b.test);
  - xmuc c.test + xmuc d.test with C{[dmuc] enabled = false} ("classic":
    one copy of every room stanza per remote occupant);
  - Prosody pa.test (with C{Component "muc.pa.test" "muc"}) + Prosody
    pb.test ("prosody", classic);
  - xmuc s.test alone ("single": the same rooms with every occupant local,
    the reference for CPU per delivery).

Every s2s connection of a pair goes through a counting TCP proxy of this
file (C{--proxy}, a process of its own) placed in the xmuc nodes' static
C{[s2s_hosts]} tables and in the SRV records Prosody finds on a loopback
DNS server (bench/s2s.py's). The proxy forwards bytes, counts them per
direction, parses each direction with expat and counts its top-level
elements (message, presence, iq; dialback and the like as "other"). To
read the stanzas it removes the STARTTLS offer from each stream's first
features, so the links run plaintext with dialback (both servers allow it
here: C{require_tls = false}, C{s2s_require_encryption = false}); the
bytes are those of plaintext XML.

For each N (rooms of N occupants on B plus 3 on A: an owner who creates
the room and two more), per pair:

  1. joins: s2s stanzas and bytes each way for B's first user (with DMUC,
     the attach and the snapshot), for the N-2 next ones (50 at a time)
     and for B's last user alone (the room then holds N+2), with the
     servers and the proxy quiet between phases;
  2. a probe: every occupant gets one message once (bench/muc.py's probe);
  3. latency at a fixed rate (20 msg/s, senders on A, in the 100 room):
     p50/p99 of A's occupants and of B's occupants of the same messages;
  4. throughput: A's 3 occupants send in a closed loop (window 5 of their
     own echoes, as bench/muc.py); deliveries, CPU seconds of A and of B
     per 1,000 deliveries, and s2s stanzas and bytes per room message.

The single node runs the same room sizes (N+3 local occupants) through
the same steps; its CPU per 1,000 deliveries is the reference for the
pairs' summed figure. A delivery is one groupchat message received by one
occupant (a sender's echo included).

Clients, rooms, probe and process measurements come from bench/muc.py,
bench/c2s.py and bench/s2s.py (imported). Nothing listens or connects
beyond 127.0.0.1; no look-up reaches the machine's resolver (xmuc's DNS
goes to a closed loopback port, Prosody's to the loopback DNS server);
every process started here is stopped by its PID. Nothing here is a test.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import xml.parsers.expat
from dataclasses import dataclass
from typing import Any, Optional

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
for _path in (REPO, BENCH):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import c2s  # noqa: E402  (bench/c2s.py: client, process figures)
import muc  # noqa: E402  (bench/muc.py: occupant protocol, rooms, probe)
import s2s as s2sbench  # noqa: E402  (bench/s2s.py: nodes with domains, DNS, Meter)
from c2s import HOST, PYTHON, stopProcess  # noqa: E402

HISTORY = muc.HISTORY
ON_A = 3  # occupants of every room on A: the owner and two more


# --------------------------------------------------------------------------
# The counting proxy (its own process: bench/dmuc.py --proxy TARGETS)
# --------------------------------------------------------------------------

NS_STREAMS = "http://etherx.jabber.org/streams"
KINDS = ("message", "presence", "iq")
STARTTLS = re.compile(
    rb"<starttls\s+xmlns=['\"]urn:ietf:params:xml:ns:xmpp-tls['\"]\s*(?:/>|>.*?</starttls>)", re.S)
FEATURES_END = re.compile(rb"</(?:[\w-]+:)?features>")


def newTally() -> dict[str, int]:
    return {"bytes": 0, "message": 0, "presence": 0, "iq": 0, "other": 0, "unparsed": 0}


class Direction:
    """
    One direction of one proxied connection: counts the bytes it forwards
    and the top-level elements they carry. On the responder's side
    (C{strip}) the first features are held until complete and forwarded
    without their STARTTLS offer.
    """

    def __init__(self, tally: dict[str, int], strip: bool) -> None:
        self.tally = tally
        self.strip = strip
        self.pending = b""
        self.depth = 0
        self.parser: Any = xml.parsers.expat.ParserCreate(namespace_separator=" ")
        self.parser.StartElementHandler = self._start
        self.parser.EndElementHandler = self._end

    def feed(self, data: bytes) -> bytes:
        if self.strip:
            self.pending += data
            if not FEATURES_END.search(self.pending) and len(self.pending) < 65536:
                return b""
            data, self.pending, self.strip = STARTTLS.sub(b"", self.pending), b"", False
        self.tally["bytes"] += len(data)
        if self.parser is not None:
            try:
                self.parser.Parse(data, False)
            except xml.parsers.expat.ExpatError:
                self.parser = None
                self.tally["unparsed"] += 1
        return data

    def _start(self, name: str, attrs: dict) -> None:
        if name == NS_STREAMS + " stream":
            self.depth = 1  # a stream (re)start
            return
        self.depth += 1
        if self.depth == 2:
            local = name.rpartition(" ")[2]
            self.tally[local if local in KINDS else "other"] += 1

    def _end(self, name: str) -> None:
        self.depth -= 1


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, way: Direction) -> None:
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            out = way.feed(data)
            if out:
                writer.write(out)
                await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def _proxyMain(targets: dict[str, int]) -> None:
    tallies: dict[str, dict[str, dict[str, int]]] = {
        name: {"up": newTally(), "down": newTally()} for name in targets}
    ports: dict[str, int] = {}
    for name, target in targets.items():
        async def handle(r: Any, w: Any, name: str = name, target: int = target) -> None:
            try:
                ur, uw = await asyncio.open_connection(HOST, target)
            except OSError:
                w.close()
                return
            await asyncio.gather(_pipe(r, uw, Direction(tallies[name]["up"], False)),
                                 _pipe(ur, w, Direction(tallies[name]["down"], True)))

        server = await asyncio.start_server(handle, HOST, 0)
        ports[name] = server.sockets[0].getsockname()[1]
    print(json.dumps(ports), flush=True)
    loop = asyncio.get_running_loop()
    finished = loop.create_future()

    def control() -> None:
        # One JSON line of the tallies per line read; end of input: exit.
        for _ in sys.stdin:
            copy = asyncio.run_coroutine_threadsafe(_copy(tallies), loop).result()
            print(json.dumps(copy), flush=True)
        loop.call_soon_threadsafe(lambda: finished.done() or finished.set_result(None))

    threading.Thread(target=control, daemon=True).start()
    await finished


async def _copy(tallies: dict) -> dict:
    return json.loads(json.dumps(tallies))


class Proxy:
    """
    The bench's side of the proxy process: its listening ports and tallies.
    """

    def __init__(self) -> None:
        self.proc: Optional[subprocess.Popen] = None
        self.ports: dict[str, int] = {}

    @property
    def pid(self) -> int:
        return self.proc.pid

    def start(self, targets: dict[str, int]) -> None:
        self.proc = subprocess.Popen([PYTHON, os.path.abspath(__file__), "--proxy", json.dumps(targets)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.ports = json.loads(self.proc.stdout.readline())

    def snapshot(self) -> dict:
        self.proc.stdin.write("s\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
        stopProcess(self.proc)


# --------------------------------------------------------------------------
# Nodes
# --------------------------------------------------------------------------


class XmucPeer(s2sbench.XmucNode):
    """
    bench/s2s.py's xmuc node with plaintext-capable dialback s2s, rooms with
    every limit lifted, and DMUC on or off.
    """

    def configurePair(self, port: int, hosts: dict[str, int], dmuc: bool) -> None:
        self.port = port
        table = "".join(f"{d} = {HOST}:{p}\n" for d, p in hosts.items())
        with open(self.config, "w") as f:
            f.write(self.configText(port, self.domain) + textwrap.dedent(f"""
                [s2s]
                listen = {HOST}:{self.s2sPort}
                require_tls = false
                dialback = true
                dialback_secret = bench-dialback-secret
                # A closed loopback port: every peer is in [s2s_hosts].
                dns_servers = {HOST}:1
                rate_limit = 0

                [muc]
                enabled = true
                creation = local
                limits = false
                history_size = {HISTORY}

                [dmuc]
                enabled = {"true" if dmuc else "false"}

                [s2s_hosts]
                """) + table)


class ProsodyPeer(s2sbench.ProsodyNode):
    """
    bench/s2s.py's Prosody with dialback allowed over plaintext and, on A,
    bench/muc.py's mod_muc settings.
    """

    def configurePair(self, port: int, dnsPort: int, room: bool) -> None:
        self.configureS2S(port, {}, dnsPort)
        with open(self.config) as f:
            text = f.read()
        for old, new in (("s2s_require_encryption = true", "s2s_require_encryption = false"),
                         ("s2s_secure_auth = true", "s2s_secure_auth = false"),
                         ('"blocklist"; "posix";', '"blocklist"; "posix"; "dialback";')):
            if old not in text:
                raise RuntimeError(f"bench/s2s.py's Prosody config changed: no {old!r}")
            text = text.replace(old, new)
        if room:
            text += textwrap.dedent(f"""
                Component "muc.{self.domain}" "muc"
                    restrict_room_creation = "local"
                    muc_room_default_history_length = {HISTORY}
                    max_history_messages = {HISTORY}
                    muc_room_default_public = true
                    muc_room_default_persistent = false
                    muc_room_default_public_jids = false
                    muc_room_locking = true
                """)
        with open(self.config, "w") as f:
            f.write(text)


@dataclass
class Setup:
    """
    One way of serving the room: a pair (A holds the room, B the N remote
    occupants) with its two proxy listeners, or a single node (b is None).
    """

    key: str
    label: str
    a: Any
    b: Any = None

    @property
    def muc(self) -> str:
        return "muc." + self.a.domain

    def servers(self) -> list[Any]:
        return [self.a] if self.b is None else [self.a, self.b]

    def pids(self) -> dict[str, int]:
        return {"a": self.a.pid} if self.b is None else {"a": self.a.pid, "b": self.b.pid}


def linkTraffic(setup: Setup, before: dict, after: dict) -> dict:
    """
    What crossed the pair's proxies between two snapshots, per direction.
    The C{toA} listener carries B's connections to A (up: B to A), C{toB}
    A's connections to B.
    """

    def delta(name: str, way: str) -> dict[str, int]:
        return {k: after[name][way][k] - before[name][way][k] for k in after[name][way]}

    def add(x: dict, y: dict) -> dict:
        return {k: x[k] + y[k] for k in x}

    toA, toB = f"{setup.key}:toA", f"{setup.key}:toB"
    out = {}
    for label, parts in (("a_to_b", ((toB, "up"), (toA, "down"))), ("b_to_a", ((toA, "up"), (toB, "down")))):
        d = add(delta(*parts[0]), delta(*parts[1]))
        d["stanzas"] = sum(d[k] for k in KINDS)
        out[label] = d
    return out


# --------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------


class Linked(muc.Shared):
    """
    A second latency bucket that shares the send times and delivery count
    of the main one (so B's occupants' samples stay apart from A's).
    """

    def __init__(self, main: muc.Shared) -> None:
        super().__init__()
        self.main = main
        self.sent = main.sent

    def add(self, n: int) -> None:
        self.main.add(n)


class Bench:
    def __init__(self, proxy: Proxy, plan: "Plan") -> None:
        self.proxy = proxy
        self.plan = plan

    async def settle(self, setup: Setup) -> None:
        """
        Both nodes idle and nothing more crossing the proxy.
        """
        for _ in range(200):
            before = self.proxy.snapshot()
            for s in setup.servers():
                await muc.settle(s, quiet=0.2)
            if self.proxy.snapshot() == before:
                return

    async def phase(self, setup: Setup, step: Any) -> dict:
        """
        What C{step()} (started after the first snapshot) costs the links.
        """
        before = self.proxy.snapshot()
        await asyncio.wait_for(step(), 300)
        await self.settle(setup)
        return linkTraffic(setup, before, self.proxy.snapshot()) if setup.b is not None else {}

    async def joinMany(self, conns: list[muc.Conn], room: str, counting: set[int]) -> None:
        queue = list(reversed(conns))

        async def worker() -> None:
            while queue:
                c = queue.pop()
                await asyncio.wait_for(c.join(room, muc.nick(c.index), c.index in counting), 300)

        await asyncio.gather(*(worker() for _ in range(self.plan.joinConcurrency)))

    async def room(self, setup: Setup, size: int, onA: list[muc.Conn], onB: list[muc.Conn],
                   shared: muc.Shared, remote: Linked, report: bool) -> dict:
        room = f"room{size}@{setup.muc}"
        out: dict = {"occupants_on_b": len(onB), "occupants_on_a": len(onA)}
        await muc.createRoom(onA[0], room)
        for c in onA[1:]:
            await asyncio.wait_for(c.join(room, muc.nick(c.index)), 60)
        await self.settle(setup)
        parse = {c.index for c in onB} if size <= 100 else {c.index for c in onB[: self.plan.watchers]}
        counting = {c.index for c in onB} - parse
        first, last = onB[0], onB[-1]
        out["first_join"] = await self.phase(
            setup, lambda: first.join(room, muc.nick(first.index), first.index in counting))
        if len(onB) > 2:
            out["fill"] = await self.phase(setup, lambda: self.joinMany(onB[1:-1], room, counting))
            out["fill"]["joins"] = len(onB) - 2
        if len(onB) > 1:
            out["last_join"] = await self.phase(
                setup, lambda: last.join(room, muc.nick(last.index), last.index in counting))
        out["probe"] = await muc.probe(setup.a, onA + onB, room, shared)
        if not report:
            return out
        if size == self.plan.latencySize:
            out["latency"] = await self.latency(onA, onB, shared, remote, room)
        # A's occupants send and wait for their echoes (they parse); B's count.
        for c in onB:
            if not c.counting:
                c.countMode()
        out["throughput"] = await self.throughput(setup, onA, len(onA) + len(onB), shared, room)
        return out

    async def latency(self, onA: list[muc.Conn], onB: list[muc.Conn], shared: muc.Shared,
                      remote: Linked, room: str) -> dict:
        """
        bench/muc.py's open loop at a fixed rate, senders on A; samples of
        A's and of B's occupants apart.
        """
        rate, count = self.plan.latencyRate, int(self.plan.latencyRate * self.plan.latencyDuration)
        shared.sent.clear()
        shared.latencies, remote.latencies = [], []
        for c in onA + onB:
            c.record = True
        done = shared.expect(count * (len(onA) + len(onB)))
        body = "y" * 64
        t0 = time.perf_counter()
        for k in range(count):
            delay = t0 + k / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            ident = f"L{k}"
            shared.sent[ident] = time.perf_counter()
            onA[k % len(onA)].send(
                f"<message type='groupchat' to='{room}' id='{ident}'><body>{body}</body></message>".encode())
        try:
            await asyncio.wait_for(done, 60)
        except asyncio.TimeoutError:
            pass
        for c in onA + onB:
            c.record = False
        return {"rate_per_s": rate, "messages": count,
                "on_a": percentiles(shared.latencies), "on_b": percentiles(remote.latencies)}

    async def throughput(self, setup: Setup, senders: list[muc.Conn], n: int, shared: muc.Shared,
                         room: str) -> dict:
        """
        bench/muc.py's closed loop (each sender keeps at most C{window} of
        its messages unechoed), metered on both nodes and on the proxy.
        """
        plan = self.plan
        perSender = max(1, plan.deliveries[n - ON_A] // (n * len(senders)))
        for s in senders:
            s.window = asyncio.Semaphore(plan.window)
        done = shared.expect(perSender * len(senders) * n)
        start = shared.delivered
        body = "x" * 64

        async def sender(s: muc.Conn) -> None:
            prefix = f"<message type='groupchat' to='{room}' id='t{s.index}-".encode()
            suffix = f"'><body>{body}</body></message>".encode()
            for k in range(perSender):
                await s.window.acquire()
                s.send(prefix + str(k).encode() + suffix)

        before = self.proxy.snapshot()
        timedOut = False
        with s2sbench.Meter({**setup.pids(), "proxy": self.proxy.pid}) as m:
            try:
                await asyncio.wait_for(asyncio.gather(*(sender(s) for s in senders), done), 300)
            except asyncio.TimeoutError:
                timedOut = True
        for s in senders:
            s.window = None
        got = shared.delivered - start
        messages = perSender * len(senders)
        nodes = sum(m.cpu[k] for k in setup.pids())
        out = {
            "messages": messages, "deliveries": got, "timed_out": timedOut, "wall_s": m.wall,
            "deliveries_per_s": got / m.wall,
            "cpu_s_per_1000": 1000 * nodes / max(got, 1),
            **{f"cpu_{k}_s_per_1000": 1000 * m.cpu[k] / max(got, 1) for k in setup.pids()},
            "gen_cpu_share": m.genCPU / m.wall, "proxy_cpu_share": m.cpu["proxy"] / m.wall,
            "other_cpu_share": m.otherCPU / m.wall,
        }
        if setup.b is not None:
            t = linkTraffic(setup, before, self.proxy.snapshot())
            out["link"] = t
            out["a_to_b_stanzas_per_message"] = t["a_to_b"]["stanzas"] / messages
            out["a_to_b_messages_per_message"] = t["a_to_b"]["message"] / messages
            out["a_to_b_bytes_per_message"] = t["a_to_b"]["bytes"] / messages
            out["b_to_a_stanzas_per_message"] = t["b_to_a"]["stanzas"] / messages
        return out


def percentiles(samples: list[float]) -> dict:
    s = sorted(samples)

    def pct(p: float) -> float:
        return 1000 * s[min(len(s) - 1, int(p * len(s)))] if s else float("nan")

    return {"samples": len(s), "p50_ms": pct(0.5), "p90_ms": pct(0.9), "p99_ms": pct(0.99),
            "max_ms": 1000 * s[-1] if s else float("nan")}


async def loginAll(server: Any, users: list[int], offset: int, shared: muc.Shared,
                   concurrency: int) -> list[muc.Conn]:
    """
    Log in C{users} on C{server} (bench/s2s.py's client for a named domain),
    hand each to bench/muc.py's occupant protocol as index C{offset + i}
    (the index makes the nickname: A's and B's must differ).
    """
    queue = list(reversed(users))
    conns: dict[int, muc.Conn] = {}

    async def worker() -> None:
        while queue:
            i = queue.pop()
            client = await s2sbench.DomainClient.open(server.port, server.domain)
            await asyncio.wait_for(client.login(c2s.userName(i), "muc", False, None), 60)
            conn = muc.Conn(client, offset + i, shared)
            conn.send(b"<presence/>")
            conns[i] = conn

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return [conns[i] for i in users]


# --------------------------------------------------------------------------
# Plan, run, table
# --------------------------------------------------------------------------


@dataclass
class Plan:
    sizes: tuple[int, ...]  # occupants on B; the first room only warms the links up
    joinConcurrency: int
    window: int
    deliveries: dict  # per throughput run, by N
    latencySize: int
    latencyRate: float
    latencyDuration: float
    watchers: int  # parsing occupants of B in rooms above 100 (the rest count bytes)


FULL = Plan(sizes=(1, 10, 100, 1000), joinConcurrency=50, window=5,
            deliveries={1: 0, 10: 20_000, 100: 60_000, 1000: 150_000},
            latencySize=100, latencyRate=20.0, latencyDuration=10.0, watchers=20)
QUICK = Plan(sizes=(1, 10, 50), joinConcurrency=20, window=5,
             deliveries={1: 0, 10: 3_000, 50: 5_000},
             latencySize=50, latencyRate=20.0, latencyDuration=3.0, watchers=20)


async def runAll(setups: list[Setup], proxy: Proxy, plan: Plan) -> dict:
    bench = Bench(proxy, plan)
    results: dict = {s.key: {} for s in setups}
    onA: dict[str, dict[int, list[muc.Conn]]] = {}
    onB: dict[str, dict[int, list[muc.Conn]]] = {}
    shared = {s.key: muc.Shared() for s in setups}
    remote = {s.key: Linked(shared[s.key]) for s in setups}
    total = sum(plan.sizes)
    for s in setups:
        t = time.perf_counter()
        aUsers = list(range(ON_A * len(plan.sizes)))
        a = await loginAll(s.a, aUsers, 0, shared[s.key], 50)
        if s.b is None:  # B's occupants are local too, after A's
            b = await loginAll(s.a, [len(aUsers) + i for i in range(total)], 0, remote[s.key], 50)
        else:
            b = await loginAll(s.b, list(range(total)), 100_000, remote[s.key], 50)
        onA[s.key], onB[s.key] = {}, {}
        first = 0
        for k, size in enumerate(plan.sizes):
            onA[s.key][size] = a[ON_A * k: ON_A * (k + 1)]
            onB[s.key][size] = b[first: first + size]
            first += size
        print(f"  {s.label}: {len(a) + len(b)} logged in in {time.perf_counter() - t:.1f}s", flush=True)
    for k, size in enumerate(plan.sizes):
        for s in setups:
            print(f"  {s.label}: room of {size} on B + {ON_A} on A ...", flush=True)
            r = await bench.room(s, size, onA[s.key][size], onB[s.key][size], shared[s.key],
                                 remote[s.key], report=k > 0)
            if k > 0:
                results[s.key][size] = r
            show(r)
    for s in setups:
        for c in (*[c for v in onA[s.key].values() for c in v], *[c for v in onB[s.key].values() for c in v]):
            c.close()
    await asyncio.sleep(0.5)
    return results


def show(r: dict) -> None:
    def brief(v: Any) -> Any:
        if isinstance(v, float):
            return round(v, 4)
        if isinstance(v, dict):
            return {k: brief(x) for k, x in v.items() if k not in ("other", "unparsed")}
        return v

    print("    " + json.dumps(brief(r)), flush=True)


def verdicts(results: dict, plan: Plan) -> list[str]:
    sizes = [n for n in plan.sizes[1:]]
    d, single = results["dmuc"], results["single"]
    out = []
    msgs = {n: d[n]["throughput"]["a_to_b_stanzas_per_message"] for n in sizes}
    ok = all(abs(v - 1.0) < 1e-9 for v in msgs.values())
    out.append(f"1 s2s stanza per room message per remote server: {'met' if ok else 'MISSED'} "
               f"({', '.join(f'N={n}: {v:.3f}' for n, v in msgs.items())})")
    last = {n: (d[n]["last_join"]["a_to_b"]["stanzas"], d[n]["last_join"]["b_to_a"]["stanzas"]) for n in sizes}
    perJoin = {n: (d[n]["fill"]["a_to_b"]["stanzas"] + d[n]["fill"]["b_to_a"]["stanzas"]) / d[n]["fill"]["joins"]
               for n in sizes if "fill" in d[n]}
    # O(1): the last join's stanzas on each link do not grow with N, and
    # the mean cost of a join while the room fills stays put.
    flat = all(max(v[w] for v in last.values()) - min(v[w] for v in last.values()) <= 1 for w in (0, 1))
    ok = flat and max(perJoin.values()) <= 1.5 * min(perJoin.values())
    out.append(f"join O(1) stanzas per link: {'met' if ok else 'MISSED'} (last join A->B/B->A "
               + ", ".join(f"N={n}: {a}/{b}" for n, (a, b) in last.items())
               + "; per join while filling, both ways " + ", ".join(f"N={n}: {v:.2f}" for n, v in perJoin.items()) + ")")
    ratios = {n: d[n]["throughput"]["cpu_s_per_1000"] / single[n]["throughput"]["cpu_s_per_1000"] for n in sizes}
    ok = all(r <= 1.5 for r in ratios.values())
    out.append(f"CPU per delivery A+B <= 1.5x single node: {'met' if ok else 'MISSED'} ("
               + ", ".join(f"N={n}: {r:.2f}x" for n, r in ratios.items()) + ")")
    # Against local occupants of a room of the same size at the same rate
    # (the single node's); against A's 3 occupants of the same room too.
    lat, ref = d[plan.latencySize]["latency"], single[plan.latencySize]["latency"]
    gap = lat["on_b"]["p99_ms"] - ref["on_b"]["p99_ms"]
    out.append(f"p99 through the replica within 2 ms of a local occupant's: {'met' if gap <= 2 else 'MISSED'} "
               f"(B's occupants {lat['on_b']['p99_ms']:.2f} ms, the same number local on one node "
               f"{ref['on_b']['p99_ms']:.2f} ms: {gap:+.2f} ms; A's 3 in the same room "
               f"{lat['on_a']['p99_ms']:.2f} ms: {lat['on_b']['p99_ms'] - lat['on_a']['p99_ms']:+.2f} ms)")
    return out


def table(setups: list[Setup], results: dict, plan: Plan) -> str:
    keys = [s.key for s in setups]
    out = ["| Figure | " + " | ".join(s.label for s in setups) + " |", "|---|" + "---:|" * len(setups)]

    def row(label: str, get: Any, fmt: str) -> None:
        cells = []
        for k in keys:
            try:
                cells.append(fmt.format(get(results[k])))
            except (KeyError, TypeError):
                cells.append("")
        out.append(f"| {label} | " + " | ".join(cells) + " |")

    for n in plan.sizes[1:]:
        out.append(f"| **N = {n} on B, {ON_A} on A** |" + " |" * len(keys))
        row("room message: s2s stanzas A->B", lambda r: r[n]["throughput"]["a_to_b_stanzas_per_message"], "{:.2f}")
        row("room message: s2s bytes A->B", lambda r: r[n]["throughput"]["a_to_b_bytes_per_message"], "{:,.0f}")
        for phase, label in (("first_join", "B's first join"), ("last_join", f"B's last join (room of {n + ON_A - 1})")):
            row(f"{label}: s2s stanzas A->B / B->A",
                lambda r, p=phase: f"{r[n][p]['a_to_b']['stanzas']} / {r[n][p]['b_to_a']['stanzas']}", "{}")
            row(f"{label}: s2s bytes A->B / B->A",
                lambda r, p=phase: f"{r[n][p]['a_to_b']['bytes']:,} / {r[n][p]['b_to_a']['bytes']:,}", "{}")
        row(f"all {n} joins of B: s2s stanzas (both ways)",
            lambda r: sum(r[n][p][w]["stanzas"] for p in ("first_join", "fill", "last_join") if p in r[n]
                          for w in ("a_to_b", "b_to_a")), "{:,}")
        row(f"all {n} joins of B: s2s bytes (both ways)",
            lambda r: sum(r[n][p][w]["bytes"] for p in ("first_join", "fill", "last_join") if p in r[n]
                          for w in ("a_to_b", "b_to_a")), "{:,}")
        row("deliveries/s", lambda r: r[n]["throughput"]["deliveries_per_s"], "{:,.0f}")
        row("**CPU s per 1,000 deliveries, A+B**", lambda r: r[n]["throughput"]["cpu_s_per_1000"], "{:.4f}")
        row("CPU s per 1,000 deliveries: A / B",
            lambda r: f"{r[n]['throughput']['cpu_a_s_per_1000']:.4f} / {r[n]['throughput']['cpu_b_s_per_1000']:.4f}",
            "{}")
        row("CPU A+B vs single node", lambda r: r[n]["throughput"]["cpu_s_per_1000"]
            / results["single"][n]["throughput"]["cpu_s_per_1000"], "{:.2f}x")
        row("generator / proxy / others' CPU share",
            lambda r: f"{r[n]['throughput']['gen_cpu_share']:.0%} / {r[n]['throughput']['proxy_cpu_share']:.0%}"
                      f" / {r[n]['throughput']['other_cpu_share']:.0%}", "{}")
    n = plan.latencySize
    tag = f"N = {n}, {plan.latencyRate:.0f} msg/s"
    out.append(f"| **Latency, {tag}, {plan.latencyDuration:.0f} s** |" + " |" * len(keys))
    for who, label in (("on_a", f"the {ON_A} occupants on A"), ("on_b", f"the {n} occupants on B")):
        row(f"{label}: p50 / p99 (ms)",
            lambda r, w=who: f"{r[n]['latency'][w]['p50_ms']:.2f} / {r[n]['latency'][w]['p99_ms']:.2f}", "{}")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small smoke run (N = 10, 50)")
    ap.add_argument("--json", help="also write raw results to this file")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--proxy", help=argparse.SUPPRESS)  # the proxy process: {name: target port}
    args = ap.parse_args()
    if args.proxy:
        asyncio.run(_proxyMain(json.loads(args.proxy)))
        return
    # A SIGTERM stops the run through the finally below (every child by PID).
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    plan = QUICK if args.quick else FULL
    total = sum(plan.sizes)
    limit = c2s.raiseFileLimit(12 * total + 2000)
    print(f"fd limit {limit}; plan {plan}", flush=True)
    started = time.monotonic()
    load0 = os.getloadavg()
    root = tempfile.mkdtemp(prefix="xmuc-bench-dmuc-")
    ca = s2sbench.TestCA(os.path.join(root, "ca"))
    dns, proxy = s2sbench.DNSServer(), Proxy()
    nodes: dict[str, Any] = {}
    results: dict = {}
    notes: dict = {}
    try:
        for cls, domain in ((XmucPeer, "a.test"), (XmucPeer, "b.test"), (XmucPeer, "c.test"),
                            (XmucPeer, "d.test"), (XmucPeer, "s.test"),
                            (ProsodyPeer, "pa.test"), (ProsodyPeer, "pb.test")):
            cert, key = ca.issue(domain)
            os.chmod(key, 0o644)
            nodes[domain] = cls(root, domain, cert, key, ca.path)
        n = nodes
        setups = [Setup("dmuc", "xmuc, replica", n["a.test"], n["b.test"]),
                  Setup("classic", "xmuc, classic", n["c.test"], n["d.test"]),
                  Setup("prosody", "Prosody, classic", n["pa.test"], n["pb.test"]),
                  Setup("single", "xmuc, one node", n["s.test"])]
        pairs = [s for s in setups if s.b is not None]
        proxy.start({f"{s.key}:{to}": node.s2sPort for s in pairs for to, node in (("toA", s.a), ("toB", s.b))})
        print(f"proxy started, pid {proxy.pid}, ports {proxy.ports}", flush=True)
        dns.start({"pa.test": proxy.ports["prosody:toA"], "muc.pa.test": proxy.ports["prosody:toA"],
                   "pb.test": proxy.ports["prosody:toB"]})
        print(f"dns started, pid {dns.proc.pid}, udp port {dns.port}", flush=True)
        for s in setups:
            dmuc = s.key == "dmuc"
            if s.key == "prosody":
                s.a.configurePair(c2s.freePort(), dns.port, True)
                s.b.configurePair(c2s.freePort(), dns.port, False)
            elif s.b is None:
                s.a.configurePair(c2s.freePort(), {}, False)
            else:
                toA, toB = proxy.ports[f"{s.key}:toA"], proxy.ports[f"{s.key}:toB"]
                s.a.configurePair(c2s.freePort(), {s.b.domain: toB}, dmuc)
                s.b.configurePair(c2s.freePort(), {s.a.domain: toA, s.muc: toA}, dmuc)
        for s in setups:
            for node, count in ((s.a, ON_A * len(plan.sizes) + (total if s.b is None else 0)),
                                (s.b, total)):
                if node is not None:
                    t = time.monotonic()
                    node.createUsers(count)
                    print(f"{node.name}: {count} accounts in {time.monotonic() - t:.1f}s", flush=True)
        for node in nodes.values():
            node.start()
            print(f"{node.name} started, pid {node.pid}, c2s {node.port}, s2s {node.s2sPort}", flush=True)
        results = asyncio.run(runAll(setups, proxy, plan))
    finally:
        for node in nodes.values():
            node.stop()
        dns.stop()
        proxy.stop()
        for node in nodes.values():
            lines = node.problems()
            if lines:
                notes[f"{node.name} log"] = lines[-20:]
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    meta = {
        **s2sbench.versions(),
        "plan": plan.__dict__,
        "loadavg_before": load0,
        "loadavg_after": os.getloadavg(),
        "elapsed_s": time.monotonic() - started,
        "notes": notes,
    }
    print()
    print(table(setups, results, plan))
    print()
    for line in verdicts(results, plan):
        print("- " + line)
    print(json.dumps(meta, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=2, default=str)


if __name__ == "__main__":
    main()
