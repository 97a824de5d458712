"""
An unauthenticated dialback flood against one xmuc node, and what another
user's pings see meanwhile.

Usage::

    /tmp/venv/bin/python bench/dialback_flood.py [--tree DIR] [--seconds S]

Starts the node of C{--tree} (a checkout; default this one) on loopback
ports the kernel chooses, logs one user in over c2s, and measures that
user's ping round trips (XEP-0199 to the server, one at a time, 5 ms
apart):

  1. quiet: no other load;
  2. one stream: one s2s connection that sends a stream header and 20,000
     C{<db:verify/>} requests in one write, without authenticating;
     pings while the node is still answering it;
  3. sustained: for C{--seconds}, four connections that each send the
     same and reconnect as soon as the node closes them.

For each phase: ping count, p50 and p99 in ms, how many db:verify answers
the flooders received (each is a key the node computed), and how many
stream errors ended their streams. The flooders run in a child process of
their own, so that their work does not delay the pinger's. The node and
the child are stopped by their PIDs. There are no assertions: this is a
measurement, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Any

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
if BENCH not in sys.path:
    sys.path.insert(0, BENCH)

from c2s import (  # noqa: E402  (bench/c2s.py)
    DOMAIN,
    HOST,
    Client,
    XmucServer,
    clientTLSContext,
    freePort,
    makeCertificate,
)

REQUESTS = 20000
S2S_HEADER = (
    "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
    "xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' "
    f"from='flood.example' to='{DOMAIN}' version='1.0'>"
).encode()
FLOOD = b"".join(
    f"<db:verify from='flood.example' to='{DOMAIN}' id='s{n}'>{n:064x}</db:verify>".encode()
    for n in range(REQUESTS)
)


class FloodServer(XmucServer):
    """
    The bench node with an s2s listener (every other [s2s] option at its
    default).
    """

    s2sPort = 0

    def configText(self, port: int, domain: str = DOMAIN) -> str:
        self.s2sPort = freePort()
        return super().configText(port, domain) + f"\n[s2s]\nlisten = {HOST}:{self.s2sPort}\n"


class Tally:
    def __init__(self) -> None:
        self.answers = 0
        self.streamErrors = 0
        self.streams = 0


async def flood(port: int, tally: Tally) -> None:
    """
    One unauthenticated stream: header and 20,000 db:verify in one write;
    read until every request is answered or the node closes the stream.
    """
    reader, writer = await asyncio.open_connection(HOST, port, limit=1 << 20)
    tally.streams += 1
    writer.write(S2S_HEADER + FLOOD)
    answers = errors = 0
    tail = b""
    try:
        while answers < REQUESTS:
            data = await reader.read(1 << 16)
            if not data:
                break
            # The tail of the last read joins this one: an answer split
            # across two reads is counted once, in the read it ends in.
            chunk = tail + data
            answers += chunk.count(b"<verify ")
            errors += chunk.count(b"<stream:error")
            tail = chunk[-12:]
            answers -= tail.count(b"<verify ")
            errors -= tail.count(b"<stream:error")
    except ConnectionError:
        pass
    answers += tail.count(b"<verify ")
    errors += tail.count(b"<stream:error")
    tally.answers += answers
    tally.streamErrors += errors
    writer.close()


async def pinger(client: Client, stop: asyncio.Event, rtts: list[float]) -> None:
    number = 0
    while not stop.is_set():
        number += 1
        started = time.perf_counter()
        client.send(
            f"<iq type='get' id='p{number}' to='{DOMAIN}'><ping xmlns='urn:xmpp:ping'/></iq>".encode()
        )
        while True:
            element = await client.next()
            if element.name == "iq" and element.attrs.get("id") == f"p{number}":
                break
        rtts.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.005)


async def flooders(port: int, streams: int, seconds: float) -> Tally:
    """
    C{streams} flooders; with C{seconds}, each reconnects until then.
    """
    tally = Tally()
    deadline = time.monotonic() + seconds

    async def worker() -> None:
        await flood(port, tally)
        while time.monotonic() < deadline:
            await flood(port, tally)

    await asyncio.gather(*(worker() for _ in range(streams)))
    return tally


class Child:
    """
    L{flooders} in a child process: started (and ready, its flood built)
    before the measured phase, let go when the phase starts.
    """

    def __init__(self, port: int, streams: int, seconds: float) -> None:
        self.args = (str(port), str(streams), str(seconds))
        self.seconds = seconds
        self.process: Any = None

    async def prepare(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, os.path.abspath(__file__), "--flooder", *self.args,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )
        await self.process.stdout.readline()

    async def __call__(self, tally: Tally) -> None:
        process = self.process
        try:
            process.stdin.write(b"go\n")
            out, _ = await asyncio.wait_for(process.communicate(), self.seconds + 120)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        seen = json.loads(out)
        tally.streams, tally.answers, tally.streamErrors = seen["streams"], seen["answers"], seen["errors"]


async def phase(client: Client, attack: Any) -> tuple[list[float], Tally, float]:
    rtts: list[float] = []
    stop = asyncio.Event()
    tally = Tally()
    prepare = getattr(attack, "prepare", None)
    if prepare is not None:
        await prepare()
    task = asyncio.ensure_future(pinger(client, stop, rtts))
    started = time.perf_counter()
    await attack(tally)
    elapsed = time.perf_counter() - started
    stop.set()
    await task
    return rtts, tally, elapsed


def report(name: str, rtts: list[float], tally: Tally, elapsed: float) -> None:
    if len(rtts) >= 2:
        cuts = statistics.quantiles(rtts, n=100)
        p50, p99 = statistics.median(rtts), cuts[98]
    else:
        p50 = p99 = rtts[0] if rtts else float("nan")
    print(
        f"{name:10s} {elapsed:6.2f} s  pings {len(rtts):5d}  p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"
        f"  flood streams {tally.streams:4d}  db:verify answered {tally.answers:7d}"
        f"  stream errors {tally.streamErrors:4d}"
    )


async def run(server: FloodServer, seconds: float) -> None:
    client = await Client.connect(server.port)
    await client.login("u00000", "ping", False, clientTLSContext())
    port = server.s2sPort

    async def quiet(tally: Tally) -> None:
        await asyncio.sleep(2)

    phases = (("quiet", quiet), ("one stream", Child(port, 1, 0)), ("sustained", Child(port, 4, seconds)))
    for name, attack in phases:
        report(name, *(await phase(client, attack)))
    await client.close()


def flooderMain(port: int, streams: int, seconds: float) -> None:
    print("ready", flush=True)
    sys.stdin.readline()
    tally = asyncio.run(flooders(port, streams, seconds))
    print(json.dumps({"streams": tally.streams, "answers": tally.answers, "errors": tally.streamErrors}))


def main() -> None:
    if sys.argv[1:2] == ["--flooder"]:
        flooderMain(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--tree", default=REPO, help="the checkout whose node to run")
    parser.add_argument("--seconds", type=float, default=5.0, help="sustained phase length")
    args = parser.parse_args()
    os.environ["PYTHONPATH"] = os.path.abspath(args.tree)
    with tempfile.TemporaryDirectory(prefix="xmuc-flood-") as root:
        cert, key = makeCertificate(root)
        server = FloodServer(root, cert, key)
        server.configure(freePort())
        server.createUsers(1)
        server.start()
        try:
            print(f"tree {os.path.abspath(args.tree)}, node pid {server.pid}")
            asyncio.run(run(server, args.seconds))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
