# -*- test-case-name: tests.im.test_adhoc -*-
"""
Tests for L{xmuc.im.adhoc}: XEP-0050 commands with the XEP-0133
administration commands.
"""

from __future__ import annotations

from twisted.trial import unittest
from tx_xmpp import data_form

from tests.im.test_disco import errorCondition
from tests.im.test_register import passwordWorks
from tests.support.harness import Harness

FEATURES = ("xmuc.im.delivery", "xmuc.im.disco", "xmuc.im.register", "xmuc.im.adhoc")
NS = "http://jabber.org/protocol/commands"
ADMIN = "http://jabber.org/protocol/admin"
ITEMS = "http://jabber.org/protocol/disco#items"
INFO = "http://jabber.org/protocol/disco#info"


def submitForm(values: dict[str, str | list[str]]) -> str:
    """
    A submitted admin form, serialised.
    """
    form = data_form.Form("submit", formNamespace=ADMIN)
    for name, value in values.items():
        if isinstance(value, list):
            form.addField(data_form.Field(None, name, values=value))
        else:
            form.addField(data_form.Field(None, name, value=value))
    return form.toElement().toXml()


def commandSpecific(reply) -> str | None:
    """
    The XEP-0050 specific error condition of an error reply.
    """
    for error in reply.elements():
        if error.name == "error":
            for child in error.elements():
                if child.uri == NS:
                    return child.name
    return None


class AdHocTestMixin:
    def setUp(self) -> None:
        self.harness = Harness(features=FEATURES, config="[services]\nadmins = admin@localhost\n")
        self.admin = self.harness.login("admin")
        self.alice = self.harness.login("alice")

    def command(self, client, name: str, action: str | None = None,
                sessionId: str | None = None, payload: str = ""):
        """
        Send a command request to the server and return the one answer.
        """
        attributes = f" node='{ADMIN}#{name}'"
        if action:
            attributes += f" action='{action}'"
        if sessionId:
            attributes += f" sessionid='{sessionId}'"
        client.send(
            f"<iq type='set' id='c1' to='localhost'><command xmlns='{NS}'{attributes}>"
            f"{payload}</command></iq>"
        )
        received = client.received()
        [reply] = [r for r in received if r.name == "iq"]
        self.assertEqual(reply["id"], "c1")
        self.others = [r for r in received if r is not reply]
        return reply

    def runCommand(self, name: str, values: dict) -> object:
        """
        Execute a command as the admin and submit the form.
        """
        first = self.command(self.admin, name)
        self.assertEqual(first.command["status"], "executing")
        return self.command(
            self.admin, name, "complete", first.command["sessionid"], submitForm(values)
        )

    def disco(self, client, namespace: str, node: str):
        client.send(
            f"<iq type='get' id='d1' to='localhost'><query xmlns='{namespace}' node='{node}'/></iq>"
        )
        [reply] = client.received()
        return reply


