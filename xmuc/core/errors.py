# -*- test-case-name: tests.core.test_errors -*-
"""
Domain exceptions and the one table that maps them to XMPP stanza errors.

Logic raises the exceptions below (or a L{StanzaError} directly when the
XMPP condition is the natural name); the glue answers the stanza with
L{errorReply}. Anything else becomes C{internal-server-error} and is logged
with its traceback by the caller.
"""

from __future__ import annotations

from twisted.words.protocols.jabber.error import StanzaError
from twisted.words.xish import domish

from xmuc.core.jid import InvalidJID


class UserExists(Exception):
    """
    An account with that username exists already.
    """


class UnknownUser(Exception):
    """
    An operation named an account that does not exist.
    """


class NotAllowed(Exception):
    """
    The requester may not do this.
    """


class Forbidden(Exception):
    """
    The requester lacks the rights (for example, not an admin).
    """


class BadRequest(Exception):
    """
    The request is malformed.
    """


class Conflict(Exception):
    """
    The request clashes with existing state (a nickname in use, the last
    owner of a room).
    """


class NotAuthorized(Exception):
    """
    A credential is missing or wrong (a room password).
    """


class RegistrationRequired(Exception):
    """
    Only registered users may do this (a members-only room).
    """


class NotAcceptable(Exception):
    """
    The request does not meet the entity's criteria (a locked-down
    nickname, a configuration the service will not take, a sender that is
    not an occupant).
    """


class ItemNotFound(Exception):
    """
    The addressed thing does not exist (a room, an occupant).
    """


class ServiceUnavailable(Exception):
    """
    The entity does not offer this, or not to this sender.
    """


class Full(ServiceUnavailable):
    """
    A limit on occupants or rooms is reached; trying later may work.
    """


class PolicyViolation(Exception):
    """
    The stanza breaks a local policy (an oversize body or subject).
    """


class Flooding(PolicyViolation):
    """
    The sender sends faster than allowed; trying later works.
    """


_ERROR_MAP: dict[type, tuple[str, str | None]] = {
    InvalidJID: ("jid-malformed", "modify"),
    UnknownUser: ("item-not-found", "cancel"),
    UserExists: ("conflict", "cancel"),
    NotAllowed: ("not-allowed", "cancel"),
    Forbidden: ("forbidden", "auth"),
    BadRequest: ("bad-request", "modify"),
    Conflict: ("conflict", "cancel"),
    NotAuthorized: ("not-authorized", "auth"),
    RegistrationRequired: ("registration-required", "auth"),
    NotAcceptable: ("not-acceptable", "cancel"),
    ItemNotFound: ("item-not-found", "cancel"),
    Full: ("service-unavailable", "wait"),
    ServiceUnavailable: ("service-unavailable", "cancel"),
    Flooding: ("policy-violation", "wait"),
    PolicyViolation: ("policy-violation", "modify"),
}


#: The exceptions the table maps: expected outcomes, not failures to log.
DOMAIN_ERRORS: tuple[type, ...] = tuple(_ERROR_MAP)


def toStanzaError(exc: BaseException) -> StanzaError:
    """
    The stanza error for an exception: itself when it is one, the mapped
    condition for a domain exception, C{internal-server-error} otherwise.
    """
    if isinstance(exc, StanzaError):
        return exc
    for cls in type(exc).__mro__:
        if cls in _ERROR_MAP:
            condition, errorType = _ERROR_MAP[cls]
            text = str(exc) or None
            return StanzaError(condition, errorType, text)
    return StanzaError("internal-server-error", "wait")


def isError(stanza: domish.Element) -> bool:
    """
    C{True} for stanzas that must never be answered with an error.
    """
    kind = stanza.getAttribute("type")
    return kind == "error" or (stanza.name == "iq" and kind == "result")


def errorReply(
    stanza: domish.Element, condition: str, text: str | None = None
) -> domish.Element | None:
    """
    The error answer to a stanza, or L{None} when the stanza is itself an
    error or an IQ result (RFC 6120 section 8.3.1: never answer those).
    """
    return exceptionReply(stanza, StanzaError(condition, text=text))


def exceptionReply(
    stanza: domish.Element, exc: BaseException
) -> domish.Element | None:
    """
    The error answer to a stanza for a raised exception, or L{None} as for
    L{errorReply}.
    """
    if isError(stanza):
        return None
    reply = toStanzaError(exc).toResponse(stanza)
    if stanza.name == "iq":
        # An IQ error carries no copy of the request's payload beyond what
        # clients need to match it; keep it small.
        reply.children = [c for c in reply.children if c.name == "error"]
    return reply
