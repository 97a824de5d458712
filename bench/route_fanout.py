"""
Room fan-out to remote occupants, in process: what one groupchat message
costs the node when its room has N occupants on another server.

Usage::

    PYTHONPATH=. /tmp/venv/bin/python bench/route_fanout.py [--occupants N] [--messages M]

A single node (tests/support/harness.py: memory store, task.Clock, no
sockets) with a sink standing in for s2s that keeps nothing; N occupants
join from b.example as if over s2s, one local user talks. Prints the best
of 5 runs, in microseconds per message and nanoseconds per remote
recipient. Run it on two trees to compare the router's share; nothing here
is a test.
"""

from __future__ import annotations

import argparse
import gc
import time

from tests.support.harness import Harness, parseStanza


class Null:
    def receive(self, stanza, to):
        pass


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--occupants", type=int, default=500)
    parser.add_argument("--messages", type=int, default=200)
    options = parser.parse_args()
    h = Harness()
    h.node.router.remote = Null()
    alice = h.login("alice")
    alice.send("<presence to='tea@muc.localhost/alice'><x xmlns='http://jabber.org/protocol/muc'/></presence>")
    alice.send("<iq type='set' id='c' to='tea@muc.localhost'><query xmlns="
               "'http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='submit'/>"
               "</query></iq>")
    for i in range(options.occupants):
        h.node.router.route(parseStanza(
            f"<presence from='u{i}@b.example/r' to='tea@muc.localhost/u{i}'>"
            "<x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='0'/></x></presence>"))
    alice.received()
    runs = []
    for _ in range(5):
        gc.collect()
        gc.disable()
        start = time.perf_counter()
        for n in range(options.messages):
            alice.send(f"<message to='tea@muc.localhost' type='groupchat'><body>m{n}</body></message>")
        runs.append((time.perf_counter() - start) / options.messages)
        gc.enable()
        alice.received()
    best = min(runs)
    print(f"{options.occupants} remote occupants: {best * 1e6:8.1f} us per message, "
          f"{best / options.occupants * 1e9:6.0f} ns per remote recipient")


if __name__ == "__main__":
    main()