class AccessTests(AdHocTestMixin, unittest.TestCase):
    def test_notAdminExecute(self) -> None:
        """
        Somebody who is not an administrator may not run a command.
        """
        reply = self.command(self.alice, "add-user")
        self.assertEqual(errorCondition(reply), "forbidden")

    def test_notAdminList(self) -> None:
        """
        Somebody who is not an administrator lists the commands for
        everyone, and none of the administration commands, whose info is
        forbidden to him.
        """
        reply = self.disco(self.alice, ITEMS, NS)
        nodes = [item["node"] for item in reply.query.elements(ITEMS, "item")]
        self.assertEqual(nodes, ["ping", "change-password"])
        self.assertEqual(errorCondition(self.disco(self.alice, INFO, f"{ADMIN}#announce")),
                         "forbidden")
        reply = self.disco(self.alice, INFO, NS)
        self.assertEqual(reply["type"], "result")

    def test_list(self) -> None:
        """
        An administrator lists the commands through disco#items of the
        commands node.
        """
        reply = self.disco(self.admin, ITEMS, NS)
        nodes = [item["node"] for item in reply.query.elements(ITEMS, "item")]
        self.assertEqual(nodes[:2], ["ping", "change-password"])
        nodes = nodes[2:]
        expected = [
            "add-user", "delete-user", "change-user-password",
            "get-online-users-list", "get-online-users", "announce",
        ]
        self.assertEqual(nodes, [f"{ADMIN}#{name}" for name in expected])
        jids = {item["jid"] for item in reply.query.elements(ITEMS, "item")}
        self.assertEqual(jids, {"localhost"})

    def test_commandInfo(self) -> None:
        """
        A command node is a C{automation/command-node} with the commands
        and data-forms features.
        """
        reply = self.disco(self.admin, INFO, f"{ADMIN}#announce")
        [identity] = list(reply.query.elements(INFO, "identity"))
        self.assertEqual((identity["category"], identity["type"]), ("automation", "command-node"))
        features = {f["var"] for f in reply.query.elements(INFO, "feature")}
        self.assertEqual(features, {NS, "jabber:x:data"})

    def test_feature(self) -> None:
        """
        The server advertises ad-hoc commands.
        """
        self.assertIn(NS, self.harness.node.serverFeatures)

    def test_unknownCommand(self) -> None:
        """
        An unknown command node is C{item-not-found}.
        """
        self.assertEqual(errorCondition(self.command(self.admin, "format-disk")), "item-not-found")


class StagesTests(AdHocTestMixin, unittest.TestCase):
    def test_firstStage(self) -> None:
        """
        Executing a command answers with its form, the executing status,
        a session id and the complete action.
        """
        reply = self.command(self.admin, "add-user")
        command = reply.command
        self.assertEqual(command["status"], "executing")
        self.assertTrue(command["sessionid"])
        self.assertEqual(command.actions["execute"], "complete")
        form = data_form.findForm(command, ADMIN)
        self.assertEqual(form.formType, "form")
        self.assertEqual(list(form.fields), ["accountjid", "password", "password-verify"])

    def test_cancel(self) -> None:
        """
        A cancelled session ends; its id is then unknown.
        """
        first = self.command(self.admin, "add-user").command["sessionid"]
        reply = self.command(self.admin, "add-user", "cancel", first)
        self.assertEqual(reply.command["status"], "canceled")
        again = self.command(self.admin, "add-user", "complete", first, submitForm({}))
        self.assertEqual(errorCondition(again), "bad-request")
        self.assertEqual(commandSpecific(again), "bad-sessionid")

    def test_unknownSession(self) -> None:
        """
        An unknown session id is C{bad-request} with C{bad-sessionid}.
        """
        reply = self.command(self.admin, "add-user", "complete", "nope", submitForm({}))
        self.assertEqual(commandSpecific(reply), "bad-sessionid")

    def test_sessionOfAnotherResource(self) -> None:
        """
        A session belongs to the full JID that started it.
        """
        sessionId = self.command(self.admin, "add-user").command["sessionid"]
        other = self.harness.login("admin", "other")
        reply = self.command(other, "add-user", "complete", sessionId, submitForm({}))
        self.assertEqual(commandSpecific(reply), "bad-sessionid")

    def test_expired(self) -> None:
        """
        A session left alone for more than ten minutes expires.
        """
        sessionId = self.command(self.admin, "add-user").command["sessionid"]
        self.harness.clock.advance(601)
        values = {"accountjid": "x@localhost", "password": "p", "password-verify": "p"}
        reply = self.command(self.admin, "add-user", "complete", sessionId, submitForm(values))
        self.assertEqual(commandSpecific(reply), "bad-sessionid")

    def test_missingForm(self) -> None:
        """
        Completing without the submitted form is C{bad-payload}.
        """
        sessionId = self.command(self.admin, "add-user").command["sessionid"]
        reply = self.command(self.admin, "add-user", "complete", sessionId)
        self.assertEqual(commandSpecific(reply), "bad-payload")

    def test_badAction(self) -> None:
        """
        Actions the commands do not offer are C{bad-action}.
        """
        sessionId = self.command(self.admin, "add-user").command["sessionid"]
        reply = self.command(self.admin, "add-user", "prev", sessionId)
        self.assertEqual(commandSpecific(reply), "bad-action")

    def test_oneStage(self) -> None:
        """
        A request that carries the submitted form runs at once.
        """
        values = {"accountjid": "carol@localhost", "password": "pw", "password-verify": "pw"}
        reply = self.command(self.admin, "add-user", payload=submitForm(values))
        self.assertEqual(reply.command["status"], "completed")
        self.assertTrue(passwordWorks(self.harness, "carol", "pw"))


