"""
Client-to-server benchmark: xmuc and Prosody side by side.

Usage::

    /tmp/venv/bin/python bench/c2s.py [--quick] [--json FILE]

Starts one xmuc node and one Prosody on loopback, with the same settings
(domain C{localhost}, same certificate, TLS optional, no rate limits, warn-level
logging), and for each server in plaintext and in STARTTLS mode measures:

  1. logins per second (connect, stream, STARTTLS in TLS mode, SASL
     SCRAM-SHA-1, resource bind, close) with many clients in parallel;
  2. 1:1 message throughput between connected users to full JIDs, and the
     server process's CPU seconds per 1,000 messages;
  3. memory per idle authenticated session (RSS growth over N sessions / N).

The load generator is a lean asyncio client written here (expat parser,
hand-rolled SCRAM-SHA-1 whose salted password is cached, so the generator
does one PBKDF2 per run rather than one per login). Its own CPU time is
reported next to every figure so a saturated generator is visible.

Each mode starts both servers afresh (so the memory baseline of one mode is
not polluted by the other), runs each test on xmuc then on Prosody, and
stops both servers by PID. Nothing here is a test: there are no assertions
on timings.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime
import hashlib
import hmac
import json
import os
import platform
import resource
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import textwrap
import time
import xml.parsers.expat
from dataclasses import dataclass
from typing import Any, Callable, Optional

HOST = "127.0.0.1"
DOMAIN = "localhost"
PASSWORD = "bench-password-1"
PYTHON = sys.executable
VENV_BIN = os.path.dirname(PYTHON)
CLK_TCK = os.sysconf("SC_CLK_TCK")

NS_STREAMS = "http://etherx.jabber.org/streams"
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"
NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind"

STREAM_HEADER = (
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' to='%s' version='1.0'>" % DOMAIN
).encode()


# --------------------------------------------------------------------------
# Process measurements
# --------------------------------------------------------------------------


def processCPU(pid: int) -> float:
    """
    utime + stime of one process (all its threads), in seconds.
    """
    with open(f"/proc/{pid}/stat") as f:
        data = f.read()
    fields = data[data.rindex(")") + 2 :].split()
    # fields[0] is state (field 3); utime is field 14, stime field 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def processRSS(pid: int) -> int:
    """
    VmRSS of one process, in bytes.
    """
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def selfCPU() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# --------------------------------------------------------------------------
# A lean XMPP client
# --------------------------------------------------------------------------


class Elem:
    """
    A parsed element: local name, namespace, attributes, children, text.
    """

    __slots__ = ("name", "ns", "attrs", "children", "text")

    def __init__(self, name: str, ns: str, attrs: dict) -> None:
        self.name = name
        self.ns = ns
        self.attrs = attrs
        self.children: list[Elem] = []
        self.text = ""

    def child(self, name: str) -> Optional["Elem"]:
        for c in self.children:
            if c.name == name:
                return c
        return None


class XMPPError(Exception):
    pass


class StreamParser:
    """
    Incremental expat parser yielding the stream's top-level elements.

    In counting mode (C{onTop} set) no tree is built: only the name of each
    finished top-level element is passed on, to keep the generator cheap.
    """

    def __init__(self) -> None:
        self.depth = 0
        self.stack: list[Elem] = []
        self.ready: list[Elem] = []
        self.onTop: Optional[Callable[[str], None]] = None
        self.reset()

    def reset(self) -> None:
        p = xml.parsers.expat.ParserCreate(namespace_separator=" ")
        p.StartElementHandler = self._start
        p.EndElementHandler = self._end
        p.CharacterDataHandler = self._text
        p.buffer_text = True
        self.parser = p
        self.depth = 0
        self.stack = []

    def feed(self, data: bytes) -> None:
        self.parser.Parse(data, False)

    def _start(self, name: str, attrs: dict) -> None:
        self.depth += 1
        if self.depth == 1:
            return
        if self.onTop is not None:
            return
        ns, _, local = name.rpartition(" ")
        e = Elem(local, ns, attrs)
        if self.stack:
            self.stack[-1].children.append(e)
        self.stack.append(e)

    def _end(self, name: str) -> None:
        self.depth -= 1
        if self.depth == 0:
            raise XMPPError("stream closed by server")
        if self.onTop is not None:
            if self.depth == 1:
                self.onTop(name.rpartition(" ")[2])
            return
        e = self.stack.pop()
        if self.depth == 1:
            self.ready.append(e)

    def _text(self, data: str) -> None:
        if self.stack and self.onTop is None:
            self.stack[-1].text += data


_saltedCache: dict[tuple[str, bytes, int], bytes] = {}


def _salted(password: str, salt: bytes, iterations: int) -> bytes:
    key = (password, salt, iterations)
    value = _saltedCache.get(key)
    if value is None:
        value = hashlib.pbkdf2_hmac("sha1", password.encode(), salt, iterations)
        _saltedCache[key] = value
    return value


def _hmac(key: bytes, msg: bytes) -> bytes:
    return hmac.new(key, msg, hashlib.sha1).digest()


class Client:
    """
    One client connection, driven by awaiting its methods.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.parser = StreamParser()
        self.drainTask: Optional[asyncio.Task] = None

    @classmethod
    async def connect(cls, port: int, source: Optional[str] = None) -> "Client":
        """
        Connect to the server on C{port}, from the loopback address
        C{source} when given (another "machine" for per-address limits).
        """
        reader, writer = await asyncio.open_connection(
            HOST, port, limit=1 << 20, local_addr=(source, 0) if source else None)
        return cls(reader, writer)

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def next(self) -> Elem:
        while not self.parser.ready:
            data = await self.reader.read(65536)
            if not data:
                raise XMPPError("connection closed by server")
            self.parser.feed(data)
        return self.parser.ready.pop(0)

    async def features(self) -> Elem:
        self.parser.reset()
        self.send(STREAM_HEADER)
        e = await self.next()
        if e.name != "features":
            raise XMPPError(f"expected features, got {e.name}")
        return e

    async def login(
        self, username: str, resource: str, useTLS: bool, tlsContext: ssl.SSLContext
    ) -> None:
        """
        Stream, optional STARTTLS, SASL SCRAM-SHA-1, bind.
        """
        feats = await self.features()
        if useTLS:
            if feats.child("starttls") is None:
                raise XMPPError("no starttls offered")
            self.send(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
            e = await self.next()
            if e.name != "proceed":
                raise XMPPError(f"starttls: {e.name}")
            await self.writer.start_tls(tlsContext, server_hostname=DOMAIN)
            feats = await self.features()
        mechs = feats.child("mechanisms")
        names = [m.text for m in mechs.children] if mechs else []
        if "SCRAM-SHA-1" not in names:
            raise XMPPError(f"no SCRAM-SHA-1 in {names}")
        await self._scram(username)
        feats = await self.features()
        if feats.child("bind") is None:
            raise XMPPError("no bind offered")
        self.send(
            (
                "<iq type='set' id='bind1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                f"<resource>{resource}</resource></bind></iq>"
            ).encode()
        )
        while True:
            e = await self.next()
            if e.name == "iq" and e.attrs.get("id") == "bind1":
                if e.attrs.get("type") != "result":
                    raise XMPPError("bind failed")
                return

    async def _scram(self, username: str) -> None:
        cnonce = base64.b64encode(os.urandom(18)).decode()
        first = f"n={username},r={cnonce}"
        self.send(
            (
                "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>"
                + base64.b64encode(("n,," + first).encode()).decode()
                + "</auth>"
            ).encode()
        )
        e = await self.next()
        if e.name != "challenge":
            raise XMPPError(f"scram: {e.name}")
        serverFirst = base64.b64decode(e.text).decode()
        parts = dict(item.split("=", 1) for item in serverFirst.split(","))
        nonce = parts["r"]
        if not nonce.startswith(cnonce):
            raise XMPPError("bad nonce")
        salted = _salted(PASSWORD, base64.b64decode(parts["s"]), int(parts["i"]))
        clientKey = _hmac(salted, b"Client Key")
        storedKey = hashlib.sha1(clientKey).digest()
        final = f"c=biws,r={nonce}"
        authMessage = f"{first},{serverFirst},{final}".encode()
        signature = _hmac(storedKey, authMessage)
        proof = bytes(a ^ b for a, b in zip(clientKey, signature))
        final += ",p=" + base64.b64encode(proof).decode()
        self.send(
            (
                "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"
                + base64.b64encode(final.encode()).decode()
                + "</response>"
            ).encode()
        )
        serverSig = base64.b64encode(
            _hmac(_hmac(salted, b"Server Key"), authMessage)
        ).decode()
        e = await self.next()
        if e.name == "challenge":  # server-final as a challenge
            verifier = base64.b64decode(e.text).decode()
            self.send(b"<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
            e = await self.next()
        elif e.name == "success":
            verifier = base64.b64decode(e.text).decode() if e.text else ""
        else:
            raise XMPPError(f"scram failed: {e.name}")
        if e.name != "success":
            raise XMPPError(f"scram failed: {e.name}")
        if verifier and verifier != "v=" + serverSig:
            raise XMPPError("bad server signature")

    def startDraining(self, onTop: Optional[Callable[[str], None]] = None) -> None:
        """
        Read and discard (or count) everything the server sends from now on.
        """
        self.parser.onTop = onTop or (lambda name: None)
        self.parser.ready.clear()
        self.drainTask = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    return
                self.parser.feed(data)
        except (XMPPError, ConnectionError, ssl.SSLError, xml.parsers.expat.ExpatError):
            return

    async def close(self) -> None:
        try:
            self.writer.write(b"</stream:stream>")
        except Exception:
            pass
        if self.drainTask is not None:
            self.drainTask.cancel()
        self.writer.close()
        try:
            await asyncio.wait_for(self.writer.wait_closed(), 5)
        except Exception:
            pass


def clientTLSContext() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


# --------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------


def freePort() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def waitForPort(port: int, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"port {port} not accepting after {timeout}s")


def stopProcess(proc: Optional[subprocess.Popen]) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def makeCertificate(directory: str) -> tuple[str, str]:
    """
    One self-signed RSA-2048 certificate for C{localhost}, used by both.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID
    import ipaddress

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, DOMAIN)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(DOMAIN), x509.IPAddress(ipaddress.ip_address(HOST))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    certPath = os.path.join(directory, "cert.pem")
    keyPath = os.path.join(directory, "key.pem")
    with open(certPath, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(keyPath, "wb") as f:
        f.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
    os.chmod(keyPath, 0o644)
    return certPath, keyPath


def userName(i: int) -> str:
    return f"u{i:05d}"


_XMUC_BULK_USERS = """
import sys
from twisted.internet import defer, task
from xmuc.storage import makeStore, UserExists

@defer.inlineCallbacks
def main(reactor, path, first, count):
    store = makeStore("sqlite", path)
    yield store.start()
    try:
        credentials = list((yield store.getCredentials(first)).values())
        for i in range(1, count):
            try:
                yield store.createUser("u%05d" % i, credentials)
            except UserExists:
                pass
    finally:
        yield store.stop()

task.react(main, (sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


class Server:
    name = ""
    proc: Optional[subprocess.Popen] = None
    port = 0

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        stopProcess(self.proc)
        self.proc = None


class XmucServer(Server):
    name = "xmuc"

    def __init__(self, root: str, cert: str, key: str) -> None:
        self.dir = os.path.join(root, "xmuc")
        os.makedirs(self.dir)
        self.config = os.path.join(self.dir, "node.ini")
        self.cert, self.key = cert, key

    def configText(self, port: int, domain: str = DOMAIN) -> str:
        """
        The node.ini every benchmark starts from (bench/s2s.py and
        bench/muc.py add their sections).
        """
        return textwrap.dedent(
            f"""\
            [node]
            domain = {domain}
            data_dir = {self.dir}/data

            [c2s]
            listen = {HOST}:{port}
            require_tls = false
            allow_plain = true
            rate_limit = 0
            idle_timeout = 3600
            backlog = 1024

            [tls]
            certificate = {self.cert}
            key = {self.key}

            [storage]
            backend = sqlite
            """
        )

    def configure(self, port: int) -> None:
        self.port = port
        with open(self.config, "w") as f:
            f.write(self.configText(port))

    def createUsers(self, count: int) -> None:
        # The first account through the official admin command; the rest
        # get a copy of its stored SCRAM credentials (same password), written
        # through the store API: one PBKDF2 instead of thousands.
        subprocess.run(
            [os.path.join(VENV_BIN, "xmuc"), "-c", self.config, "adduser", f"{userName(0)}@{DOMAIN}"],
            input=PASSWORD + "\n",
            text=True,
            check=True,
            capture_output=True,
            timeout=120,
        )
        subprocess.run(
            [PYTHON, "-c", _XMUC_BULK_USERS, os.path.join(self.dir, "data", "xmuc.sqlite"), userName(0), str(count)],
            check=True,
            timeout=600,
        )

    def start(self) -> None:
        log = open(os.path.join(self.dir, "xmuc.log"), "ab")
        self.proc = subprocess.Popen(
            [
                os.path.join(VENV_BIN, "twistd"),
                "-n",
                "--pidfile", os.path.join(self.dir, "twistd.pid"),
                "--logfile", os.path.join(self.dir, "xmuc.log"),
                "xmuc", "-c", self.config,
            ],
            cwd=self.dir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        waitForPort(self.port, self.proc)


class ProsodyServer(Server):
    name = "prosody"

    def __init__(self, root: str, cert: str, key: str) -> None:
        self.dir = os.path.join(root, "prosody")
        self.data = os.path.join(self.dir, "data")
        os.makedirs(self.data)
        self.config = os.path.join(self.dir, "prosody.cfg.lua")
        self.cert, self.key = cert, key

    def configure(self, port: int) -> None:
        self.port = port
        with open(self.config, "w") as f:
            f.write(
                textwrap.dedent(
                    f"""\
                    -- Written by bench/c2s.py
                    daemonize = false
                    run_as_root = true
                    pidfile = "{self.dir}/prosody.pid"
                    data_path = "{self.data}"
                    log = {{ warn = "{self.dir}/prosody.log" }}
                    network_backend = "epoll"
                    network_settings = {{ tcp_backlog = 1024 }}
                    interfaces = {{ "{HOST}" }}
                    c2s_interfaces = {{ "{HOST}" }}
                    c2s_ports = {{ {port} }}
                    c2s_direct_tls_ports = {{ }}
                    http_ports = {{ }}
                    https_ports = {{ }}
                    c2s_require_encryption = false
                    s2s_require_encryption = false
                    authentication = "internal_hashed"
                    storage = "internal"
                    c2s_timeout = 3600
                    -- Rate limits lifted: mod_limits is not in modules_enabled
                    -- (0.12 does not autoload it), and its option is set high
                    -- in case anything loads it.
                    limits = {{ c2s = {{ rate = "1000mb/s"; burst = "10s" }} }}
                    modules_enabled = {{
                        "roster"; "saslauth"; "tls"; "disco"; "carbons";
                        "ping"; "time"; "version"; "uptime"; "vcard_legacy";
                        "blocklist"; "posix";
                    }}
                    modules_disabled = {{ "s2s"; "s2s_auth_certs" }}
                    ssl = {{ certificate = "{self.cert}"; key = "{self.key}" }}
                    certificates = "{os.path.dirname(self.cert)}"

                    VirtualHost "{DOMAIN}"
                        ssl = {{ certificate = "{self.cert}"; key = "{self.key}" }}
                    """
                )
            )

    def createUsers(self, count: int) -> None:
        # The first account through prosodyctl; the rest are copies of its
        # accounts file (same password, so the same salt and keys are valid).
        subprocess.run(
            ["/usr/bin/prosodyctl", "--config", self.config, "register", userName(0), DOMAIN, PASSWORD],
            check=True,
            capture_output=True,
            timeout=120,
        )
        accounts = os.path.join(self.data, DOMAIN, "accounts")
        with open(os.path.join(accounts, userName(0) + ".dat")) as f:
            template = f.read()
        for i in range(1, count):
            with open(os.path.join(accounts, userName(i) + ".dat"), "w") as f:
                f.write(template)

    def start(self) -> None:
        log = open(os.path.join(self.dir, "stdout.log"), "ab")
        self.proc = subprocess.Popen(
            ["/usr/bin/prosody", "--config", self.config, "-F"],
            cwd=self.dir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        waitForPort(self.port, self.proc)


# --------------------------------------------------------------------------
# Measurements
# --------------------------------------------------------------------------


@dataclass
class Sample:
    """
    Server and generator CPU and wall time over one measured interval.
    """

    wall: float = 0.0
    serverCPU: float = 0.0
    genCPU: float = 0.0


class Meter:
    def __init__(self, pid: int) -> None:
        self.pid = pid

    def __enter__(self) -> Sample:
        self.sample = Sample()
        self.t0 = time.perf_counter()
        self.s0 = processCPU(self.pid)
        self.g0 = selfCPU()
        return self.sample

    def __exit__(self, *exc: Any) -> None:
        self.sample.wall = time.perf_counter() - self.t0
        self.sample.serverCPU = processCPU(self.pid) - self.s0
        self.sample.genCPU = selfCPU() - self.g0


async def loginMany(
    port: int,
    useTLS: bool,
    indices: list[int],
    resource: str,
    concurrency: int,
    keep: bool,
    presence: bool = False,
) -> tuple[list[Client], int]:
    """
    Log the given accounts in with C{concurrency} workers; return the
    clients kept open (when C{keep}) and the number of failures.
    """
    ctx = clientTLSContext()
    queue = list(reversed(indices))
    kept: list[Client] = []
    failures = 0
    errors: dict[str, int] = {}

    async def worker() -> None:
        nonlocal failures
        while queue:
            i = queue.pop()
            client = None
            try:
                client = await Client.connect(port)
                await asyncio.wait_for(client.login(userName(i), resource, useTLS, ctx), 60)
                if presence:
                    client.send(b"<presence/>")
            except Exception as e:
                failures += 1
                key = f"{type(e).__name__}: {e}"[:100]
                errors[key] = errors.get(key, 0) + 1
                if client is not None:
                    await client.close()
                continue
            if keep:
                client.startDraining()
                kept.append(client)
            else:
                await client.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    if errors:
        print(f"    login errors: {errors}", flush=True)
    return kept, failures


async def closeAll(clients: list[Client]) -> None:
    for start in range(0, len(clients), 200):
        await asyncio.gather(*(c.close() for c in clients[start : start + 200]))


async def measureLogins(server: Server, useTLS: bool, total: int, concurrency: int) -> dict:
    # Accounts 1000..1999, distinct from the memory and message accounts.
    indices = [1000 + i % 1000 for i in range(total)]
    with Meter(server.pid) as m:
        _, failures = await loginMany(server.port, useTLS, indices, "login", concurrency, keep=False)
    ok = total - failures
    return {
        "logins": ok,
        "failures": failures,
        "concurrency": concurrency,
        "wall_s": m.wall,
        "logins_per_s": ok / m.wall,
        "server_cpu_ms_per_login": 1000 * m.serverCPU / max(ok, 1),
        "gen_cpu_s": m.genCPU,
        "gen_cpu_share": m.genCPU / m.wall,
    }


async def measureMemory(server: Server, useTLS: bool, sessions: int, concurrency: int, settle: float) -> dict:
    await asyncio.sleep(settle)
    before = processRSS(server.pid)
    with Meter(server.pid) as m:
        clients, failures = await loginMany(
            server.port, useTLS, list(range(sessions)), "idle", concurrency, keep=True, presence=True
        )
    await asyncio.sleep(settle)
    after = processRSS(server.pid)
    n = len(clients)
    await closeAll(clients)
    return {
        "sessions": n,
        "failures": failures,
        "rss_before_mib": before / 2**20,
        "rss_after_mib": after / 2**20,
        "kib_per_session": (after - before) / 1024 / max(n, 1),
        "login_wall_s": m.wall,
        "logins_per_s_at_scale": n / m.wall,
        "gen_cpu_s": m.genCPU,
    }


async def measureMessages(
    server: Server, useTLS: bool, pairs: int, perSender: int, window: int, resource: str = "r1"
) -> dict:
    senderIdx = [100 + 2 * p for p in range(pairs)]
    receiverIdx = [101 + 2 * p for p in range(pairs)]
    indices = senderIdx + receiverIdx
    ctx = clientTLSContext()
    conns: dict[int, Client] = {}
    for i in indices:
        c = await Client.connect(server.port)
        await asyncio.wait_for(c.login(userName(i), resource, useTLS, ctx), 60)
        c.send(b"<presence/>")
        conns[i] = c
    await asyncio.sleep(0.5)
    # Sanity probe: one message per pair must arrive with its body, so the
    # counted elements below are real deliveries, not bounces.
    for p in range(pairs):
        conns[receiverIdx[p]].parser.ready.clear()
        conns[senderIdx[p]].send(
            f"<message type='chat' to='{userName(receiverIdx[p])}@{DOMAIN}/{resource}' id='probe'>"
            "<body>probe</body></message>".encode()
        )
    for p in range(pairs):
        while True:
            e = await asyncio.wait_for(conns[receiverIdx[p]].next(), 30)
            if e.name == "message":
                break
        if e.attrs.get("type") == "error" or (e.child("body") is None) or e.child("body").text != "probe":
            raise XMPPError(f"probe message not delivered properly to pair {p}")
        if not e.attrs.get("from", "").startswith(userName(senderIdx[p]) + "@"):
            raise XMPPError(f"probe message has wrong from {e.attrs.get('from')!r}")
    received = [0] * pairs
    slots = [asyncio.Semaphore(window) for _ in range(pairs)]
    done = [asyncio.Event() for _ in range(pairs)]
    for p in range(pairs):
        conns[senderIdx[p]].startDraining()

        def onTop(name: str, p: int = p) -> None:
            if name == "message":
                received[p] += 1
                slots[p].release()
                if received[p] == perSender:
                    done[p].set()

        conns[receiverIdx[p]].startDraining(onTop)

    body = "x" * 64

    async def sender(p: int) -> None:
        c = conns[senderIdx[p]]
        to = f"{userName(receiverIdx[p])}@{DOMAIN}/{resource}"
        prefix = f"<message type='chat' to='{to}' id='".encode()
        suffix = f"'><body>{body}</body></message>".encode()
        for k in range(perSender):
            await slots[p].acquire()
            c.send(prefix + str(k).encode() + suffix)
        await done[p].wait()

    with Meter(server.pid) as m:
        try:
            await asyncio.wait_for(asyncio.gather(*(sender(p) for p in range(pairs))), 300)
            timedOut = False
        except asyncio.TimeoutError:
            timedOut = True
    total = sum(received)
    await closeAll(list(conns.values()))
    return {
        "pairs": pairs,
        "per_sender": perSender,
        "window": window,
        "delivered": total,
        "timed_out": timedOut,
        "wall_s": m.wall,
        "messages_per_s": total / m.wall,
        "server_cpu_s": m.serverCPU,
        "server_cpu_s_per_1000": 1000 * m.serverCPU / max(total, 1),
        "gen_cpu_s": m.genCPU,
        "gen_cpu_share": m.genCPU / m.wall,
    }


async def warmUp(server: Server, useTLS: bool) -> None:
    await loginMany(server.port, useTLS, list(range(1900, 1920)), "warm", 10, keep=False, presence=True)


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


@dataclass
class Plan:
    sessions: int
    logins: int
    loginConcurrency: int
    memoryConcurrency: int
    pairs: int
    perSender: int
    window: int
    settle: float
    repeats: int


FULL = Plan(sessions=2000, logins=1000, loginConcurrency=50, memoryConcurrency=50,
            pairs=20, perSender=2500, window=10, settle=5.0, repeats=3)
QUICK = Plan(sessions=300, logins=200, loginConcurrency=20, memoryConcurrency=20,
             pairs=10, perSender=100, window=10, settle=2.0, repeats=1)


async def runMode(servers: list[Server], useTLS: bool, plan: Plan) -> dict:
    mode = "starttls" if useTLS else "plain"
    results: dict = {s.name: {} for s in servers}
    for s in servers:
        await warmUp(s, useTLS)
    for test in ("memory", "logins", "messages"):
        repeats = 1 if test == "memory" else plan.repeats
        runs: dict[str, list[dict]] = {s.name: [] for s in servers}
        for rep in range(repeats):
            for s in servers:
                print(f"  [{mode}] {s.name}: {test} #{rep + 1} ...", flush=True)
                if test == "memory":
                    r = await measureMemory(s, useTLS, plan.sessions, plan.memoryConcurrency, plan.settle)
                elif test == "logins":
                    r = await measureLogins(s, useTLS, plan.logins, plan.loginConcurrency)
                else:
                    r = await measureMessages(
                        s, useTLS, plan.pairs, plan.perSender, plan.window, f"m{rep}"
                    )
                runs[s.name].append(r)
                print("    " + json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()}), flush=True)
                await asyncio.sleep(1.0)
        for s in servers:
            results[s.name][test] = medianOf(runs[s.name])
    return results


def medianOf(runs: list[dict]) -> dict:
    """
    The per-figure median over repeated runs, with the runs themselves.
    """
    out: dict = {}
    for key, value in runs[0].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            values = sorted(r[key] for r in runs)
            out[key] = values[len(values) // 2]
        else:
            out[key] = value
    if len(runs) > 1:
        out["runs"] = runs
    return out


def ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def table(results: dict) -> str:
    rows = [
        ("Logins/s", "logins", "logins_per_s", "{:.0f}"),
        ("Server CPU ms per login", "logins", "server_cpu_ms_per_login", "{:.2f}"),
        ("Generator CPU share during logins", "logins", "gen_cpu_share", "{:.0%}"),
        ("Messages/s", "messages", "messages_per_s", "{:.0f}"),
        ("Server CPU s per 1,000 messages", "messages", "server_cpu_s_per_1000", "{:.3f}"),
        ("Generator CPU share during messages", "messages", "gen_cpu_share", "{:.0%}"),
        ("KiB RSS per idle session", "memory", "kib_per_session", "{:.1f}"),
        ("Logins/s while filling to N sessions", "memory", "logins_per_s_at_scale", "{:.0f}"),
        ("RSS before → after (MiB)", "memory", None, None),
    ]
    out = []
    for mode, res in results.items():
        out.append(f"\n### {mode}\n")
        out.append("| Figure | xmuc | Prosody | xmuc/Prosody |")
        out.append("|---|---:|---:|---:|")
        for label, test, key, fmt in rows:
            x, p = res["xmuc"][test], res["prosody"][test]
            if key is None:
                out.append(
                    f"| {label} | {x['rss_before_mib']:.1f} → {x['rss_after_mib']:.1f} "
                    f"| {p['rss_before_mib']:.1f} → {p['rss_after_mib']:.1f} | |"
                )
                continue
            out.append(f"| {label} | {fmt.format(x[key])} | {fmt.format(p[key])} | {ratio(x[key], p[key])} |")
    return "\n".join(out)


def raiseFileLimit(want: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(hard, max(soft, want)) if hard != resource.RLIM_INFINITY else max(soft, want)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="small smoke run")
    ap.add_argument("--json", help="also write raw results to this file")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = ap.parse_args()
    plan = QUICK if args.quick else FULL
    # Children (both servers) inherit the raised limit.
    limit = raiseFileLimit(plan.sessions * 2 + 2000)
    print(f"fd limit {limit}; plan {plan}", flush=True)
    root = tempfile.mkdtemp(prefix="xmuc-bench-")
    servers: list[Server] = []
    results: dict = {}
    started = time.monotonic()
    try:
        cert, key = makeCertificate(root)
        xmuc = XmucServer(root, cert, key)
        prosody = ProsodyServer(root, cert, key)
        servers = [xmuc, prosody]
        nUsers = max(plan.sessions, 2000)
        for s in servers:
            s.configure(freePort())
            t = time.monotonic()
            s.createUsers(nUsers)
            print(f"{s.name}: {nUsers} accounts in {time.monotonic() - t:.1f}s", flush=True)
        for useTLS in (False, True):
            mode = "starttls" if useTLS else "plain"
            try:
                for s in servers:
                    s.start()
                    print(f"{s.name} started, pid {s.pid}, port {s.port}", flush=True)
                results[mode] = asyncio.run(runMode(servers, useTLS, plan))
            finally:
                for s in servers:
                    s.stop()
    finally:
        for s in servers:
            s.stop()
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    meta = {
        "nproc": os.cpu_count(),
        "python": platform.python_version(),
        "prosody": open("/usr/lib/prosody/prosody.version").read().strip(),
        "plan": plan.__dict__,
        "elapsed_s": time.monotonic() - started,
    }
    print(table(results))
    print(json.dumps(meta))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
