"""
What unauthenticated connections can make a node hold: run by hand, not a
test (no assertions).

Usage::

    /tmp/venv/bin/python bench/limits.py nested [--repo DIR] [--connections 20] [--depth 85000]
    /tmp/venv/bin/python bench/limits.py stalled-tls [--repo DIR] [--connections 500] [--wait 50]
        [--c2s "tls_handshake_timeout = 60"]
    /tmp/venv/bin/python bench/limits.py held

Starts one xmuc node (twistd, the code of C{--repo}, default this checkout)
on a loopback port with its default limits (TLS optional so that plaintext
streams can be opened; C{--c2s} adds lines to its [c2s] section), then:

  - C{nested}: each of N connections opens a client stream and sends one
    stanza of C{--depth} nested elements (C{<a><a><a>...}, 3 bytes each,
    never closed); the node's RSS is read before, once every connection
    has been answered or has gone quiet, and after they are all closed.
    C{--shape flat} sends C{<a/>} siblings inside one stanza instead, and
    C{--shape attributes} one element with many attributes.
  - C{stalled-tls}: each of N connections sends a stream header and
    C{<starttls/>}, reads C{<proceed/>}, then sends nothing; the script
    counts every second how many of them the node has closed, until
    C{--wait} seconds have passed.
  - C{held}: in this process, with tracemalloc, the memory a client
    stream's parser holds for the largest partial stanza the default
    limits allow, before and after authentication (this checkout only).

The node is stopped by its PID at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time

HOST = "127.0.0.1"
HEADER = (
    b"<?xml version='1.0'?><stream:stream to='localhost' xmlns='jabber:client' "
    b"xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
)
STARTTLS = b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>"
VENV_BIN = os.path.dirname(sys.executable)


def rss(pid: int) -> int:
    """
    VmRSS of a process, in bytes.
    """
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def freePort() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


class Node:
    """
    One twistd xmuc process on a loopback port.
    """

    def __init__(self, repo: str, directory: str, extra: list[str]) -> None:
        self.repo = os.path.abspath(repo)
        self.dir = directory
        self.port = freePort()
        self.config = os.path.join(directory, "node.ini")
        with open(self.config, "w") as f:
            f.write(
                textwrap.dedent(
                    f"""\
                    [node]
                    domain = localhost
                    data_dir = {directory}/data

                    [c2s]
                    listen = {HOST}:{self.port}
                    require_tls = false
                    {{extra}}

                    [s2s]
                    listen =

                    [storage]
                    backend = memory
                    """
                ).replace("{extra}", "\n".join(extra))
            )
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = dict(os.environ, PYTHONPATH=self.repo)
        log = os.path.join(self.dir, "xmuc.log")
        self.proc = subprocess.Popen(
            [
                os.path.join(VENV_BIN, "twistd"), "-n",
                "--pidfile", os.path.join(self.dir, "twistd.pid"),
                "--logfile", log,
                "xmuc", "-c", self.config,
            ],
            cwd=self.dir, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node exited with {self.proc.returncode}; see {log}")
            try:
                with socket.create_connection((HOST, self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("node not listening after 30 s")

    @property
    def rss(self) -> int:
        assert self.proc is not None
        return rss(self.proc.pid)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


async def readUntil(reader: asyncio.StreamReader, marker: bytes, timeout: float = 10) -> bytes:
    data = b""
    while marker not in data:
        chunk = await asyncio.wait_for(reader.read(65536), timeout)
        if not chunk:
            break
        data += chunk
    return data


def payload(shape: str, size: int) -> bytes:
    if shape == "nested":
        return b"<message>" + b"<a>" * size
    if shape == "flat":
        return b"<message>" + b"<a/>" * size
    return b"<message " + b"".join(b"a%d=''" % i for i in range(size)) + b">"


async def nested(node: Node, connections: int, size: int, shape: str) -> None:
    before = node.rss
    streams = []
    for _ in range(connections):
        reader, writer = await asyncio.open_connection(HOST, node.port)
        writer.write(HEADER)
        await readUntil(reader, b"</stream:features>")
        streams.append((reader, writer))
    opened = node.rss
    data = payload(shape, size)
    answers = []
    for reader, writer in streams:
        writer.write(data)
    for reader, writer in streams:
        try:
            await writer.drain()
        except ConnectionError:
            pass
    # An answer (a stream error) or two quiet seconds per connection.
    for reader, writer in streams:
        try:
            answers.append(await readUntil(reader, b"</stream:stream>", timeout=2))
        except (asyncio.TimeoutError, ConnectionError):
            answers.append(b"")
    loaded = node.rss
    for reader, writer in streams:
        writer.close()
    await asyncio.sleep(2)
    closed = node.rss
    errors = sum(1 for a in answers if b"stream:error" in a)
    mib = 1 / (1 << 20)
    print(f"repo {node.repo}: {connections} connections x {len(data)} bytes ({shape}, {size})")
    print(f"  stream errors received: {errors} of {connections}")
    print(f"  RSS before {before * mib:.1f} MiB, streams open {opened * mib:.1f} MiB, "
          f"after sending {loaded * mib:.1f} MiB (+{(loaded - opened) * mib:.1f}), "
          f"2 s after closing {closed * mib:.1f} MiB")
    print(f"  growth per connection {(loaded - opened) / connections / 1024:.0f} KiB "
          f"for {len(data) / 1024:.0f} KiB sent")


async def stalled(node: Node, connections: int, waitFor: float) -> None:
    streams = []
    for _ in range(connections):
        reader, writer = await asyncio.open_connection(HOST, node.port)
        writer.write(HEADER)
        await readUntil(reader, b"</stream:features>")
        writer.write(STARTTLS)
        await readUntil(reader, b"<proceed")
        streams.append((reader, writer))
    start = time.monotonic()
    print(f"repo {node.repo}: {connections} connections stalled after <proceed/>")

    async def closedAt(reader: asyncio.StreamReader) -> float:
        try:
            while await reader.read(65536):
                pass
        except ConnectionError:
            pass
        return time.monotonic() - start

    tasks = [asyncio.ensure_future(closedAt(reader)) for reader, _ in streams]
    while time.monotonic() - start < waitFor:
        await asyncio.sleep(1)
        done = sum(1 for t in tasks if t.done())
        print(f"  {time.monotonic() - start:5.1f} s: {done} of {connections} closed by the node")
        if done == connections:
            break
    times = sorted(t.result() for t in tasks if t.done())
    if times:
        print(f"  closed between {times[0]:.1f} s and {times[-1]:.1f} s")
    print(f"  still open at {time.monotonic() - start:.0f} s: {sum(1 for t in tasks if not t.done())}")
    for t in tasks:
        t.cancel()
    for _, writer in streams:
        writer.close()


def held() -> None:
    import gc
    import tracemalloc

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from xmuc.c2s.parser import ParserPool, StreamParser
    from xmuc.c2s.stream import makePool
    from xmuc.config import C2SSection
    from xmuc.xmlstream import StreamError

    class Handler:
        def streamStarted(self, root: object) -> None:
            pass

        def elementReceived(self, element: object) -> None:
            pass

        def streamEnded(self) -> None:
            pass

    pool: ParserPool = makePool(C2SSection())
    attributes = b"<a " + b" ".join(b"b%d=''" % i for i in range(31)) + b"/>"
    cases = [
        ("before authentication, 99 <a/>", pool.preauth, b"<a/>" * 99),
        ("authenticated, 4,999 <a/>", pool.limits, b"<a/>" * 4999),
        ("authenticated, <a/> with 31 attributes to 256 KB", pool.limits,
         attributes * (pool.limits.maxStanzaSize // len(attributes) - 1)),
    ]
    for label, limits, body in cases:
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.take_snapshot()
        parser = StreamParser(Handler(), pool, limits)
        parser.parse(HEADER.split(b"?>", 1)[1])
        data = b"<message>" + body
        try:
            parser.parse(data)
        except StreamError as e:
            print(f"  ({label}: {e.condition} {e.text})")
        gc.collect()
        after = tracemalloc.take_snapshot()
        tracemalloc.stop()
        size = sum(s.size_diff for s in after.compare_to(before, "filename"))
        print(f"{label}: {len(data):,} bytes sent, {size / 1024:,.0f} KiB held")
        del parser


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=("nested", "stalled-tls", "held"))
    parser.add_argument("--repo", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parser.add_argument("--connections", type=int)
    parser.add_argument("--depth", type=int, default=85000)
    parser.add_argument("--shape", choices=("nested", "flat", "attributes"), default="nested")
    parser.add_argument("--wait", type=float, default=50)
    parser.add_argument("--c2s", action="append", default=[], help="a line for [c2s]")
    args = parser.parse_args()
    if args.what == "held":
        held()
        return
    with tempfile.TemporaryDirectory(prefix="xmuc-limits-") as directory:
        node = Node(args.repo, directory, args.c2s)
        node.start()
        try:
            if args.what == "nested":
                asyncio.run(nested(node, args.connections or 20, args.depth, args.shape))
            else:
                asyncio.run(stalled(node, args.connections or 500, args.wait))
        finally:
            node.stop()


if __name__ == "__main__":
    main()
