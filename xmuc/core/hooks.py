# -*- test-case-name: tests.test_node -*-
"""
Named events with ordered handlers: the registration points feature
modules hook into (Prosody's events with priorities).
"""

from __future__ import annotations

from typing import Any, Callable

#: A hook's handlers, highest priority first: C{(priority, handler)}.
HandlerList = list[tuple[int, Callable[..., Any]]]


class Hooks:
    """
    Named events with ordered handlers.
    """

    def __init__(self) -> None:
        self._handlers: dict[str, HandlerList] = {}

    def add(self, name: str, handler: Callable[..., Any], priority: int = 0) -> None:
        """
        Run C{handler} for event C{name}; higher priorities run first.
        """
        handlers = self.handlers(name)
        handlers.append((priority, handler))
        # In place: whoever holds the list (L{handlers}) sees the change.
        handlers.sort(key=lambda entry: -entry[0])

    def handlers(self, name: str) -> HandlerList:
        """
        The live list of C{name}'s handlers, for a hot path that tests
        its truth before it pays for a call (the router's C{route-remote}):
        the same list object for the life of the hooks, changed in place.
        """
        return self._handlers.setdefault(name, [])

    def notify(self, name: str, *args: Any) -> None:
        """
        Call every handler of C{name} in order, whatever they return: for
        events that every feature must see (C{node-started},
        C{node-stopping}), where L{fire}'s first-answer-wins would skip the
        handlers after one that happens to return a value (a Deferred).
        """
        for _, handler in list(self._handlers.get(name, ())):
            handler(*args)

    def fire(self, name: str, *args: Any) -> Any:
        """
        Call the handlers of C{name} in order until one returns a true
        value, and return that value (or L{None}).
        """
        for _, handler in self._handlers.get(name, ()):
            result = handler(*args)
            if result:
                return result
        return None
