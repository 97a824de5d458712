"""
Fairness under floods: a well-behaved client's ping round trip while
others flood the node.

Usage::

    /tmp/venv/bin/python bench/fairness.py [--only chat,room,login,dialback]
        [--servers xmuc,prosody] [--pings 2000] [--rate 100] [--json FILE]

Starts an xmuc node (its default limits: c2s byte rate, MUC flood control;
plaintext c2s allowed; s2s with dialback; SQLite) and, side by side in the
same run, a Prosody 0.12 configured as bench/c2s.py and bench/muc.py do
(no mod_limits, MUC component with mod_muc_mam). A well-behaved client
(this process) sends C{--pings} XEP-0199 pings to the server at a steady
C{--rate} per second (open loop: the next ping does not wait for the
answer) and records each round trip, first with the server idle, then
under each flood, run by a child process of its own (so that its work
does not delay the measuring client's event loop):

  - chat: 10 clients each send 1:1 chat messages (64-byte body) to one of
    10 others as fast as the server reads them;
  - room: 10 occupants of one room with its archive on
    (muc#roomconfig_enablelogging / Prosody's enablearchiving) each send
    groupchat messages as fast as the server reads them;
  - login: 20 connections at a time log in to one account with a wrong
    password, alternately SCRAM-SHA-1 and PLAIN, again and again;
  - dialback (xmuc only): 4 unauthenticated s2s streams each send
    C{<db:verify/>} elements with random ids and keys as fast as the
    server reads them.

Each flood starts, ramps up for C{--ramp} seconds, runs while the pings
are measured, and is stopped by its PID; it is also bounded in time
(C{--flood-limit}) and count by itself. The target: the flooded p50 and
p99 at most 2x the idle ones. Figures depend on the machine being
otherwise quiet: the 2 cores are shared by the server, the flood and this
client. Everything runs on 127.0.0.1; every process is stopped by PID.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any

import live  # noqa: E402  (bench/live.py; puts the repository on sys.path)
from live import DOMAIN, HOST, MUC, LiveNode, ping, userName

import c2s  # noqa: E402
import muc  # noqa: E402

FLOODS = ("chat", "room", "login", "dialback")
PROSODY_FLOODS = ("chat", "room", "login")
ROOM = "flood@" + MUC
TARGET = 2.0
PINGER = userName(0)
VICTIM = userName(1)
BODY = "x" * 64


# --------------------------------------------------------------------------
# Floods (each in a child process: --child KIND)
# --------------------------------------------------------------------------


class Flood:
    """
    One flood's counters, and the stop condition every loop checks.
    """

    def __init__(self, duration: float, limit: int) -> None:
        self.deadline = time.monotonic() + duration
        self.limit = limit
        self.sent = 0
        self.received = 0
        self.failures: dict[str, int] = {}
        self.detail: dict[str, int] = {}
        self.stopped = asyncio.Event()

    def going(self) -> bool:
        return (not self.stopped.is_set() and self.sent < self.limit
                and time.monotonic() < self.deadline)

    def failed(self, error: BaseException) -> None:
        key = f"{type(error).__name__}: {error}"[:100]
        self.failures[key] = self.failures.get(key, 0) + 1


async def drain(reader: asyncio.StreamReader, flood: Flood, marker: bytes) -> None:
    """
    Read and count what the server sends (occurrences of C{marker}).
    """
    tail = b""
    try:
        while True:
            data = await reader.read(1 << 16)
            if not data:
                return
            chunk = tail + data
            flood.received += chunk.count(marker)
            tail = chunk[-len(marker) + 1:]
    except (ConnectionError, OSError):
        return


async def blast(writer: asyncio.StreamWriter, flood: Flood, make: Any) -> None:
    """
    Write stanzas as fast as the server reads them (TCP back-pressure,
    i.e. the server's own read limits, sets the pace).
    """
    n = 0
    try:
        while flood.going():
            for _ in range(16):
                writer.write(make(n))
                n += 1
                flood.sent += 1
            await writer.drain()
    except (ConnectionError, OSError) as e:
        flood.failed(e)


async def chatFlood(port: int, flood: Flood, pairs: int = 10) -> None:
    senders = [await live.loginClient(port, userName(100 + i), "flood") for i in range(pairs)]
    receivers = [await live.loginClient(port, userName(200 + i), "flood") for i in range(pairs)]
    for client in senders + receivers:
        client.send(b"<presence/>")
    drains = [asyncio.ensure_future(drain(c.reader, flood, b"</message>")) for c in receivers]
    drains += [asyncio.ensure_future(drain(c.reader, flood, b"\x00")) for c in senders]
    ready()
    await asyncio.gather(*(
        blast(s.writer, flood, lambda n, to=f"{userName(200 + i)}@{DOMAIN}/flood":
              f"<message type='chat' to='{to}' id='f{n}'><body>{BODY}</body></message>".encode())
        for i, s in enumerate(senders)
    ))
    for task in drains:
        task.cancel()


async def joinRoom(client: c2s.Client, nick: str) -> None:
    client.send(f"<presence to='{ROOM}/{nick}'><x xmlns='http://jabber.org/protocol/muc'/></presence>".encode())
    while True:
        e = await asyncio.wait_for(client.next(), 30)
        if e.name == "presence" and e.attrs.get("from") == f"{ROOM}/{nick}":
            if e.attrs.get("type") == "error":
                raise c2s.XMPPError("join refused")
            return


async def configureRoom(owner: c2s.Client, archive: bool) -> None:
    """
    Submit the room configuration with the archive on or off (each
    server's field; each ignores the other's).
    """
    value = int(archive)
    form = (
        "<x xmlns='jabber:x:data' type='submit'>"
        "<field var='FORM_TYPE'><value>http://jabber.org/protocol/muc#roomconfig</value></field>"
        f"<field var='muc#roomconfig_enablelogging'><value>{value}</value></field>"
        f"<field var='muc#roomconfig_enablearchiving'><value>{value}</value></field>"
        "</x>"
    )
    owner.send(f"<iq type='set' id='cfg' to='{ROOM}'><query xmlns='http://jabber.org/protocol/muc#owner'>{form}</query></iq>".encode())
    while True:
        e = await asyncio.wait_for(owner.next(), 30)
        if e.name == "iq" and e.attrs.get("id") == "cfg":
            if e.attrs.get("type") != "result":
                # A server that refuses a field it does not know: the
                # instant room (its default configuration) instead.
                owner.send(f"<iq type='set' id='cfg2' to='{ROOM}'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/></query></iq>".encode())
            return


async def roomFlood(port: int, flood: Flood, archive: bool, occupants: int = 10) -> None:
    clients = [await live.loginClient(port, userName(300 + i), "flood") for i in range(occupants)]
    await joinRoom(clients[0], "n0")
    await configureRoom(clients[0], archive)
    for i, client in enumerate(clients[1:], 1):
        await joinRoom(client, f"n{i}")
    drains = [asyncio.ensure_future(drain(c.reader, flood, b"</message>")) for c in clients]
    ready()
    await asyncio.gather(*(
        blast(c.writer, flood, lambda n: f"<message type='groupchat' to='{ROOM}' id='g{n}'><body>{BODY}</body></message>".encode())
        for c in clients
    ))
    for task in drains:
        task.cancel()


def _scramFirst() -> tuple[str, str]:
    nonce = base64.b64encode(os.urandom(18)).decode()
    return nonce, f"n={VICTIM},r={nonce}"


#: Where the failed-login flood comes from.
ATTACKER = "127.0.0.2"


async def wrongLogin(port: int, mechanism: str, flood: Flood) -> None:
    """
    One connection: wrong-password attempts until the server closes it.
    """
    # The attacker is another machine: the node's per-address throttle
    # refuses it, not the well-behaved client on 127.0.0.1.
    client = await c2s.Client.connect(port, source=ATTACKER)
    try:
        features = await client.features()
        if mechanism == "PLAIN" and features.child("starttls") is not None:
            # PLAIN only under TLS (a server refuses it in the clear with
            # encryption-required, which costs it nothing).
            client.send(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
            e = await asyncio.wait_for(client.next(), 30)
            if e.name != "proceed":
                raise c2s.XMPPError(f"starttls: {e.name}")
            await client.writer.start_tls(c2s.clientTLSContext(), server_hostname=DOMAIN)
            await client.features()
        for _ in range(10):
            flood.sent += 1
            if mechanism == "PLAIN":
                # A new guess each time (nothing a server could cache).
                guess = base64.b64encode(os.urandom(9)).decode()
                blob = base64.b64encode(f"\x00{VICTIM}\x00{guess}".encode()).decode()
                client.send(f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{blob}</auth>".encode())
            else:
                client.send(b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>"
                            + base64.b64encode(("n,," + _scramFirst()[1]).encode()) + b"</auth>")
                e = await asyncio.wait_for(client.next(), 30)
                if e.name != "challenge":
                    return
                first = dict(kv.split("=", 1) for kv in base64.b64decode(e.text).decode().split(","))
                # A made-up proof: the server checks it against the stored key.
                final = f"c=biws,r={first['r']},p={base64.b64encode(os.urandom(20)).decode()}"
                client.send(b"<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
                            + base64.b64encode(final.encode()) + b"</response>")
            e = await asyncio.wait_for(client.next(), 30)
            if e.name != "failure":
                return
            flood.received += 1
            condition = e.children[0].name if e.children else "?"
            key = f"{mechanism} {condition}"
            flood.detail[key] = flood.detail.get(key, 0) + 1
    except c2s.XMPPError:
        # The server ends the stream after a few failures.
        return
    finally:
        await client.close()


async def loginFlood(port: int, flood: Flood, concurrency: int = 20) -> None:
    ready()

    async def worker(i: int) -> None:
        mechanism = "PLAIN" if i % 2 else "SCRAM-SHA-1"
        while flood.going():
            try:
                await wrongLogin(port, mechanism, flood)
            except Exception as e:
                flood.failed(e)

    await asyncio.gather(*(worker(i) for i in range(concurrency)))


async def dialbackFlood(s2sPort: int, flood: Flood, streams: int = 4) -> None:
    rng = random.Random(8)
    conns = []
    for i in range(streams):
        reader, writer = await asyncio.open_connection(HOST, s2sPort)
        writer.write(
            "<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
            "xmlns:stream='http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback' "
            f"from='flood{i}.invalid' to='{DOMAIN}' version='1.0'>".encode())
        conns.append((reader, writer, i))
    drains = [asyncio.ensure_future(drain(r, flood, b"<verify")) for r, _, _ in conns]
    ready()
    await asyncio.gather(*(
        blast(w, flood, lambda n, i=i: (
            f"<db:verify from='flood{i}.invalid' to='{DOMAIN}' id='s{n}'>"
            f"{rng.getrandbits(256):064x}</db:verify>").encode())
        for _, w, i in conns
    ))
    for task in drains:
        task.cancel()


def ready() -> None:
    print("READY", flush=True)


def child(args: argparse.Namespace) -> None:
    """
    Run one flood until SIGTERM, its duration or its count.
    """
    async def main() -> dict:
        flood = Flood(args.flood_limit, args.flood_count)
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, flood.stopped.set)
        t0 = time.perf_counter()
        work = {
            "chat": lambda: chatFlood(args.port, flood),
            "room": lambda: roomFlood(args.port, flood, not args.no_archive),
            "login": lambda: loginFlood(args.port, flood),
            "dialback": lambda: dialbackFlood(args.s2s_port, flood),
        }[args.child]()
        task = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(flood.stopped.wait())
        await asyncio.wait([task, stop], return_when=asyncio.FIRST_COMPLETED)
        flood.stopped.set()
        wall = time.perf_counter() - t0
        try:
            # Writers blocked on a server that paused reading give up.
            await asyncio.wait_for(task, 3)
        except asyncio.TimeoutError:
            pass
        except Exception as e:
            flood.failed(e)
        return {"kind": args.child, "sent": flood.sent, "received": flood.received,
                "wall_s": wall, "received_per_s": flood.received / wall,
                "sent_per_s": flood.sent / wall, "failures": flood.failures,
                "detail": flood.detail}

    print(json.dumps(asyncio.run(main())), flush=True)


# --------------------------------------------------------------------------
# Servers and the measurement
# --------------------------------------------------------------------------


class ProsodyServer(muc.ProsodyServer):
    """
    bench/muc.py's Prosody with the room archive module.
    """

    def configure(self, port: int) -> None:
        super().configure(port)
        with open(self.config, "a") as f:
            f.write('    modules_enabled = { "muc_mam" }\n    muc_log_by_default = true\n')


def startFlood(kind: str, server: Any, args: argparse.Namespace) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--child", kind, "--port", str(server.port),
         "--s2s-port", str(getattr(server, "s2sPort", 0)), "--flood-limit", str(args.flood_limit),
         "--flood-count", str(args.flood_count)] + (["--no-archive"] if args.no_archive else []),
        stdout=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 120
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.strip() == "READY":
            return proc
    c2s.stopProcess(proc)
    raise RuntimeError(f"the {kind} flood did not start")


def stopFlood(proc: subprocess.Popen) -> dict:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        c2s.stopProcess(proc)
        out = ""
    for line in reversed((out or "").splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return {"error": f"flood exited {proc.returncode} without figures"}


async def measure(server: Any, kind: str, args: argparse.Namespace) -> dict:
    proc = None
    flood: dict = {}
    if kind != "idle":
        proc = await asyncio.get_running_loop().run_in_executor(None, startFlood, kind, server, args)
        await asyncio.sleep(args.ramp)
    cpu0, t0, busy0 = c2s.processCPU(server.pid), time.perf_counter(), muc.machineBusy()
    try:
        result = await ping(server.port, PINGER, args.pings, 1.0 / args.rate)
    finally:
        cpu = c2s.processCPU(server.pid) - cpu0
        wall = time.perf_counter() - t0
        busy = muc.machineBusy() - busy0
        if proc is not None:
            flood = await asyncio.get_running_loop().run_in_executor(None, stopFlood, proc)
    # The machine's two cores are shared (with the flood, this client and
    # whatever else runs): its busy share says how quiet it was.
    return {**result.figures(), "server_cpu_share": cpu / wall,
            "machine_busy_share": busy / wall / (os.cpu_count() or 1), "flood": flood}


async def runServer(server: Any, kinds: list[str], args: argparse.Namespace) -> dict:
    results: dict = {}
    for kind in ["idle"] + kinds:
        print(f"  {server.name}: {kind} ...", flush=True)
        results[kind] = await measure(server, kind, args)
        r = results[kind]
        print(f"    p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, lost {r['lost']}, "
              f"server CPU {r['server_cpu_share']:.0%}, machine {r['machine_busy_share']:.0%} busy, "
              f"flood {json.dumps(r['flood'])[:300]}",
              flush=True)
        await asyncio.sleep(1.0)
    return results


def table(results: dict) -> str:
    out = ["", "| server | flood | p50 ms | p99 ms | p50 / idle | p99 / idle | lost | server CPU | flood load /s | within 2x |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---|"]
    for name, phases in results.items():
        idle = phases["idle"]
        for kind, r in phases.items():
            a = r["p50_ms"] / idle["p50_ms"] if idle["p50_ms"] else float("nan")
            b = r["p99_ms"] / idle["p99_ms"] if idle["p99_ms"] else float("nan")
            # The load the server took: deliveries (chat, room), answered
            # db:verify (dialback), SASL failures (login).
            rate = r["flood"].get("received_per_s")
            ok = "" if kind == "idle" else ("yes" if a <= TARGET and b <= TARGET and not r["lost"] else "no")
            out.append(
                f"| {name} | {kind} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {a:.2f} | {b:.2f} | "
                f"{r['lost']} | {r['server_cpu_share']:.0%} | {'' if rate is None else f'{rate:,.0f}'} | {ok} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default=",".join(FLOODS), help="floods to run, comma-separated")
    ap.add_argument("--servers", default="xmuc,prosody", help="xmuc and/or prosody")
    ap.add_argument("--pings", type=int, default=2000, help="pings per phase")
    ap.add_argument("--rate", type=float, default=100.0, help="pings per second")
    ap.add_argument("--ramp", type=float, default=3.0, help="seconds of flood before pinging")
    ap.add_argument("--flood-limit", type=float, default=120.0, help="a flood's seconds, at most")
    ap.add_argument("--flood-count", type=int, default=10_000_000, help="a flood's stanzas, at most")
    ap.add_argument("--no-archive", action="store_true", help="the room flood's room without archive")
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--child", choices=FLOODS, help=argparse.SUPPRESS)
    ap.add_argument("--port", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--s2s-port", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    kinds = [k for k in args.only.split(",") if k]
    unknown = set(kinds) - set(FLOODS)
    if unknown:
        ap.error(f"unknown floods: {sorted(unknown)}")
    root = tempfile.mkdtemp(prefix="xmuc-fairness-")
    servers: list[Any] = []
    results: dict = {}
    started = time.monotonic()
    try:
        cert, key = c2s.makeCertificate(root)
        for name in args.servers.split(","):
            server = LiveNode(root, cert, key) if name == "xmuc" else ProsodyServer(root, cert, key)
            server.configure(c2s.freePort())
            server.createUsers(400)
            servers.append(server)
        for server in servers:
            server.start()
            print(f"{server.name} started, pid {server.pid}, port {server.port}", flush=True)
            own = [k for k in kinds if server.name == "xmuc" or k in PROSODY_FLOODS]
            try:
                results[server.name] = asyncio.run(runServer(server, own, args))
            finally:
                server.stop()
        for server in servers:
            if isinstance(server, LiveNode):
                results.setdefault("log", {})[server.name] = server.logScan()
    finally:
        for server in servers:
            server.stop()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    logs = results.pop("log", {})
    meta = {"nproc": os.cpu_count(), "args": {k: v for k, v in vars(args).items() if k not in ("child", "port", "s2s_port")},
            "elapsed_s": time.monotonic() - started, "logs": logs}
    print(table(results))
    print(json.dumps(meta))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
