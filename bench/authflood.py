"""
Password-guessing flood: how many failed logins per second one address
gets against one account, and what the flood does to another user's ping
round trip.

Usage::

    /tmp/venv/bin/python bench/authflood.py [--tree DIR] [--seconds 10]
        [--attackers 4] [--no-throttle]

Starts a node from the checkout C{--tree} (default: this one; pass
/work/main to measure before) on a loopback port with STARTTLS required,
creates alice (the target) and bob, logs bob in, and measures bob's ping
round trip to the server (XEP-0199) first idle, then while C{--attackers}
connections from 127.0.0.1 send SASL PLAIN with wrong passwords for alice
as fast as the node answers (reconnecting when it closes them). Answers are
counted by kind: C{not-authorized} (a password was checked) and
C{temporary-auth-failure} (refused by the throttle). C{--no-throttle} turns
the throttle off (trees that have it), to see the effect of hashing off the
reactor thread alone. The node is stopped by its PID. No assertions.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from c2s import (  # noqa: E402
    HOST,
    PASSWORD,
    PYTHON,
    VENV_BIN,
    Client,
    XMPPError,
    clientTLSContext,
    freePort,
    processCPU,
    stopProcess,
    waitForPort,
)

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"


def startNode(tree: str, directory: str, throttle: bool) -> tuple[subprocess.Popen, int]:
    port = freePort()
    extra = ""
    with open(os.path.join(tree, "xmuc", "config.py")) as f:
        hasThrottle = "auth_failures_per_address" in f.read()
    if hasThrottle and not throttle:
        extra = "auth_failures_per_address = 0\nauth_failures_per_account = 0\n"
    config = os.path.join(directory, "node.ini")
    with open(config, "w") as f:
        f.write(
            f"[node]\ndata_dir = {directory}/data\n[c2s]\nlisten = {HOST}:{port}\n"
            f"rate_limit = 0\nauth_timeout = 3600\n{extra}[s2s]\nlisten =\n"
        )
    environment = dict(os.environ, PYTHONPATH=tree)
    for user in ("alice", "bob"):
        subprocess.run(
            [PYTHON, "-c", "from xmuc.admin import main; main()", "-c", config,
             "adduser", f"{user}@localhost"],
            input=PASSWORD + "\n", text=True, check=True, capture_output=True,
            env=environment, timeout=60,
        )
    log = open(os.path.join(directory, "xmuc.log"), "ab")
    process = subprocess.Popen(
        [os.path.join(VENV_BIN, "twistd"), "-n", "--pidfile=", "--logfile",
         os.path.join(directory, "xmuc.log"), "xmuc", "-c", config],
        cwd=directory, stdout=log, stderr=subprocess.STDOUT, env=environment,
    )
    waitForPort(port, process)
    return process, port


async def attacker(port: int, deadline: float, counts: dict[str, int]) -> None:
    """
    PLAIN with wrong passwords for alice until C{deadline}.
    """
    context = clientTLSContext()
    guess = 0
    while time.monotonic() < deadline:
        try:
            client = await Client.connect(port)
            await client.features()
            client.send(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
            await client.next()
            await client.writer.start_tls(context, server_hostname="localhost")
            await client.features()
            while time.monotonic() < deadline:
                guess += 1
                data = base64.b64encode(f"\0alice\0guess{guess}".encode()).decode()
                client.send(f"<auth xmlns='{NS_SASL}' mechanism='PLAIN'>{data}</auth>".encode())
                answer = await client.next()
                if answer.name != "failure":
                    counts[answer.name] = counts.get(answer.name, 0) + 1
                    break
                condition = answer.children[0].name if answer.children else "?"
                counts[condition] = counts.get(condition, 0) + 1
        except (XMPPError, ConnectionError, OSError):
            counts["reconnects"] = counts.get("reconnects", 0) + 1
        else:
            await client.close()


async def pinger(client: Client, until: float, rtts: list[float]) -> None:
    """
    Bob pings the server every 50 ms until C{until}.
    """
    number = 0
    while time.monotonic() < until:
        number += 1
        started = time.monotonic()
        client.send(
            f"<iq type='get' id='p{number}' to='localhost'><ping xmlns='urn:xmpp:ping'/></iq>"
            .encode()
        )
        while True:
            answer = await asyncio.wait_for(client.next(), 60)
            if answer.name == "iq" and answer.attrs.get("id") == f"p{number}":
                break
        rtts.append((time.monotonic() - started) * 1000)
        await asyncio.sleep(0.05)


def summary(rtts: list[float]) -> str:
    if not rtts:
        return "no pings"
    ordered = sorted(rtts)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    return (
        f"median {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms, "
        f"max {ordered[-1]:.1f} ms ({len(ordered)} pings)"
    )


async def run(port: int, pid: int, seconds: float, attackers: int) -> None:
    bob = await Client.connect(port)
    await bob.login("bob", "desk", True, clientTLSContext())
    idle: list[float] = []
    await pinger(bob, time.monotonic() + 3, idle)
    counts: dict[str, int] = {}
    flooded: list[float] = []
    cpu = processCPU(pid)
    started = time.monotonic()
    deadline = started + seconds
    await asyncio.gather(
        pinger(bob, deadline, flooded),
        *(attacker(port, deadline, counts) for _ in range(attackers)),
    )
    elapsed = time.monotonic() - started
    cpu = processCPU(pid) - cpu
    await bob.close()
    checked = counts.get("not-authorized", 0)
    refused = counts.get("temporary-auth-failure", 0)
    print(f"failed logins (password checked): {checked / elapsed:.1f}/s ({checked} in {elapsed:.1f} s)")
    print(f"refused by the throttle:         {refused / elapsed:.1f}/s ({refused})")
    print(f"other answers: { {k: v for k, v in counts.items() if k not in ('not-authorized', 'temporary-auth-failure')} }")
    print(f"node CPU during the flood: {cpu:.1f} s of {elapsed:.1f} s")
    print(f"bob's ping idle:        {summary(idle)}")
    print(f"bob's ping under flood: {summary(flooded)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", default=HERE)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--attackers", type=int, default=4)
    parser.add_argument("--no-throttle", action="store_true")
    args = parser.parse_args()
    directory = tempfile.mkdtemp(prefix="xmuc-authflood-")
    process, port = startNode(os.path.abspath(args.tree), directory, not args.no_throttle)
    print(f"tree {args.tree}, {args.attackers} attackers, {args.seconds:g} s"
          + (", throttle off" if args.no_throttle else ""))
    try:
        asyncio.run(run(port, process.pid, args.seconds, args.attackers))
    finally:
        stopProcess(process)


if __name__ == "__main__":
    main()
