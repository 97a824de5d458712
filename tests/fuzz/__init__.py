"""
Fuzz tests: streams built by hypothesis from valid and mutated stanzas
(L{tests.fuzz.strategies}), fed into real stream objects over
L{StringTransport}s, and checked against L{tests.fuzz.oracle}; plus the
log watch they share.

The number of examples is bounded and derandomised so that CI runs the
same cases each time, well under a minute; C{bench/fuzz.py} drives the
same strategies against a live node for a long run.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, settings
from twisted.logger import LogLevel, formatEvent, globalLogPublisher

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
