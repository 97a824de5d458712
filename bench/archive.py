"""
Room archive benchmark: the sustained rate of archived room messages.

Usage::

    PYTHONPATH=<checkout> /tmp/venv/bin/python bench/archive.py [--senders K]
        [--window W] [--seconds T] [--synchronous normal|full] [--json FILE]

Starts one xmuc node (twistd, SQLite store, the code on PYTHONPATH) on
loopback; K clients each create a persistent, logging room of their own
(archive on, archive_size 0: nothing trimmed, flood limits lifted) and, for
T seconds, each keeps W messages in flight in its room: it sends the next
message when the room reflects one of its own back (closed loop). Then the
senders stop, wait for their last echoes, and the benchmark polls the
SQLite file (a reader of its own; WAL readers do not block the node) until
the archive holds every message sent. It reports:

  - echoed messages per second during the burst (what the senders saw);
  - archived messages per second, sustained: all messages over the time
    from the first send to the moment the last one is in the archive (so
    the archive writes after the burst count);
  - the tail: how long the node kept writing after the senders stopped;
  - the backlog: the most messages echoed but not yet archived seen by the
    poller (every 50 ms), and the node's own longest store queue when it
    logs it at stop (xmuc with the batching writer does);
  - the node's CPU seconds during the burst and during the tail.

The machine's 2 cores are shared with the load generator (and maybe other
work): the CPU the rest of the machine used meanwhile is reported too.
Nothing here is a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import sqlite3
import sys
import tempfile
import textwrap
import time
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import c2s  # noqa: E402  (bench/c2s.py: client, servers, measurements)

MUC = "muc." + c2s.DOMAIN
END_MESSAGE = b"</message>"
ROOM_FORM = (
    "<iq type='set' id='cfg' to='{room}'>"
    "<query xmlns='http://jabber.org/protocol/muc#owner'>"
    "<x xmlns='jabber:x:data' type='submit'>"
    "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>"
    "<field var='muc#roomconfig_persistentroom'><value>1</value></field>"
    "<field var='muc#roomconfig_enablelogging'><value>1</value></field>"
    "</x></query></iq>"
)
_QUEUE = re.compile(r"longest queue (\d+)")


class XmucServer(c2s.XmucServer):
    #: Extra [storage] lines (e.g. synchronous = full; not for old code).
    storage = ""

    def configure(self, port: int) -> None:
        super().configure(port)
        with open(self.config, "a") as f:
            f.write(self.storage)
            f.write(textwrap.dedent("""
                [s2s]
                listen =

                [muc]
                enabled = true
                creation = local
                limits = false
                flood_rate = 0
                archive_size = 0
                """))

    def terminate(self) -> None:
        """
        Stop with SIGTERM (a clean stop, which logs the store's figures).
        """
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(60)
            self.proc = None


def machineCPU() -> float:
    """
    CPU seconds the whole machine spent (all cores), from /proc/stat.
    """
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    busy = sum(int(v) for i, v in enumerate(fields) if i not in (3, 4))
    return busy / os.sysconf("SC_CLK_TCK")


class Sender:
    """
    One occupant alone in its room, with W messages in flight.
    """

    def __init__(self, client: c2s.Client, index: int) -> None:
        self.client = client
        self.room = f"archive{index}@{MUC}"
        self.sent = 0
        self.echoed = 0
        self.sending = True
        self._tail = b""

    async def createRoom(self) -> None:
        client = self.client
        client.send(f"<presence to='{self.room}/n'>"
                    "<x xmlns='http://jabber.org/protocol/muc'/></presence>".encode())
        while True:
            e = await client.next()
            if e.name == "presence" and e.attrs.get("from") == f"{self.room}/n":
                break
        client.send(ROOM_FORM.format(room=self.room).encode())
        while True:
            e = await client.next()
            if e.name == "iq" and e.attrs.get("id") == "cfg":
                if e.attrs.get("type") != "result":
                    raise c2s.XMPPError(f"room configuration of {self.room} refused")
                return

    def _send(self) -> None:
        self.client.send(f"<message to='{self.room}' type='groupchat'>"
                         f"<body>message {self.sent}</body></message>".encode())
        self.sent += 1

    async def run(self, window: int) -> None:
        """
        Keep C{window} messages in flight while C{sending}; then wait for
        the last echoes.
        """
        for _ in range(window):
            self._send()
        reader = self.client.reader
        while self.echoed < self.sent:
            data = await reader.read(65536)
            if not data:
                raise c2s.XMPPError("connection closed")
            data = self._tail + data
            echoes = data.count(END_MESSAGE)
            self._tail = data[-(len(END_MESSAGE) - 1):]
            self.echoed += echoes
            if self.sending:
                for _ in range(echoes):
                    self._send()


def archived(database: str) -> int:
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as db:
        return db.execute("SELECT COUNT(*) FROM muc_archive").fetchone()[0]


async def measure(server: XmucServer, senders: list[Sender], window: int,
                  seconds: float, database: str) -> dict[str, Any]:
    before = archived(database)
    cpu0, machine0 = c2s.processCPU(server.pid), machineCPU()
    t0 = time.perf_counter()
    tasks = [asyncio.ensure_future(s.run(window)) for s in senders]
    backlog = 0
    while time.perf_counter() - t0 < seconds:
        await asyncio.sleep(0.05)
        echoed = sum(s.echoed for s in senders)
        backlog = max(backlog, echoed - (archived(database) - before))
    for s in senders:
        s.sending = False
    t1 = time.perf_counter()
    cpu1, machine1 = c2s.processCPU(server.pid), machineCPU()
    await asyncio.wait_for(asyncio.gather(*tasks), 120)
    t2 = time.perf_counter()
    total = sum(s.sent for s in senders)
    echoed = sum(s.echoed for s in senders)
    while True:
        count = archived(database) - before
        backlog = max(backlog, echoed - count)
        if count >= total or time.perf_counter() - t1 > 300:
            break
        await asyncio.sleep(0.02)
    t3 = time.perf_counter()
    cpu3, machine3 = c2s.processCPU(server.pid), machineCPU()
    burstCPU, tailCPU = cpu1 - cpu0, cpu3 - cpu1
    return {
        "senders": len(senders), "window": window, "seconds": round(t1 - t0, 2),
        "sent": total, "archived": count,
        "echoedPerSecond": round(echoed / (t2 - t0)),
        "archivedPerSecond": round(count / (t3 - t0)),
        "echoesDoneAfterStop": round(t2 - t1, 2),
        "tailSeconds": round(t3 - t1, 2),
        "maxBacklogSeen": backlog,
        "nodeCPUBurst": round(burstCPU, 2), "nodeCPUTail": round(tailCPU, 2),
        "otherCPUBurst": round(machine1 - machine0 - burstCPU, 2),
        "otherCPUTail": round(machine3 - machine1 - tailCPU, 2),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    root = tempfile.mkdtemp(prefix="xmuc-archive-bench-")
    server = XmucServer(root, *c2s.makeCertificate(root))
    if args.synchronous:
        server.storage = f"synchronous = {args.synchronous}\n"
    server.configure(c2s.freePort())
    server.createUsers(args.senders)
    server.start()
    database = os.path.join(server.dir, "data", "xmuc.sqlite")
    clients: list[c2s.Client] = []
    try:
        context = c2s.clientTLSContext()
        senders = []
        for i in range(args.senders):
            client = await c2s.Client.connect(server.port)
            clients.append(client)
            await asyncio.wait_for(client.login(c2s.userName(i), "bench", False, context), 60)
            sender = Sender(client, i)
            await asyncio.wait_for(sender.createRoom(), 60)
            senders.append(sender)
        result = await measure(server, senders, args.window, args.seconds, database)
    finally:
        for client in clients:
            await client.close()
        server.terminate()
    log = open(os.path.join(server.dir, "xmuc.log"), encoding="utf-8").read()
    queue = _QUEUE.findall(log)
    result["nodeLongestQueue"] = int(queue[-1]) if queue else None
    shutil.rmtree(root, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--senders", type=int, default=20)
    parser.add_argument("--window", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--synchronous", choices=("normal", "full"),
                        help="[storage] synchronous (xmuc with the batching writer only)")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    for key, value in result.items():
        print(f"{key:>22}: {value}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
