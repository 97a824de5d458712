"""
Fuzz tests: streams built by hypothesis from valid and mutated stanzas,
fed into real stream objects over L{StringTransport}s and checked against
L{tests.fuzz.oracle}; and the helpers they share (the log watch, feeding a
client stream, the second client that must still be served).

L{tests.fuzz.pieces} has what the strategies draw and the RFC 6120 tables,
L{tests.fuzz.stanzas} the single stanzas, L{tests.fuzz.strategies} the
streams. The number of examples is bounded and derandomised so that CI
runs the same cases each time in seconds; C{bench/fuzz.py} drives the same
strategies against a live node for a long run.
"""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING, Any

from hypothesis import HealthCheck, settings
from twisted.logger import LogLevel, formatEvent, globalLogPublisher

from tests.c2s import StreamClient
from tests.fuzz.pieces import Piece, chunks

if TYPE_CHECKING:
    from tests.support.harness import Harness

#: The settings every fuzz test shares (see L{fuzz}).
FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.large_base_example],
)


def fuzz(examples: int) -> settings:
    """
    The fuzz settings with C{examples} examples.
    """
    return settings(FUZZ, max_examples=examples)


class LogWatch:
    """
    Collects the log events that mean something went wrong: a logged
    failure (traceback) or an event at error level or above.

        with LogWatch() as watch:
            ...
        assert not watch.problems
    """

    def __init__(self) -> None:
        self.problems: list[str] = []

    def __call__(self, event: dict[str, Any]) -> None:
        failure = event.get("log_failure")
        level = event.get("log_level")
        if failure is not None:
            self.problems.append(f"{formatEvent(event)}\n{failure.getTraceback()}")
        elif level is not None and level >= LogLevel.error:
            self.problems.append(formatEvent(event))

    def __enter__(self) -> "LogWatch":
        globalLogPublisher.addObserver(self)
        return self

    def __exit__(self, *exc: Any) -> None:
        globalLogPublisher.removeObserver(self)


def renumber(pieces: list[Piece]) -> list[Piece]:
    """
    The pieces with unique ids (so that each answer names one piece).
    """
    return [piece.withId(f"p{index}") for index, piece in enumerate(pieces)]


def feed(client: StreamClient, data: bytes, points: list[int]) -> list[str]:
    """
    Send C{data} to the stream in reads cut at C{points}, until the stream
    closes; an exception out of the stream is a problem.
    """
    for chunk in chunks(data, points):
        if client.stream.closed:
            break
        try:
            client.send(chunk)
        except Exception:
            return ["exception out of dataReceived:\n" + traceback.format_exc()]
    return []


def received(client: StreamClient) -> tuple[list, list[str]]:
    """
    What the node wrote, parsed; output that does not parse is a problem.
    """
    try:
        return client.received(), []
    except Exception:
        return [], ["the node wrote what does not parse:\n" + traceback.format_exc()]


def stillServing(harness: Harness, domain: str = "localhost") -> list[str]:
    """
    A well-behaved client (carol, password secret) logs in and gets its
    ping answered.
    """
    client = StreamClient(harness)
    try:
        client.open(domain)
        _, answer = client.scram("carol", "secret")
        assert answer.name == "success", answer.toXml()
        client.open(domain)
        assert client.bind("check")["type"] == "result"
        client.send(f"<iq type='get' id='check' to='{domain}'><ping xmlns='urn:xmpp:ping'/></iq>")
        reply = client.receivedOne()
    except Exception:
        return ["a second client was not served:\n" + traceback.format_exc()]
    if reply.getAttribute("type") != "result" or reply.getAttribute("id") != "check":
        return [f"a second client's ping got {reply.toXml()}"]
    return []
