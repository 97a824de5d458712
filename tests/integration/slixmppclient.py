"""
A small slixmpp client run in a subprocess by L{tests.integration.test_oldclients},
so that a slixmpp release other than the one installed (1.8.3, from the
directory .ci/run installs it into) can be put first on its C{PYTHONPATH}.

    python slixmppclient.py JID PASSWORD PORT CAFILE TO BODY [MAX_TLS]

It logs in over STARTTLS to 127.0.0.1:PORT trusting CAFILE, sends BODY to
TO, disconnects, and writes one JSON line per step on standard output:
C{{"event": "session", "version": ..., "mechanism": ...}}, then
C{{"event": "sent"}}; or C{{"event": "failed"}} and exit status 1.
MAX_TLS C{1.2} caps the client at TLS 1.2. The whole run is bounded.
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

    jid, password, port, cafile, to, body = argv[:6]
    client = slixmpp.ClientXMPP(jid, password)
    context = ssl.create_default_context(cafile=cafile)
    if argv[6:] == ["1.2"]:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    client.ssl_context = context
    done: asyncio.Future = asyncio.get_event_loop().create_future()

    def sessionStarted(event: object) -> None:
        mechanism = client.plugin["feature_mechanisms"].mech
        report(
            event="session",
            version=slixmpp.__version__,
            mechanism=getattr(mechanism, "name", None),
            tls=client.socket.version() if hasattr(client.socket, "version") else None,
        )
        client.send_message(mto=to, mbody=body, mtype="chat")
        report(event="sent")
        if not done.done():
            done.set_result(0)

    def failed(event: object) -> None:
        report(event="failed")
        if not done.done():
            done.set_result(1)

    client.add_event_handler("session_start", sessionStarted)
    client.add_event_handler("failed_all_auth", failed)
    client.add_event_handler("disconnected", lambda event: failed(event))
    if slixmpp.__version__.startswith("1.8."):
        client.connect(("127.0.0.1", int(port)))
    else:
        client.connect("127.0.0.1", int(port))
    status = await asyncio.wait_for(done, 20)
    if status == 0:
        await asyncio.wait_for(client.disconnect(wait=2), 5)
    return status


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
