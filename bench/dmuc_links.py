"""
What a room on node A costs the s2s link to node B, with N occupants on B
and two on A: stanzas and bytes from A to B per room message and per
join, through B's replica (C{[dmuc] enabled}) and classically (one copy
per occupant), side by side in one run.

Usage::

    PYTHONPATH=. /tmp/venv/bin/python bench/dmuc_links.py [--sizes 10,100]

Runs whole nodes on the multi-node harness (tests/support/fakenet.py:
real routers and s2s streams, in-memory links, one clock), so the counts
are those of real streams; no time is measured. "join" is the last of the
N users of B entering (the room then holds N+1 occupants); "first join"
is B's first user (with DMUC, the attach and the room's snapshot).
"""

from __future__ import annotations

import argparse
from typing import Any

from tests.support.fakenet import FakeNetwork

ROOM = "room@muc.a.test"
MUC = "http://jabber.org/protocol/muc"


def _delta(net: FakeNetwork, step: Any) -> tuple[int, int]:
    mark = len(net.events)
    step()
    net.flush()
    return net.traffic(mark).get(("a.test", "b.test"), (0, 0))


def measure(size: int, dmuc: bool) -> dict[str, tuple[int, int]]:
    # No room limits: 1000 occupants on B plus two on A.
    config = "[muc]\nlimits = false\n" + ("[dmuc]\nenabled = true\n" if dmuc else "")
    net = FakeNetwork(("a.test", "b.test"), seed=1, config=config)
    owner, amy = net.login("owner@a.test"), net.login("amy@a.test")
    owner.send(f"<presence to='{ROOM}/Owner'><x xmlns='{MUC}'/></presence>")
    owner.send(f"<iq type='set' id='c' to='{ROOM}'><query xmlns='{MUC}#owner'>"
               "<x xmlns='jabber:x:data' type='submit'/></query></iq>")
    amy.send(f"<presence to='{ROOM}/Amy'><x xmlns='{MUC}'/></presence>")
    net.flush()
    users = [net.login(f"u{n}@b.test") for n in range(size)]
    figures: dict[str, tuple[int, int]] = {}
    for n, user in enumerate(users):
        figure = _delta(net, lambda: user.send(
            f"<presence to='{ROOM}/u{n}'><x xmlns='{MUC}'/></presence>"))
        if n == 0:
            figures["first join"] = figure
        figures["join"] = figure
        for client in (owner, amy, user):
            client.received()
    figures["message"] = _delta(net, lambda: owner.send(
        f"<message type='groupchat' to='{ROOM}' id='m'><body>hello</body></message>"))
    figures["presence"] = _delta(net, lambda: amy.send(
        f"<presence to='{ROOM}/Amy'><show>away</show></presence>"))
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,100", help="occupants on B, comma separated")
    args = parser.parse_args()
    print(f"{'N on B':>7} {'what':>11} {'classic stanzas':>16} {'bytes':>8} "
          f"{'dmuc stanzas':>13} {'bytes':>8}")
    for size in (int(s) for s in args.sizes.split(",")):
        classic, dmuc = measure(size, False), measure(size, True)
        for what in ("first join", "join", "message", "presence"):
            (cs, cb), (ds, db) = classic[what], dmuc[what]
            print(f"{size:>7} {what:>11} {cs:>16} {cb:>8} {ds:>13} {db:>8}")


if __name__ == "__main__":
    main()
