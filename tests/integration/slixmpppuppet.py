# -*- test-case-name: tests.integration.test_dmuc -*-
"""
A slixmpp client driven over pipes, run in a subprocess by
L{tests.integration.test_dmuc} so that an older slixmpp release (1.8.3,
put first on its C{PYTHONPATH}) can take part in a scripted session.

    python slixmpppuppet.py JID PASSWORD PORT CAFILE

It logs in over STARTTLS to 127.0.0.1:PORT trusting CAFILE and sends its
initial presence (with a fixed id, so that runs compare). It writes one
JSON line on standard output per step: C{{"event": "session", "version":
...}} once logged in, and
C{{"event": "stanza", "xml": ...}} for every top-level element it receives
from then on (the raw XML as slixmpp parsed it, before any handler).
Each line read on standard input is JSON, C{{"send": XML}} (written to the
stream as it is) or C{{"quit": true}}. It ends on "quit", on end of input,
when the stream closes, or after 60 seconds, whichever comes first.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import sys


def report(**fields: object) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


async def main(argv: list[str]) -> int:
    import slixmpp
    from slixmpp.xmlstream import tostring

    jid, password, port, cafile = argv[:4]
    client = slixmpp.ClientXMPP(jid, password)
    client.ssl_context = ssl.create_default_context(cafile=cafile)
    loop = asyncio.get_event_loop()
    done: asyncio.Future = loop.create_future()
    recording = [False]
    parse = client.incoming_filter

    def incoming(xml: object) -> object:
        if recording[0]:
            report(event="stanza", xml=tostring(xml))
        return parse(xml)

    client.incoming_filter = incoming

    def sessionStarted(event: object) -> None:
        recording[0] = True
        client.send_raw("<presence id='initial'/>")
        report(event="session", version=slixmpp.__version__)

    def finish(status: int) -> None:
        if not done.done():
            done.set_result(status)

    def command() -> None:
        line = sys.stdin.readline()
        if not line:
            finish(0)
            return
        order = json.loads(line)
        if order.get("quit"):
            finish(0)
        else:
            client.send_raw(order["send"])

    client.add_event_handler("session_start", sessionStarted)
    client.add_event_handler("failed_all_auth", lambda event: finish(1))
    client.add_event_handler("disconnected", lambda event: finish(1))
    loop.add_reader(sys.stdin.fileno(), command)
    if slixmpp.__version__.startswith("1.8."):
        client.connect(("127.0.0.1", int(port)))
    else:
        client.connect("127.0.0.1", int(port))
    status = await asyncio.wait_for(done, 60)
    loop.remove_reader(sys.stdin.fileno())
    if status == 0:
        await asyncio.wait_for(client.disconnect(wait=2), 5)
    return status


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
