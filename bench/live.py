"""
What bench/fuzz.py and bench/fairness.py share: a live xmuc node (c2s,
s2s with dialback, MUC) on loopback with a warn-level log, a well-behaved
client that pings the node at a steady rate and records round trips, the
node's RSS over time, and a scan of its log for tracebacks.

Everything listens on and connects to 127.0.0.1 only; DNS look-ups of the
node go to a closed loopback port (never the machine's resolver); every
process is started here and stopped by its PID.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass, field
from typing import Optional

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
for _path in (REPO, BENCH):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import c2s  # noqa: E402  (bench/c2s.py: client, servers, process figures)
from c2s import HOST, VENV_BIN, freePort, userName, waitForPort  # noqa: E402,F401 (userName: for the benches)

# The node imports xmuc (and the warn-level log observer) from this tree.
os.environ["PYTHONPATH"] = os.pathsep.join(
    [REPO, BENCH] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
)

DOMAIN = c2s.DOMAIN
MUC = "muc." + DOMAIN


class LiveNode(c2s.XmucServer):
    """
    An xmuc node for the long runs: c2s (plaintext allowed, STARTTLS
    offered), s2s with dialback on a port of its own, MUC with the
    default limits, SQLite storage, warn-level log in C{xmuc.log}.

    @param c2sLimits: extra [c2s] lines (the defaults otherwise: a run
        that measures fairness keeps the node's own limits).
    @param extra: more sections (e.g. [s2s_hosts] for a bench's peer).
    """

    def __init__(self, root: str, cert: str, key: str, c2sLimits: str = "",
                 extra: str = "") -> None:
        super().__init__(root, cert, key)
        self.s2sPort = freePort()
        self.c2sLimits = c2sLimits
        self.extra = extra
        self.logFile = os.path.join(self.dir, "xmuc.log")

    def configure(self, port: int) -> None:
        self.port = port
        with open(self.config, "w") as f:
            f.write(
                textwrap.dedent(
                    f"""\
                    [node]
                    domain = {DOMAIN}
                    data_dir = {self.dir}/data

                    [c2s]
                    listen = {HOST}:{port}
                    require_tls = false
                    allow_plain = true
                    backlog = 1024
                    """
                )
                + self.c2sLimits
                + textwrap.dedent(
                    f"""
                    [tls]
                    certificate = {self.cert}
                    key = {self.key}

                    [storage]
                    backend = sqlite

                    [s2s]
                    listen = {HOST}:{self.s2sPort}
                    require_tls = false
                    dialback = true
                    dialback_secret = bench-dialback-secret
                    # A closed loopback port: no look-up leaves the machine.
                    dns_servers = {HOST}:1
                    connect_timeout = 3

                    [muc]
                    enabled = true
                    creation = local
                    """
                )
                + self.extra
            )

    def start(self) -> None:
        out = open(os.path.join(self.dir, "stdout.log"), "ab")
        env = dict(os.environ, XMUC_BENCH_LOGFILE=self.logFile)
        self.proc = subprocess.Popen(
            [
                os.path.join(VENV_BIN, "twistd"), "-n",
                "--pidfile", os.path.join(self.dir, "twistd.pid"),
                "--logger", "twistdlog.warnObserver",
                "xmuc", "-c", self.config,
            ],
            cwd=self.dir, stdout=out, stderr=subprocess.STDOUT, env=env,
        )
        out.close()
        waitForPort(self.port, self.proc)
        waitForPort(self.s2sPort, self.proc)

    def xmucPackage(self) -> str:
        with open(self.logFile) as f:
            return f.readline().strip().partition(": ")[2]

    def logScan(self) -> dict:
        """
        Tracebacks and error lines in the node's log (and its stdout).
        """
        lines: list[str] = []
        for name in (self.logFile, os.path.join(self.dir, "stdout.log")):
            try:
                with open(name, errors="replace") as f:
                    lines += f.read().splitlines()
            except OSError:
                pass
        tracebacks = [i for i, line in enumerate(lines) if "Traceback (most recent call last)" in line]
        kinds: dict[str, int] = {}
        for i in tracebacks:
            # The exception line: the first after the frames (the log
            # writes a message's further lines after a tab).
            for line in lines[i + 1 : i + 4000]:
                text = line[1:] if line.startswith("\t") else line.split("] ", 1)[-1]
                if text and not text.startswith((" ", "Traceback", "---", "<")):
                    key = text[:160]
                    kinds[key] = kinds.get(key, 0) + 1
                    break
        context = [lines[i - 1][:300] for i in tracebacks[:5] if i > 0]
        return {
            "log_lines": len(lines),
            "tracebacks": len(tracebacks),
            "traceback_kinds": kinds,
            "traceback_context": context,
            "unhandled": sum("Unhandled Error" in line for line in lines),
        }


class RSSSampler:
    """
    The node's RSS once a second, from a task on the caller's loop.
    """

    def __init__(self, pid: int, interval: float = 1.0) -> None:
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self._task: Optional[asyncio.Task] = None

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        while True:
            try:
                self.samples.append((time.monotonic() - self._t0, c2s.processRSS(self.pid)))
            except (OSError, RuntimeError):
                return
            await asyncio.sleep(self.interval)

    def stop(self) -> dict:
        if self._task is not None:
            self._task.cancel()
        mib = [rss / 2**20 for _, rss in self.samples] or [0.0]
        return {"rss_start_mib": mib[0], "rss_max_mib": max(mib), "rss_end_mib": mib[-1],
                "rss_samples": len(mib)}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class PingResult:
    sent: int = 0
    answered: int = 0
    errors: int = 0
    rtts: list[float] = field(default_factory=list)

    def figures(self) -> dict:
        return {
            "pings": self.sent,
            "answered": self.answered,
            "lost": self.sent - self.answered,
            "errors": self.errors,
            "p50_ms": 1000 * percentile(self.rtts, 0.50),
            "p99_ms": 1000 * percentile(self.rtts, 0.99),
            "max_ms": 1000 * max(self.rtts) if self.rtts else float("nan"),
        }


async def loginClient(port: int, user: str, resource: str) -> c2s.Client:
    client = await c2s.Client.connect(port)
    await asyncio.wait_for(client.login(user, resource, False, c2s.clientTLSContext()), 60)
    return client


async def ping(port: int, user: str, count: int, interval: float, timeout: float = 10.0,
               stop: Optional[asyncio.Event] = None) -> PingResult:
    """
    Log C{user} in and send C{count} pings to the node, one every
    C{interval} seconds whatever the answers (open loop), recording each
    round trip; a ping unanswered C{timeout} seconds after the last one is
    lost. With C{stop}, pings go on (up to C{count}) until it is set.
    """
    client = await loginClient(port, user, "ping")
    result = PingResult()
    pending: dict[str, float] = {}
    done = asyncio.Event()

    async def reader() -> None:
        try:
            while True:
                e = await client.next()
                if e.name != "iq":
                    continue
                sentAt = pending.pop(e.attrs.get("id", ""), None)
                if sentAt is None:
                    continue
                if e.attrs.get("type") == "result":
                    result.answered += 1
                    result.rtts.append(time.perf_counter() - sentAt)
                else:
                    result.errors += 1
                if not pending and done.is_set():
                    return
        except (c2s.XMPPError, ConnectionError):
            return

    task = asyncio.ensure_future(reader())
    start = time.perf_counter()
    for n in range(count):
        if stop is not None and stop.is_set():
            break
        due = start + n * interval
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        pid = f"p{n}"
        pending[pid] = time.perf_counter()
        client.send(f"<iq type='get' id='{pid}' to='{DOMAIN}'><ping xmlns='urn:xmpp:ping'/></iq>".encode())
        result.sent += 1
    done.set()
    try:
        await asyncio.wait_for(task, timeout)
    except asyncio.TimeoutError:
        task.cancel()
    await client.close()
    return result
