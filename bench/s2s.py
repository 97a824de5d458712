"""
Server-to-server benchmark: xmuc and Prosody over TLS s2s links, side by side.

Usage::

    PYTHONPATH=. /tmp/venv/bin/python bench/s2s.py [--quick] [--json FILE]

Starts, on loopback, two xmuc nodes (C{a.test}, C{b.test}), three Prosody
servers (C{p.test}, C{p1.test}, C{p2.test}) and a small DNS server, and
measures three links in one run:

  1. xmuc -> xmuc: senders on a.test, receivers on b.test;
  2. xmuc -> Prosody: senders on a.test, receivers on p.test;
  3. Prosody -> Prosody: senders on p1.test, receivers on p2.test.

For each link: 1:1 message throughput across the link (closed loop with a
window per sender/receiver pair, like bench/c2s.py; with bench/c2s.py's
window of 10 and with 50, since over a link the round trip rather than the
servers bounds the smaller one), the CPU seconds per
1,000 messages of the sending and of the receiving server separately (from
/proc/PID/stat), and the end-to-end latency (client send -> client receive;
the send time is in the message id) at a fixed offered rate well under
saturation. The load generator's own CPU, and the CPU used by everything
else on the machine, are reported next to every figure.

Same settings on both servers: plaintext c2s on loopback, s2s with TLS
required, certificates from one CA every server trusts and certificate
authentication only (SASL EXTERNAL; xmuc dialback off, Prosody
s2s_secure_auth and no mod_dialback), no rate limits, warn-level logging.
xmuc finds its peers in its static [s2s_hosts] table; Prosody through SRV
and A records from the DNS server this script runs (libunbound forwarded to
it). Every process started here is stopped by its PID. Nothing here is a
test: there are no assertions on timings.

The client, the process measurements and the server shapes come from
bench/c2s.py (imported, not copied).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import glob
import json
import os
import platform
import shutil
import ssl
import subprocess
import sys
import tempfile
import textwrap
import time
import xml.parsers.expat
from dataclasses import dataclass, field
from typing import Any, Optional

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
for _path in (REPO, BENCH):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import c2s  # noqa: E402  (bench/c2s.py)
from c2s import (  # noqa: E402
    HOST,
    PASSWORD,
    PYTHON,
    VENV_BIN,
    XMPPError,
    freePort,
    medianOf,
    processCPU,
    selfCPU,
    stopProcess,
    userName,
    waitForPort,
)
from tests.support.pki import TestCA  # noqa: E402

# Server processes import xmuc (and the warn-level log observer) from this
# tree, not from whatever the virtualenv has installed.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [REPO, BENCH] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
)

XMUC_A, XMUC_B = "a.test", "b.test"
PROSODY_P, PROSODY_1, PROSODY_2 = "p.test", "p1.test", "p2.test"
USERS = 200
BODY = "x" * 64


def streamHeader(domain: str) -> bytes:
    return (
        "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
        "xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>" % domain
    ).encode()


class DomainClient(c2s.Client):
    """
    bench/c2s.py's client, for a server whose domain is not C{localhost}
    (c2s mode here is plaintext, so the domain is only in the stream header).
    """

    domain = "localhost"

    @classmethod
    async def open(cls, port: int, domain: str) -> "DomainClient":
        client = await cls.connect(port)
        client.domain = domain
        return client

    async def features(self) -> c2s.Elem:
        self.parser.reset()
        self.send(streamHeader(self.domain))
        e = await self.next()
        if e.name != "features":
            raise XMPPError(f"expected features, got {e.name}")
        return e


# --------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------


_DNS_SERVER = """
import json, sys
from twisted.internet import reactor
from tests.support.dnsserver import StaticResolver, listenDNS

resolver = StaticResolver()
for domain, port in json.loads(sys.argv[1]).items():
    resolver.addServer(domain, domain, port, "127.0.0.1")
