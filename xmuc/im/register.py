# -*- test-case-name: tests.im.test_register -*-
"""
XEP-0077 In-Band Registration.

  - Before authentication, and only when C{[services] registration} is on:
    the stream advertises C{<register/>}; a C{get} returns the fields to
    fill in and a C{set} creates the account (one per stream). The username
    is PRECIS-prepared as a localpart and the password with the
    OpaqueString profile; a taken username is a C{conflict}, an empty or
    invalid one C{not-acceptable}. Registration before TLS, where TLS is
    required, is refused.
  - After authentication, whatever the configuration, to the server or to
    the account itself: a C{set} with a new password changes it, and a
    C{set} with C{<remove/>} deletes the account, then ends all its streams
    with the stream error C{not-authorized}.
"""

from __future__ import annotations

import weakref
from typing import Any

import precis_i18n
from twisted.words.protocols.jabber.error import StanzaError
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish

from xmuc.c2s.derivation import DerivationBusy
from xmuc.c2s.sasl import makeCredentials
from xmuc.core.jid import InvalidJID, parseJID, prepLocalpart

NS_REGISTER = "jabber:iq:register"
NS_REGISTER_FEATURE = "http://jabber.org/features/iq-register"

_opaque = precis_i18n.get_profile("OpaqueString")


def preparePassword(text: str) -> str:
    """
    Enforce the OpaqueString profile (RFC 8265 section 4.2) on a password.

    @raise StanzaError: C{not-acceptable} when it is empty or invalid.
    """
    try:
        prepared = _opaque.enforce(text)
    except UnicodeError:
        raise StanzaError("not-acceptable", text="the password is not valid")
    if not prepared:
        raise StanzaError("not-acceptable", text="the password is empty")
    return prepared


def prepareUsername(text: str) -> str:
    """
    Prepare a requested username as a localpart.

    @raise StanzaError: C{not-acceptable} when it is empty or invalid.
    """
    try:
        return prepLocalpart(text)
    except InvalidJID as e:
        raise StanzaError("not-acceptable", text=str(e))


def _fieldText(query: domish.Element, name: str) -> str | None:
    for child in query.elements(NS_REGISTER, name):
        return str(child)
    return None


async def deleteAccount(node: Any, username: str) -> None:
    """
    Delete an account and, once the current answer is out, end all its
    streams with C{not-authorized}.
    """
    await node.store.deleteUser(username)
    node.hooks.fire("account-deleted", username)
    bare = f"{username}@{node.domain}"

    def closeStreams() -> None:
        for session in list(node.router.sessionsOf(bare)):
            session.stream.streamError("not-authorized", "the account was removed")

    node.clock.callLater(0, closeStreams)


class Registration:
    """
    The registration handlers and the stream feature.
    """

    def __init__(self, node: Any) -> None:
        self.node = node
        self.enabled = node.config.services.registration
        self._registered: weakref.WeakSet[Any] = weakref.WeakSet()

    # Before authentication

    def streamFeature(self, stream: Any) -> domish.Element | None:
        if self.enabled and getattr(stream, "state", "auth") == "auth":
            return domish.Element((NS_REGISTER_FEATURE, "register"))
        return None

    def _checkOpen(self, stream: Any) -> None:
        if not self.enabled:
            raise StanzaError("service-unavailable", text="registration is closed")
        if getattr(stream, "state", "auth") == "tls":
            raise StanzaError("not-authorized", text="start TLS first")

    def form(self, iq: domish.Element, sender: Any, stream: Any) -> domish.Element:
        """
        The fields a new account needs.
        """
        self._checkOpen(stream)
        query = domish.Element((NS_REGISTER, "query"))
        query.addElement(
            "instructions", content="Choose a username and password for your new account."
        )
        query.addElement("username")
        query.addElement("password")
        return query

    async def create(self, iq: domish.Element, sender: Any, stream: Any) -> None:
        """
        Create the account the form asks for.
        """
        self._checkOpen(stream)
        query = iq.firstChildElement()
        if any(query.elements(NS_REGISTER, "remove")):
            raise StanzaError("not-allowed", text="log in to remove an account")
        if stream in self._registered:
            raise StanzaError("not-allowed", text="one account per connection")
        username = prepareUsername(_fieldText(query, "username") or "")
        password = preparePassword(_fieldText(query, "password") or "")
        if self.node.router.entity(f"{username}@{self.node.domain}") is not None:
            raise StanzaError("conflict", text="that username is reserved")
        # Taken before the store answers, so that two requests in flight
        # on one stream cannot both create an account.
        self._registered.add(stream)
        try:
            credentials = await self._credentials(password)
            await self.node.store.createUser(username, credentials)
        except BaseException:
            self._registered.discard(stream)
            raise
        return None

    # After authentication

    def _account(self, iq: domish.Element, sender: JID) -> str:
        """
        The username of the sender, who must address the server or its own
        account.
        """
        if sender.host != self.node.domain or sender.user is None:
            raise StanzaError("forbidden", text="only local accounts")
        to = parseJID(iq["to"])
        if to.user is not None and to.userhost() != sender.userhost():
            raise StanzaError("forbidden", text="only the account itself")
        return sender.user

    def registered(self, iq: domish.Element, sender: JID, session: Any) -> domish.Element:
        """
        A logged-in account is registered already (XEP-0077 section 3.1).
        """
        username = self._account(iq, sender)
        query = domish.Element((NS_REGISTER, "query"))
        query.addElement("registered")
        query.addElement("username", content=username)
        return query

    async def update(self, iq: domish.Element, sender: JID, session: Any) -> None:
        """
        Change the password or cancel the account.
        """
        username = self._account(iq, sender)
        query = iq.firstChildElement()
        if any(query.elements(NS_REGISTER, "remove")):
            await deleteAccount(self.node, username)
            return None
        requested = _fieldText(query, "username")
        if requested is not None and prepareUsername(requested) != username:
            raise StanzaError("bad-request", text="that is not your username")
        password = _fieldText(query, "password")
        if password is None:
            raise StanzaError("bad-request", text="no password given")
        credentials = await self._credentials(preparePassword(password))
        await self.node.store.setCredentials(username, credentials)
        return None

    async def _credentials(self, password: str) -> Any:
        """
        The credentials of a new password, hashed off the reactor thread
        (L{xmuc.c2s.derivation}); C{resource-constraint} when its queue is
        full.
        """
        try:
            return await self.node.keyDerivation.run(makeCredentials, password)
        except DerivationBusy:
            raise StanzaError("resource-constraint", text="the server is busy, try again later")


def install(node: Any) -> Registration:
    registration = Registration(node)
    node.preAuthIQ.register("get", NS_REGISTER, registration.form)
    node.preAuthIQ.register("set", NS_REGISTER, registration.create)
    for dispatcher in (node.serverIQ, node.accountIQ):
        dispatcher.register("get", NS_REGISTER, registration.registered)
        dispatcher.register("set", NS_REGISTER, registration.update)
    node.streamFeatures.append(registration.streamFeature)
    node.serverFeatures.add(NS_REGISTER)
    return registration