class AdminCommandTests(AdHocTestMixin, unittest.TestCase):
    def test_addUser(self) -> None:
        """
        add-user creates an account with the given password.
        """
        values = {"accountjid": "carol@localhost", "password": "pw", "password-verify": "pw"}
        reply = self.runCommand("add-user", values)
        self.assertEqual(reply.command["status"], "completed")
        self.assertEqual(reply.command.note["type"], "info")
        self.assertTrue(passwordWorks(self.harness, "carol", "pw"))

    def test_addExisting(self) -> None:
        """
        Adding a taken username is a C{conflict}.
        """
        values = {"accountjid": "alice@localhost", "password": "pw", "password-verify": "pw"}
        self.assertEqual(errorCondition(self.runCommand("add-user", values)), "conflict")

    def test_addMismatch(self) -> None:
        """
        Differing passwords are C{bad-payload}, and nothing is created.
        """
        values = {"accountjid": "carol@localhost", "password": "a", "password-verify": "b"}
        self.assertEqual(commandSpecific(self.runCommand("add-user", values)), "bad-payload")
        self.assertNotIn("carol", self.harness.store.listUsers().result)

    def test_addForeign(self) -> None:
        """
        Accounts of other domains cannot be added.
        """
        values = {"accountjid": "carol@elsewhere.example", "password": "a", "password-verify": "a"}
        self.assertEqual(commandSpecific(self.runCommand("add-user", values)), "bad-payload")

    def test_deleteUser(self) -> None:
        """
        delete-user deletes the accounts and ends their streams; unknown
        ones are named in the note.
        """
        self.harness.createUser("bob")
        accounts = ["alice@localhost", "bob@localhost", "zed@localhost"]
        reply = self.runCommand("delete-user", {"accountjids": accounts})
        self.assertEqual(reply.command["status"], "completed")
        self.assertIn("zed", str(reply.command.note))
        self.assertEqual(self.harness.store.listUsers().result, ["admin"])
        self.harness.clock.advance(0)
        self.assertEqual(self.alice.stream.errors, ["not-authorized"])

    def test_changePassword(self) -> None:
        """
        change-user-password sets a new password.
        """
        values = {"accountjid": "alice@localhost", "password": "n3w"}
        reply = self.runCommand("change-user-password", values)
        self.assertEqual(reply.command["status"], "completed")
        self.assertTrue(passwordWorks(self.harness, "alice", "n3w"))

    def test_changeUnknown(self) -> None:
        """
        Changing the password of an unknown account is C{item-not-found}.
        """
        values = {"accountjid": "zed@localhost", "password": "x"}
        reply = self.runCommand("change-user-password", values)
        self.assertEqual(errorCondition(reply), "item-not-found")

    def test_onlineUsers(self) -> None:
        """
        get-online-users-list answers with a result form of the online
        accounts.
        """
        reply = self.runCommand("get-online-users-list", {"max_items": "none"})
        form = data_form.findForm(reply.command, ADMIN)
        self.assertEqual(form.formType, "result")
        self.assertEqual(
            form.fields["onlineuserjids"].values, ["admin@localhost", "alice@localhost"]
        )

    def test_onlineUsersLimit(self) -> None:
        """
        C{max_items} limits the list; get-online-users is the same command.
        """
        reply = self.runCommand("get-online-users", {"max_items": "1"})
        form = data_form.findForm(reply.command, ADMIN)
        self.assertEqual(form.fields["onlineuserjids"].values, ["admin@localhost"])

    def test_announce(self) -> None:
        """
        announce sends a headline from the domain to every online session.
        """
        other = self.harness.login("alice", "other")
        values = {"subject": "Maintenance", "announcement": ["Down at 5", "Sorry"]}
        reply = self.runCommand("announce", values)
        self.assertEqual(reply.command["status"], "completed")
        for client, full in ((self.alice, "alice@localhost/res"), (other, "alice@localhost/other")):
            [message] = client.received()
            self.assertEqual(
                (message["from"], message["to"], message["type"]), ("localhost", full, "headline")
            )
            self.assertEqual(str(message.subject), "Maintenance")
            self.assertEqual(str(message.body), "Down at 5\nSorry")
        [message] = self.others
        self.assertEqual(message["to"], "admin@localhost/res")

    def test_emptyAnnouncement(self) -> None:
        """
        An empty announcement is C{bad-payload} and sends nothing.
        """
        reply = self.runCommand("announce", {"announcement": [""]})
        self.assertEqual(commandSpecific(reply), "bad-payload")
        self.assertEqual(self.alice.received(), [])