listening = listenDNS(reactor, resolver)
print(listening.getHost().port, flush=True)
reactor.run()
"""


class DNSServer:
    """
    tests/support/dnsserver.py's static resolver in a process of its own:
    C{_xmpp-server._tcp.DOMAIN} SRV and C{DOMAIN} A records on loopback UDP.
    """

    name = "dns"

    def __init__(self) -> None:
        self.proc: Optional[subprocess.Popen] = None
        self.port = 0

    def start(self, servers: dict[str, int]) -> None:
        self.proc = subprocess.Popen(
            [PYTHON, "-c", _DNS_SERVER, json.dumps(servers)],
            cwd=REPO,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()
        if not line.strip().isdigit():
            raise RuntimeError("DNS server did not start")
        self.port = int(line)

    def stop(self) -> None:
        stopProcess(self.proc)
        self.proc = None


class XmucNode(c2s.XmucServer):
    """
    bench/c2s.py's xmuc server shape with a domain of its own and s2s.
    """

    kind = "xmuc"

    def __init__(self, root: str, domain: str, cert: str, key: str, ca: str) -> None:
        super().__init__(os.path.join(root, domain), cert, key)
        self.domain = domain
        self.name = f"xmuc {domain}"
        self.ca = ca
        self.s2sPort = freePort()
        self.logFile = os.path.join(self.dir, "xmuc.log")

    def configureS2S(self, port: int, peers: dict[str, int], dnsPort: int) -> None:
        self.port = port
        hosts = "".join(f"{d} = {HOST}:{p}\n" for d, p in peers.items() if d != self.domain)
        with open(self.config, "w") as f:
            f.write(
                self.configText(port, self.domain)
                + textwrap.dedent(
                    f"""\

                    [s2s]
                    listen = {HOST}:{self.s2sPort}
                    require_tls = true
                    require_valid_certificate = true
                    dialback = false
                    ca_file = {self.ca}
                    dns_servers = {HOST}:{dnsPort}
                    rate_limit = 0

                    [s2s_hosts]
                    """
                )
                + hosts
            )

    def createUsers(self, count: int) -> None:
        subprocess.run(
            [os.path.join(VENV_BIN, "xmuc"), "-c", self.config, "adduser", f"{userName(0)}@{self.domain}"],
            input=PASSWORD + "\n",
            text=True,
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            [PYTHON, "-c", c2s._XMUC_BULK_USERS, os.path.join(self.dir, "data", "xmuc.sqlite"), userName(0), str(count)],
            check=True,
            timeout=600,
        )

    def start(self) -> None:
        out = open(os.path.join(self.dir, "stdout.log"), "ab")
        env = dict(os.environ, XMUC_BENCH_LOGFILE=self.logFile)
        self.proc = subprocess.Popen(
            [
                os.path.join(VENV_BIN, "twistd"),
                "-n",
                "--pidfile", os.path.join(self.dir, "twistd.pid"),
                "--logger", "twistdlog.warnObserver",
                "xmuc", "-c", self.config,
            ],
            cwd=self.dir,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
        out.close()
        waitForPort(self.port, self.proc)
        waitForPort(self.s2sPort, self.proc)

    def xmucPackage(self) -> str:
        with open(self.logFile) as f:
            first = f.readline().strip()
        return first.partition(": ")[2]

    def problems(self) -> list[str]:
        with open(self.logFile, errors="replace") as f:
            return [line.rstrip() for line in f.readlines()[1:]]


class ProsodyNode(c2s.ProsodyServer):
    """
    bench/c2s.py's Prosody shape with a domain of its own and s2s.
    """

    kind = "prosody"

    def __init__(self, root: str, domain: str, cert: str, key: str, ca: str) -> None:
        super().__init__(os.path.join(root, domain), cert, key)
        self.domain = domain
        self.name = f"Prosody {domain}"
        self.ca = ca
        self.s2sPort = freePort()
        self.logFile = os.path.join(self.dir, "prosody.log")

    def configureS2S(self, port: int, peers: dict[str, int], dnsPort: int) -> None:
        self.port = port
        ssl_ = f'{{ certificate = "{self.cert}"; key = "{self.key}"; cafile = "{self.ca}" }}'
        with open(self.config, "w") as f:
            f.write(
                textwrap.dedent(
                    f"""\
                    -- Written by bench/s2s.py
                    daemonize = false
                    run_as_root = true
                    pidfile = "{self.dir}/prosody.pid"
                    data_path = "{self.data}"
                    log = {{ warn = "{self.logFile}" }}
                    network_backend = "epoll"
                    network_settings = {{ tcp_backlog = 1024 }}
                    interfaces = {{ "{HOST}" }}
                    local_interfaces = {{ "{HOST}" }}
                    c2s_ports = {{ {port} }}
                    s2s_ports = {{ {self.s2sPort} }}
                    c2s_direct_tls_ports = {{ }}
                    s2s_direct_tls_ports = {{ }}
                    http_ports = {{ }}
                    https_ports = {{ }}
                    c2s_require_encryption = false
                    s2s_require_encryption = true
                    s2s_secure_auth = true
                    authentication = "internal_hashed"
                    storage = "internal"
                    c2s_timeout = 3600
                    -- Rate limits lifted: mod_limits is not in modules_enabled
                    -- (0.12 does not autoload it), and its options are set
                    -- high in case anything loads it.
                    limits = {{
                        c2s = {{ rate = "1000mb/s"; burst = "10s" }};
                        s2sin = {{ rate = "1000mb/s"; burst = "10s" }};
                    }}
                    -- No mod_dialback: certificate authentication only, as
                    -- xmuc's dialback = false.
                    modules_enabled = {{
                        "roster"; "saslauth"; "tls"; "disco"; "carbons";
                        "ping"; "time"; "version"; "uptime"; "vcard_legacy";
                        "blocklist"; "posix";
                    }}
                    ssl = {ssl_}
                    certificates = "{os.path.dirname(self.cert)}"
                    unbound = {{
                        forward = "{HOST}@{dnsPort}";
                        resolvconf = false;
                        hoststxt = false;
                        options = {{
                            ["do-not-query-localhost:"] = "no";
                            ["qname-minimisation:"] = "no";
                            ["local-zone:"] = "test. transparent";
                        }};
                    }}

                    VirtualHost "{self.domain}"
                        ssl = {ssl_}
                    """
                )
            )

    def createUsers(self, count: int) -> None:
        # As bench/c2s.py: one account through prosodyctl, the rest copies
        # of its accounts file (same password, same salt and keys).
        subprocess.run(
            ["/usr/bin/prosodyctl", "--config", self.config, "register", userName(0), self.domain, PASSWORD],
            check=True,
            capture_output=True,
            timeout=120,
        )
        (first,) = glob.glob(os.path.join(self.data, "*", "accounts", userName(0) + ".dat"))
        with open(first) as f:
            template = f.read()
        accounts = os.path.dirname(first)
        for i in range(1, count):
            with open(os.path.join(accounts, userName(i) + ".dat"), "w") as f:
                f.write(template)

    def start(self) -> None:
        super().start()
        waitForPort(self.s2sPort, self.proc)

    def problems(self) -> list[str]:
        try:
            with open(self.logFile, errors="replace") as f:
                # The SIGTERM is ours (stop()).
                return [line.rstrip() for line in f if "Received SIGTERM" not in line]
        except OSError:
            return []


# --------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------


def machineBusy() -> float:
    """
    CPU seconds all cores spent busy so far (from /proc/stat).
    """
    with open("/proc/stat") as f:
        fields = f.readline().split()
    # user nice system idle iowait irq softirq steal
    values = [int(v) for v in fields[1:9]]
    busy = values[0] + values[1] + values[2] + values[5] + values[6] + values[7]
    return busy / c2s.CLK_TCK


@dataclass
class Sample:
    wall: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    genCPU: float = 0.0
    otherCPU: float = 0.0


class Meter:
    """
    Like bench/c2s.py's Meter, for several server processes at once, and
    the CPU the rest of the machine used meanwhile.
    """

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids

    def __enter__(self) -> Sample:
        self.sample = Sample()
        self.t0 = time.perf_counter()
        self.c0 = {role: processCPU(pid) for role, pid in self.pids.items()}
        self.g0 = selfCPU()
        self.m0 = machineBusy()
        return self.sample

    def __exit__(self, *exc: Any) -> None:
        s = self.sample
        s.wall = time.perf_counter() - self.t0
        s.cpu = {role: processCPU(pid) - self.c0[role] for role, pid in self.pids.items()}
        s.genCPU = selfCPU() - self.g0
        s.otherCPU = max(0.0, machineBusy() - self.m0 - s.genCPU - sum(s.cpu.values()))


@dataclass
class Scenario:
    key: str
    label: str
    sender: Any
    receiver: Any

    def pids(self) -> dict[str, int]:
        return {"sender": self.sender.pid, "receiver": self.receiver.pid}


async def loginAll(server: Any, indices: list[int], resource: str) -> list[DomainClient]:
    clients = []
    for i in indices:
        c = await DomainClient.open(server.port, server.domain)
        await asyncio.wait_for(c.login(userName(i), resource, False, None), 60)
        c.send(b"<presence/>")
        clients.append(c)
    return clients


async def openPairs(
    scn: Scenario, pairs: int, resource: str
) -> tuple[list[DomainClient], list[DomainClient]]:
    """
    Log in C{pairs} senders and receivers, then check that one probe per
    pair crosses the link with its body and the sender's from (the first
    one opens the link), so what is counted later is real deliveries.
    """
    indices = [100 + p for p in range(pairs)]
    senders = await loginAll(scn.sender, indices, resource)
    receivers = await loginAll(scn.receiver, indices, resource)
    await asyncio.sleep(0.3)
    for p in range(pairs):
        receivers[p].parser.ready.clear()
        senders[p].send(
            f"<message type='chat' to='{userName(indices[p])}@{scn.receiver.domain}/{resource}' "
            f"id='probe{p}'><body>probe {p}</body></message>".encode()
        )
    for p in range(pairs):
        while True:
            e = await asyncio.wait_for(receivers[p].next(), 30)
            if e.name == "message":
                break
        body = e.child("body")
        if e.attrs.get("type") == "error" or body is None or body.text != f"probe {p}":
            raise XMPPError(f"{scn.label}: probe not delivered properly to pair {p}")
        expected = f"{userName(indices[p])}@{scn.sender.domain}/{resource}"
        if e.attrs.get("from") != expected:
            raise XMPPError(f"{scn.label}: probe has from {e.attrs.get('from')!r}, not {expected!r}")
    return senders, receivers


def cpuFigures(m: Sample, count: int) -> dict:
    return {
        "wall_s": m.wall,
        "sender_cpu_s": m.cpu["sender"],
        "receiver_cpu_s": m.cpu["receiver"],
        "sender_cpu_s_per_1000": 1000 * m.cpu["sender"] / max(count, 1),
        "receiver_cpu_s_per_1000": 1000 * m.cpu["receiver"] / max(count, 1),
        "sender_cpu_share": m.cpu["sender"] / m.wall,
        "receiver_cpu_share": m.cpu["receiver"] / m.wall,
        "gen_cpu_s": m.genCPU,
        "gen_cpu_share": m.genCPU / m.wall,
        "other_cpu_share": m.otherCPU / m.wall,
    }


async def measureThroughput(scn: Scenario, pairs: int, perSender: int, window: int, resource: str) -> dict:
    """
    bench/c2s.py's measureMessages across a link: each sender keeps at most
    C{window} messages to its partner's full JID unacknowledged; a
    receiver's arrival frees a slot.
    """
    senders, receivers = await openPairs(scn, pairs, resource)
    received = [0] * pairs
    slots = [asyncio.Semaphore(window) for _ in range(pairs)]
    done = [asyncio.Event() for _ in range(pairs)]
    for p in range(pairs):
        senders[p].startDraining()

        def onTop(name: str, p: int = p) -> None:
            if name == "message":
                received[p] += 1
                slots[p].release()
                if received[p] == perSender:
                    done[p].set()

        receivers[p].startDraining(onTop)

    async def sender(p: int) -> None:
        c = senders[p]
        to = f"{userName(100 + p)}@{scn.receiver.domain}/{resource}"
        prefix = f"<message type='chat' to='{to}' id='".encode()
        suffix = f"'><body>{BODY}</body></message>".encode()
        for k in range(perSender):
            await slots[p].acquire()
            c.send(prefix + str(k).encode() + suffix)
        await done[p].wait()

    with Meter(scn.pids()) as m:
        try:
            await asyncio.wait_for(asyncio.gather(*(sender(p) for p in range(pairs))), 300)
            timedOut = False
        except asyncio.TimeoutError:
            timedOut = True
    total = sum(received)
    await c2s.closeAll(senders + receivers)
    return {
        "pairs": pairs,
        "per_sender": perSender,
        "window": window,
        "delivered": total,
        "timed_out": timedOut,
        "messages_per_s": total / m.wall,
        **cpuFigures(m, total),
    }


def percentile(sorted_: list[float], q: float) -> float:
    if not sorted_:
        return float("nan")
    return sorted_[min(len(sorted_) - 1, int(q * len(sorted_)))]


async def measureLatency(scn: Scenario, pairs: int, rate: float, duration: float, resource: str) -> dict:
    """
    Open loop at a fixed offered rate: messages go out round-robin over
    C{pairs} senders on a schedule of C{rate} per second; each carries its
    send time (perf_counter_ns) in its id; a receiver takes the time when
    the bytes holding it are read.
    """
    senders, receivers = await openPairs(scn, pairs, resource)
    total = int(rate * duration)
    latencies: list[float] = []
    bad = 0
    allIn = asyncio.Event()

    for s in senders:
        s.startDraining()

    async def receive(c: DomainClient) -> None:
        nonlocal bad
        c.parser.ready.clear()
        try:
            while True:
                data = await c.reader.read(65536)
                if not data:
                    return
                now = time.perf_counter_ns()
                c.parser.feed(data)
                for e in c.parser.ready:
                    if e.name != "message":
                        continue
                    body = e.child("body")
                    sent = e.attrs.get("id", "")
                    if e.attrs.get("type") == "error" or body is None or body.text != BODY or not sent.isdigit():
                        bad += 1
                        continue
                    latencies.append((now - int(sent)) / 1e6)
                    if len(latencies) + bad >= total:
                        allIn.set()
                c.parser.ready.clear()
        except (XMPPError, ConnectionError, xml.parsers.expat.ExpatError, asyncio.CancelledError):
            return

    readers = [asyncio.ensure_future(receive(c)) for c in receivers]
    heads = [
        f"<message type='chat' to='{userName(100 + p)}@{scn.receiver.domain}/{resource}' id='".encode()
        for p in range(pairs)
    ]
    tail = f"'><body>{BODY}</body></message>".encode()
    with Meter(scn.pids()) as m:
        t0 = time.perf_counter()
        sent = 0
        while sent < total:
            due = min(total, int((time.perf_counter() - t0) * rate) + 1)
            while sent < due:
                p = sent % pairs
                senders[p].send(heads[p] + str(time.perf_counter_ns()).encode() + tail)
                sent += 1
            await asyncio.sleep(0.001)
        sendWall = time.perf_counter() - t0
        try:
            await asyncio.wait_for(allIn.wait(), 30)
        except asyncio.TimeoutError:
            pass
    for r in readers:
        r.cancel()
    await c2s.closeAll(senders + receivers)
    ordered = sorted(latencies)
    return {
        "pairs": pairs,
        "offered_rate": rate,
        "sent": total,
        "achieved_send_rate": total / sendWall,
        "delivered": len(latencies),
        "bad": bad,
        "lost": total - len(latencies) - bad,
        "p50_ms": percentile(ordered, 0.50),
        "p90_ms": percentile(ordered, 0.90),
        "p99_ms": percentile(ordered, 0.99),
        "p999_ms": percentile(ordered, 0.999),
        "max_ms": ordered[-1] if ordered else float("nan"),
        **cpuFigures(m, len(latencies)),
    }


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


@dataclass
class Plan:
    pairs: int
    perSender: int
    windows: tuple[int, ...]
    warmPerSender: int
    repeats: int
    latencyPairs: int
    rate: float
    latencySeconds: float


# Two windows: bench/c2s.py's 10 per pair, and 50, which is what it takes
# here for the servers rather than the round trip to bound throughput.
FULL = Plan(pairs=20, perSender=3000, windows=(10, 50), warmPerSender=200, repeats=3,
            latencyPairs=10, rate=500.0, latencySeconds=10.0)
QUICK = Plan(pairs=10, perSender=300, windows=(10, 50), warmPerSender=50, repeats=1,
             latencyPairs=5, rate=500.0, latencySeconds=2.0)


def brief(r: dict) -> str:
    return json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in r.items()})


async def runAll(scenarios: list[Scenario], plan: Plan) -> dict:
    results: dict = {s.key: {} for s in scenarios}
    for s in scenarios:
        print(f"  {s.label}: warm-up ...", flush=True)
        r = await measureThroughput(s, plan.pairs, plan.warmPerSender, plan.windows[0], "warm")
        print(f"    {brief(r)}", flush=True)
    for window in plan.windows:
        runs: dict[str, list[dict]] = {s.key: [] for s in scenarios}
        for rep in range(plan.repeats):
            for s in scenarios:
                print(f"  {s.label}: throughput, window {window}, #{rep + 1} ...", flush=True)
                r = await measureThroughput(s, plan.pairs, plan.perSender, window, f"w{window}r{rep}")
                runs[s.key].append(r)
                print(f"    {brief(r)}", flush=True)
                await asyncio.sleep(1.0)
        for s in scenarios:
            results[s.key][f"window {window}"] = medianOf(runs[s.key])
    for s in scenarios:
        print(f"  {s.label}: latency at {plan.rate:.0f} msg/s ...", flush=True)
        r = await measureLatency(s, plan.latencyPairs, plan.rate, plan.latencySeconds, "lat")
        results[s.key]["latency"] = r
        print(f"    {brief(r)}", flush=True)
        await asyncio.sleep(1.0)
    return results


THROUGHPUT_ROWS = [
    ("Messages/s across the link", "messages_per_s", "{:,.0f}"),
    ("Sending server CPU s per 1,000 messages", "sender_cpu_s_per_1000", "{:.3f}"),
    ("Receiving server CPU s per 1,000 messages", "receiver_cpu_s_per_1000", "{:.3f}"),
    ("Sending server CPU share (of one core)", "sender_cpu_share", "{:.0%}"),
    ("Receiving server CPU share", "receiver_cpu_share", "{:.0%}"),
    ("Load generator CPU share", "gen_cpu_share", "{:.0%}"),
    ("Other processes' CPU share", "other_cpu_share", "{:.0%}"),
]

LATENCY_ROWS = [
    ("Latency p50 (ms)", "latency", "p50_ms", "{:.2f}"),
    ("Latency p90 (ms)", "latency", "p90_ms", "{:.2f}"),
    ("Latency p99 (ms)", "latency", "p99_ms", "{:.2f}"),
    ("Latency max (ms)", "latency", "max_ms", "{:.2f}"),
    ("Achieved send rate (msg/s)", "latency", "achieved_send_rate", "{:.0f}"),
    ("Delivered / lost", "latency", None, None),
    ("Sending / receiving server CPU share", "latency", None, None),
    ("Load generator CPU share", "latency", "gen_cpu_share", "{:.0%}"),
]


def table(scenarios: list[Scenario], results: dict, plan: Plan) -> str:
    out = ["| Figure | " + " | ".join(s.label for s in scenarios) + " |"]
    out.append("|---|" + "---:|" * len(scenarios))
    for window in plan.windows:
        test = f"window {window}"
        out.append(
            f"| **Throughput, {plan.pairs} pairs × window {window}** "
            f"(median of {plan.repeats}) |" + " |" * len(scenarios)
        )
        for label, key, fmt in THROUGHPUT_ROWS:
            cells = [fmt.format(results[s.key][test][key]) for s in scenarios]
            out.append(f"| {label} | " + " | ".join(cells) + " |")
    out.append(
        f"| **Latency at {plan.rate:,.0f} msg/s, {plan.latencyPairs} pairs, "
        f"{plan.latencySeconds:.0f} s** |" + " |" * len(scenarios)
    )
    for label, test, key, fmt in LATENCY_ROWS:
        cells = []
        for s in scenarios:
            r = results[s.key][test]
            if label.startswith("Delivered"):
                cells.append(f"{r['delivered']:,} / {r['lost'] + r['bad']}")
            elif label.startswith("Sending / receiving"):
                cells.append(f"{r['sender_cpu_share']:.0%} / {r['receiver_cpu_share']:.0%}")
            else:
                cells.append(fmt.format(r[key]))
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def versions() -> dict:
    import OpenSSL
    import twisted

    out = {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "twisted": twisted.__version__,
        "pyopenssl": OpenSSL.__version__,
        "openssl_python_ssl": ssl.OPENSSL_VERSION,
        "prosody": open("/usr/lib/prosody/prosody.version").read().strip(),
    }
    try:
        out["prosody_deb"] = subprocess.run(
            ["dpkg-query", "-W", "-f", "${Version}", "prosody"], capture_output=True, text=True
        ).stdout
    except OSError:
        pass
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small smoke run (< 1 minute)")
    ap.add_argument("--json", help="also write raw results to this file")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--pairs", type=int, help="sender/receiver pairs in the throughput test")
    ap.add_argument("--window", type=int, action="append", help="unacknowledged messages per pair (repeatable)")
    ap.add_argument("--per-sender", type=int, help="messages per sender in the throughput test")
    ap.add_argument("--repeats", type=int, help="throughput runs per link (median)")
    ap.add_argument("--rate", type=float, help="offered rate of the latency test, msg/s")
    args = ap.parse_args()
    plan = QUICK if args.quick else FULL
    overrides = {
        "pairs": args.pairs, "windows": tuple(args.window) if args.window else None, "perSender": args.per_sender,
        "repeats": args.repeats, "rate": args.rate,
    }
    plan = dataclasses.replace(plan, **{k: v for k, v in overrides.items() if v is not None})
    print(f"plan {plan}", flush=True)
    started = time.monotonic()
    load0 = os.getloadavg()
    root = tempfile.mkdtemp(prefix="xmuc-bench-s2s-")
    ca = TestCA(os.path.join(root, "ca"))
    dns = DNSServer()
    servers: list[Any] = []
    results: dict = {}
    notes: dict = {}
    try:
        for cls, domain in (
            (XmucNode, XMUC_A), (XmucNode, XMUC_B),
            (ProsodyNode, PROSODY_P), (ProsodyNode, PROSODY_1), (ProsodyNode, PROSODY_2),
        ):
            cert, key = ca.issue(domain)
            os.chmod(key, 0o644)
            servers.append(cls(root, domain, cert, key, ca.path))
        byDomain = {s.domain: s for s in servers}
        peers = {s.domain: s.s2sPort for s in servers}
        dns.start(peers)
        print(f"dns started, pid {dns.proc.pid}, udp port {dns.port}", flush=True)
        for s in servers:
            s.configureS2S(freePort(), peers, dns.port)
            t = time.monotonic()
            s.createUsers(USERS)
            print(f"{s.name}: {USERS} accounts in {time.monotonic() - t:.1f}s", flush=True)
        for s in servers:
            s.start()
            print(f"{s.name} started, pid {s.pid}, c2s {s.port}, s2s {s.s2sPort}", flush=True)
        for s in servers:
            if s.kind == "xmuc":
                notes[f"{s.domain} xmuc package"] = s.xmucPackage()
                print(f"{s.name} imports {s.xmucPackage()}", flush=True)
        scenarios = [
            Scenario("xmuc-xmuc", "xmuc → xmuc", byDomain[XMUC_A], byDomain[XMUC_B]),
            Scenario("xmuc-prosody", "xmuc → Prosody", byDomain[XMUC_A], byDomain[PROSODY_P]),
            Scenario("prosody-prosody", "Prosody → Prosody", byDomain[PROSODY_1], byDomain[PROSODY_2]),
        ]
        results = asyncio.run(runAll(scenarios, plan))
    finally:
        for s in servers:
            s.stop()
        dns.stop()
        for s in servers:
            lines = s.problems()
            if lines:
                notes[f"{s.name} log"] = lines[-20:]
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    meta = {
        **versions(),
        "plan": plan.__dict__,
        "loadavg_before": load0,
        "loadavg_after": os.getloadavg(),
        "elapsed_s": time.monotonic() - started,
        "notes": notes,
    }
    print()
    print(table(scenarios, results, plan))
    print(json.dumps(meta, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
