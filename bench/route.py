"""
Router microbenchmark: what the common routing paths cost per stanza.

Usage::

    PYTHONPATH=. /tmp/venv/bin/python bench/route.py [--number N] [--repeat R]

Measures, in process, with sinks that do nothing (so only the router's own
work is timed):

  - remote: C{route()} of a message to a remote full JID (s2s path);
  - fanout: C{deliverSerialised()} to a remote occupant (a room broadcast's
    per-recipient path for remote occupants, which goes through C{route()});
  - local: C{route()} of a message to a local full JID (the domain's sink);
  - component: C{route()} to a room of the MUC service;
  - with-entity / with-pending: the same local route with one local entity
    registered, and with 100 IQ requests pending (where the code has them).

Prints the best of R runs of N calls, in nanoseconds per call. Run it on
two trees (say main and a branch) with the same interpreter to compare;
nothing here is a test.
"""

from __future__ import annotations

import argparse
import gc
import timeit

from twisted.words.xish import domish

from xmuc.core.jid import parseJID
from xmuc.router import Router


class Null:
    def receive(self, stanza, to):
        pass


def message(to: str) -> domish.Element:
    stanza = domish.Element((None, "message"))
    stanza["to"] = to
    stanza["from"] = "alice@a.test/res"
    stanza["type"] = "chat"
    stanza.addElement("body", content="hi")
    return stanza


def cases(router: Router) -> dict[str, object]:
    remote, local, room = (parseJID(j) for j in
                           ("bob@b.test/res", "carol@a.test/res", "room@muc.a.test"))
    toRemote, toLocal, toRoom = message(remote.full()), message(local.full()), message(room.full())
    build = lambda: toRemote
    return {
        "remote": lambda: router.route(toRemote, remote),
        "fanout": lambda: router.deliverSerialised(remote, b"<message/>", build),
        "local": lambda: router.route(toLocal, local),
        "component": lambda: router.route(toRoom, room),
    }


def best(call: object, number: int, repeat: int) -> float:
    gc.disable()
    try:
        return min(timeit.repeat(call, number=number, repeat=repeat)) / number * 1e9
    finally:
        gc.enable()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--number", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=7)
    options = parser.parse_args()
    router = Router("a.test")
    router.local = router.remote = Null()
    router.components["muc.a.test"] = Null()
    for name, call in cases(router).items():
        print(f"{name:12} {best(call, options.number, options.repeat):7.1f} ns")
    if hasattr(router, "addEntity"):
        router.addEntity("dmuc@a.test", Null())
        call = cases(router)["local"]
        print(f"{'with-entity':12} {best(call, options.number, options.repeat):7.1f} ns")
        router.removeEntity("dmuc@a.test")
    if hasattr(router, "awaitAnswers"):
        pending = {f"id{i}": object() for i in range(100)}
        router.awaitAnswers(pending, lambda stanza, to: False)
        call = cases(router)["remote"]
        print(f"{'with-pending':12} {best(call, options.number, options.repeat):7.1f} ns")


if __name__ == "__main__":
    main()
