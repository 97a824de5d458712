# -*- test-case-name: tests.im.test_adhoc -*-
"""
XEP-0050 Ad-Hoc Commands on the server's JID: the XEP-0133
service-administration commands an administrator runs from a client
(add-user, delete-user, change-user-password, get-online-users-list, also
under the name get-online-users, and announce), and the commands for
everyone: C{ping} (anyone; completes at once with the note "Pong") and
C{change-password} (a local account changing its own password, as
XEP-0077 lets it do in band; form type
C{jabber:iq:register:changepassword}).

Each command says who may run it (L{Command.access}): C{anyone},
C{local} (accounts of this node) or C{admin} (C{[services] admins}). The
command list (disco#items of the commands node) shows each requester the
commands it may run; running, or asking disco#info of, a command one may
not run is C{forbidden}. A command with a form has two stages: C{execute}
answers with the form (status C{executing} and a fresh session id), and the
submitted form completes it (status C{completed} with a note, and a result
form for the lists); a command without one completes at once. A session can be cancelled, is bound to the full JID
that started it, and expires after L{SESSION_LIFETIME} seconds. A request
that carries a submitted form without a session runs in one stage.

The command list is published through the disco module as the items of the
node C{http://jabber.org/protocol/commands}.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from twisted.words.protocols.jabber.error import StanzaError
from twisted.words.protocols.jabber.jid import JID
from twisted.words.xish import domish
from tx_xmpp import data_form
from tx_xmpp.disco import DiscoFeature, DiscoIdentity, DiscoItem

from xmuc.c2s.sasl import makeCredentials
from xmuc.core.jid import InvalidJID, makeJID, parseJID
from xmuc.im.register import deleteAccount, preparePassword
from xmuc.storage.interfaces import UnknownUser

NS_COMMANDS = "http://jabber.org/protocol/commands"
NS_ADMIN = "http://jabber.org/protocol/admin"
#: XEP-0077's form type for a password change.
NS_CHANGE_PASSWORD = "jabber:iq:register:changepassword"

#: Seconds a started command waits for its form.
SESSION_LIFETIME = 600.0
#: Most command sessions kept at once (the oldest are dropped).
MAX_SESSIONS = 1000


@dataclass(frozen=True)
class Outcome:
    """
    What a completed command says: a note and possibly a result form.
    """

    note: str
    form: data_form.Form | None = None


@dataclass(frozen=True)
class Command:
    """
    One command: its node, its name, its form, and what submitting does.
    """

    node: str
    name: str
    fields: Callable[[], list[data_form.Field]] | None
    complete: Callable[[JID, data_form.Form | None], Awaitable[Outcome]]
    access: str = "admin"
    formNamespace: str = NS_ADMIN


@dataclass(frozen=True)
class CommandSession:
    """
    A started command waiting for its form.
    """

    node: str
    owner: str
    started: float


def _commandError(condition: str, specific: str, text: str | None = None) -> StanzaError:
    return StanzaError(
        condition, text=text, appCondition=domish.Element((NS_COMMANDS, specific))
    )


def _badPayload(text: str) -> StanzaError:
    return _commandError("bad-request", "bad-payload", text)


class AdHoc:
    """
    The command dispatcher and the administration commands.
    """

    def __init__(self, node: Any) -> None:
        self.node = node
        self.sessions: dict[str, CommandSession] = {}
        self.commands: dict[str, Command] = {}
        for command in self._userCommands() + self._adminCommands():
            self.commands[command.node] = command

    # Protocol

    async def execute(
        self, iq: domish.Element, sender: JID, session: Any
    ) -> domish.Element:
        request = iq.firstChildElement()
        name = request.getAttribute("node", "")
        command = self.commands.get(name)
        if command is None:
            raise StanzaError("item-not-found", text="no such command")
        self._checkAccess(command, sender)
        action = request.getAttribute("action", "execute")
        sessionId = request.getAttribute("sessionid")
        form = data_form.findForm(request, command.formNamespace)
        self._expire()
        if sessionId is None:
            if action != "execute":
                raise _commandError("bad-request", "bad-action")
            sessionId = self.node.makeId()
            if command.fields is None:
                return await self._complete(command, sessionId, sender, None)
            if form is None or form.formType != "submit":
                self._start(sessionId, name, sender)
                return self._response(name, sessionId, "executing", form=self._form(command))
            return await self._complete(command, sessionId, sender, form)
        started = self.sessions.get(sessionId)
        if started is None or started.node != name or started.owner != sender.full():
            raise _commandError("bad-request", "bad-sessionid")
        if action == "cancel" or (form is not None and form.formType == "cancel"):
            del self.sessions[sessionId]
            return self._response(name, sessionId, "canceled")
        if action not in ("execute", "complete"):
            raise _commandError("bad-request", "bad-action")
        if form is None or form.formType != "submit":
            raise _badPayload("submit the command's form")
        del self.sessions[sessionId]
        return await self._complete(command, sessionId, sender, form)

    def mayRun(self, command: Command, sender: JID) -> bool:
        if command.access == "anyone":
            return True
        if command.access == "local":
            return sender.user is not None and sender.host == self.node.domain
        return self.node.isAdmin(sender)

    def _checkAccess(self, command: Command, sender: JID) -> None:
        if not self.mayRun(command, sender):
            text = "administrators only" if command.access == "admin" else "local accounts only"
            raise StanzaError("forbidden", text=text)

    def _start(self, sessionId: str, name: str, sender: JID) -> None:
        self.sessions[sessionId] = CommandSession(name, sender.full(), self.node.clock.seconds())
        while len(self.sessions) > MAX_SESSIONS:
            del self.sessions[next(iter(self.sessions))]

    def _expire(self) -> None:
        horizon = self.node.clock.seconds() - SESSION_LIFETIME
        for sessionId, started in list(self.sessions.items()):
            if started.started < horizon:
                del self.sessions[sessionId]

    async def _complete(
        self, command: Command, sessionId: str, sender: JID, form: data_form.Form | None
    ) -> domish.Element:
        outcome = await command.complete(sender, form)
        return self._response(
            command.node, sessionId, "completed", note=outcome.note, form=outcome.form
        )

    def _form(self, command: Command) -> data_form.Form:
        return data_form.Form(
            "form",
            title=command.name,
            instructions=["Fill out this form to run the command."],
            formNamespace=command.formNamespace,
            fields=command.fields() if command.fields else [],
        )

    def _response(
        self,
        name: str,
        sessionId: str,
        status: str,
        note: str | None = None,
        form: data_form.Form | None = None,
    ) -> domish.Element:
        response = domish.Element((NS_COMMANDS, "command"))
        response["node"] = name
        response["sessionid"] = sessionId
        response["status"] = status
        if status == "executing":
            actions = response.addElement("actions")
            actions["execute"] = "complete"
            actions.addElement("complete")
        if note:
            response.addElement("note", content=note)["type"] = "info"
        if form is not None:
            response.addChild(form.toElement())
        return response

    # Discovery

    def listInfo(self, requester: JID) -> list[Any]:
        return [DiscoIdentity("automation", "command-list"), DiscoFeature(NS_COMMANDS)]

    def listItems(self, requester: JID) -> list[DiscoItem]:
        """
        The commands the requester may run.
        """
        server = makeJID(None, self.node.domain)
        return [DiscoItem(server, c.node, c.name) for c in self.commands.values()
                if self.mayRun(c, requester)]

    def commandInfo(self, command: Command) -> Callable[[JID], list[Any]]:
        def info(requester: JID) -> list[Any]:
            self._checkAccess(command, requester)
            return [
                DiscoIdentity("automation", "command-node", command.name),
                DiscoFeature(NS_COMMANDS),
                DiscoFeature(data_form.NS_X_DATA),
            ]

        return info

    # The commands for everyone

    def _userCommands(self) -> list[Command]:
        return [
            Command("ping", "Ping", None, self._ping, access="anyone"),
            Command("change-password", "Change Password", _ownPasswordFields,
                    self._changeOwnPassword, access="local", formNamespace=NS_CHANGE_PASSWORD),
        ]

    async def _ping(self, sender: JID, form: data_form.Form | None) -> Outcome:
        return Outcome("Pong")

    async def _changeOwnPassword(self, sender: JID, form: data_form.Form | None) -> Outcome:
        if form is None or sender.user is None:
            raise _badPayload("submit the command's form")
        password = preparePassword(form.get("password") or "")
        if form.get("password-verify") not in (None, form.get("password")):
            raise _badPayload("the passwords differ")
        await self.node.store.setCredentials(sender.user, makeCredentials(password))
        return Outcome(f"Changed the password of {sender.user}@{self.node.domain}.")

    # The XEP-0133 commands

    def _adminCommands(self) -> list[Command]:
        online = Command(
            NS_ADMIN + "#get-online-users-list",
            "Get List of Online Users",
            _maxItemsFields,
            self._onlineUsers,
        )
        return [
            Command(NS_ADMIN + "#add-user", "Add User", _addUserFields, self._addUser),
            Command(
                NS_ADMIN + "#delete-user", "Delete User", _deleteUserFields, self._deleteUser
            ),
            Command(
                NS_ADMIN + "#change-user-password",
                "Change User Password",
                _changePasswordFields,
                self._changePassword,
            ),
            online,
            Command(
                NS_ADMIN + "#get-online-users", "Get Online Users", online.fields, online.complete
            ),
            Command(
                NS_ADMIN + "#announce",
                "Send Announcement to Online Users",
                _announceFields,
                self._announce,
            ),
        ]

    def _localUser(self, text: str | None) -> str:
        try:
            address = parseJID(text or "")
        except InvalidJID:
            raise _badPayload(f"{text!r} is not a JID")
        if address.user is None or address.host != self.node.domain or address.resource:
            raise _badPayload(f"{text} is not an account of {self.node.domain}")
        return address.user

    async def _addUser(self, sender: JID, form: data_form.Form) -> Outcome:
        username = self._localUser(form.get("accountjid"))
        password = preparePassword(form.get("password") or "")
        if form.get("password-verify") not in (None, form.get("password")):
            raise _badPayload("the passwords differ")
        credentials = await self.node.keyDerivation.run(makeCredentials, password)
        await self.node.store.createUser(username, credentials)
        return Outcome(f"Added {username}@{self.node.domain}.")

    async def _deleteUser(self, sender: JID, form: data_form.Form) -> Outcome:
        field = form.fields.get("accountjids")
        if field is None or not field.values:
            raise _badPayload("name the accounts to delete")
        usernames = [self._localUser(value) for value in field.values]
        deleted, unknown = [], []
        for username in usernames:
            try:
                await deleteAccount(self.node, username)
            except UnknownUser:
                unknown.append(username)
            else:
                deleted.append(username)
        note = f"Deleted {len(deleted)} account(s)."
        if unknown:
            note += " No such account: " + ", ".join(unknown) + "."
        return Outcome(note)

    async def _changePassword(self, sender: JID, form: data_form.Form) -> Outcome:
        username = self._localUser(form.get("accountjid"))
        password = preparePassword(form.get("password") or "")
        credentials = await self.node.keyDerivation.run(makeCredentials, password)
        await self.node.store.setCredentials(username, credentials)
        return Outcome(f"Changed the password of {username}@{self.node.domain}.")

    async def _onlineUsers(self, sender: JID, form: data_form.Form) -> Outcome:
        users = sorted(self.node.router.accountsOnline())
        limit = form.get("max_items") or "none"
        if limit != "none":
            try:
                users = users[: int(limit)]
            except ValueError:
                raise _badPayload("max_items is not a number")
        result = data_form.Form("result", formNamespace=NS_ADMIN)
        result.addField(data_form.Field("jid-multi", "onlineuserjids", values=users))
        return Outcome(f"{len(users)} online user(s).", result)

    async def _announce(self, sender: JID, form: data_form.Form) -> Outcome:
        field = form.fields.get("announcement")
        text = "\n".join(field.values) if field is not None else ""
        if not text.strip():
            raise _badPayload("the announcement is empty")
        message = domish.Element((None, "message"))
        message["from"] = self.node.domain
        message["type"] = "headline"
        subject = form.get("subject")
        if subject:
            message.addElement("subject", content=subject)
        message.addElement("body", content=text)
        # Serialised once; only the address differs per recipient.
        tail = message.toXml().encode("utf-8")[len(b"<message"):]
        sessions = list(self.node.router.allSessions())
        for session in sessions:
            address = domish.escapeToXml(session.full, 1)
            session.sendBytes(f"<message to='{address}'".encode("utf-8") + tail)
        return Outcome(f"Sent to {len(sessions)} session(s).")


def _field(
    kind: str, var: str, label: str, required: bool = True, **extra: Any
) -> data_form.Field:
    return data_form.Field(kind, var, label=label, required=required, **extra)


def _addUserFields() -> list[data_form.Field]:
    return [
        _field("jid-single", "accountjid", "The Jabber ID for the account to be added"),
        _field("text-private", "password", "The password for this account"),
        _field("text-private", "password-verify", "Retype password"),
    ]


def _deleteUserFields() -> list[data_form.Field]:
    return [_field("jid-multi", "accountjids", "The Jabber ID(s) to delete")]


def _ownPasswordFields() -> list[data_form.Field]:
    return [
        _field("text-private", "password", "The new password"),
        _field("text-private", "password-verify", "Retype the new password", False),
    ]


def _changePasswordFields() -> list[data_form.Field]:
    return [
        _field("jid-single", "accountjid", "The Jabber ID for this account"),
        _field("text-private", "password", "The password for this account"),
    ]


def _maxItemsFields() -> list[data_form.Field]:
    options = {value: value for value in ("25", "50", "75", "100", "150", "200", "none")}
    label = "Maximum number of items to report"
    return [_field("list-single", "max_items", label, False, value="none", options=options)]


def _announceFields() -> list[data_form.Field]:
    return [
        _field("text-single", "subject", "Subject", False),
        _field("text-multi", "announcement", "Announcement"),
    ]


def install(node: Any) -> AdHoc:
    adhoc = AdHoc(node)
    node.serverIQ.register("set", NS_COMMANDS, adhoc.execute)
    node.serverFeatures.add(NS_COMMANDS)
    disco = node.modules.get("disco")
    if disco is not None:
        disco.addNode(NS_COMMANDS, adhoc.listInfo, adhoc.listItems)
        for command in adhoc.commands.values():
            disco.addNode(command.node, adhoc.commandInfo(command), None)
    return adhoc