class UserCommandTests(AdHocTestMixin, unittest.TestCase):
    """
    The commands everyone may run.
    """

    def execute(self, client, node: str, action: str | None = None,
            sessionId: str | None = None, payload: str = ""):
        attributes = f" node='{node}'"
        if action:
            attributes += f" action='{action}'"
        if sessionId:
            attributes += f" sessionid='{sessionId}'"
        client.send(f"<iq type='set' id='u1' to='localhost'><command xmlns='{NS}'{attributes}>"
                    f"{payload}</command></iq>")
        [reply] = client.received()
        self.assertEqual(reply["id"], "u1")
        return reply

    def test_ping(self) -> None:
        """
        Anyone's ping completes at once with the note Pong.
        """
        for client in (self.alice, self.admin):
            reply = self.execute(client, "ping")
            self.assertEqual(reply["type"], "result")
            self.assertEqual((reply.command["node"], reply.command["status"]),
                             ("ping", "completed"))
            self.assertEqual(str(reply.command.note), "Pong")

    def test_changeOwnPassword(self) -> None:
        """
        A local user changes her own password in two stages (form type
        jabber:iq:register:changepassword); the passwords must match.
        """
        first = self.execute(self.alice, "change-password")
        self.assertEqual(first.command["status"], "executing")
        form = data_form.findForm(first.command, "jabber:iq:register:changepassword")
        self.assertIn("password", form.fields)
        submitted = data_form.Form("submit", formNamespace="jabber:iq:register:changepassword")
        submitted.addField(data_form.Field(None, "password", value="n3w"))
        reply = self.execute(self.alice, "change-password", "complete",
                         first.command["sessionid"], submitted.toElement().toXml())
        self.assertEqual(reply.command["status"], "completed")
        self.assertTrue(passwordWorks(self.harness, "alice", "n3w"))
        self.assertFalse(passwordWorks(self.harness, "admin", "n3w"))

    def test_adminCommandsForbidden(self) -> None:
        """
        The administration commands stay forbidden to a user, in one stage
        too.
        """
        payload = submitForm({"accountjid": "admin@localhost", "password": "x"})
        reply = self.execute(self.alice, f"{ADMIN}#change-user-password", payload=payload)
        self.assertEqual(errorCondition(reply), "forbidden")
        self.assertFalse(passwordWorks(self.harness, "admin", "x"))
