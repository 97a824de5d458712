# -*- test-case-name: tests.test_admin -*-
"""
Tests for L{xmuc.admin}, the C{xmuc -c node.ini} command, run in-process on
a temporary SQLite store.

L{xmuc.admin.main} runs the global reactor with C{task.react}, which cannot
run inside trial; the subcommands are tested through L{xmuc.admin.run}, and
C{main}'s error reporting with C{task.react} replaced by a synchronous
stand-in for the failures that happen before any store is opened.
"""

from __future__ import annotations

import io
import os
from typing import Any

from twisted.internet import defer
from twisted.trial import unittest

from xmuc import admin
from xmuc.c2s.sasl import _checkPassword
from xmuc.config import Config, loadConfig
from xmuc.storage import makeStore
from xmuc.tls import certificateDomains


class _Input(io.StringIO):
    """
    Standard input that is not a terminal (a password piped in).
    """

    def isatty(self) -> bool:
        return False


class AdminTestCase(unittest.TestCase):
    """
    A node.ini for C{localhost} with its data directory in a temporary
    directory.
    """

    backend = "sqlite"

    def setUp(self) -> None:
        self.directory = os.path.abspath(self.mktemp())
        os.makedirs(self.directory)
        self.configPath = os.path.join(self.directory, "node.ini")
        with open(self.configPath, "w") as f:
            f.write(f"[node]\ndomain = localhost\n[storage]\nbackend = {self.backend}\n")
        self.config: Config = loadConfig(self.configPath)

    def run_(self, *argv: str, password: str = "") -> defer.Deferred:
        """
        Run one subcommand; the Deferred fires with what it printed.
        """
        args = admin._parser().parse_args(["-c", self.configPath, *argv])
        out = io.StringIO()
        d = admin.run(self.config, args, out, _Input(password + "\n"))
        d.addCallback(lambda _: out.getvalue())
        return d

    async def fails(self, *argv: str, password: str = "secret") -> str:
        """
        Run a subcommand that must fail with an L{admin.AdminError}; return
        its one-line message.
        """
        try:
            await self.run_(*argv, password=password)
        except admin.AdminError as e:
            message = str(e)
            self.assertNotIn("\n", message)
            return message
        self.fail(f"{argv} did not fail")

    async def credentials(self, username: str) -> Any:
        store = makeStore("sqlite", self.config.storagePath)
        await store.start()
        try:
            return await store.getCredentials(username)
        finally:
            await store.stop()


class AccountTests(AdminTestCase):
    """
    adduser, passwd, deluser and users.
    """

    async def test_adduser(self) -> None:
        """
        adduser creates the account with the password read from standard
        input; it verifies and a wrong one does not.
        """
        out = await self.run_("adduser", "alice@localhost", password="s3cret pass")
        self.assertEqual(out, "created alice@localhost\n")
        credentials = await self.credentials("alice")
        self.assertEqual(set(credentials), {"SCRAM-SHA-1", "SCRAM-SHA-256"})
        for scram in credentials.values():
            self.assertTrue(_checkPassword("s3cret pass", scram))
            self.assertFalse(_checkPassword("wrong", scram))

    async def test_adduserPrepares(self) -> None:
        """
        The JID is prepared: an upper-case localpart names the same account.
        """
        out = await self.run_("adduser", "Alice@LOCALHOST", password="x")
        self.assertEqual(out, "created alice@localhost\n")
        self.assertIn("exists", await self.fails("adduser", "alice@localhost"))

    async def test_adduserExisting(self) -> None:
        """
        Adding an account that exists fails and keeps its password.
        """
        await self.run_("adduser", "alice@localhost", password="first")
        message = await self.fails("adduser", "alice@localhost", password="second")
        self.assertEqual(message, "alice@localhost: the account exists")
        credentials = await self.credentials("alice")
        self.assertTrue(_checkPassword("first", credentials["SCRAM-SHA-256"]))

    async def test_passwd(self) -> None:
        """
        passwd replaces the password.
        """
        await self.run_("adduser", "alice@localhost", password="old")
        out = await self.run_("passwd", "alice@localhost", password="new")
        self.assertEqual(out, "changed the password of alice@localhost\n")
        credentials = await self.credentials("alice")
        self.assertTrue(_checkPassword("new", credentials["SCRAM-SHA-256"]))
        self.assertFalse(_checkPassword("old", credentials["SCRAM-SHA-256"]))

    async def test_passwdUnknown(self) -> None:
        """
        passwd for an account that does not exist fails and creates none.
        """
        message = await self.fails("passwd", "nobody@localhost")
        self.assertEqual(message, "nobody@localhost: no such account")
        self.assertIsNone(await self.credentials("nobody"))

    async def test_deluser(self) -> None:
        """
        deluser removes the account.
        """
        await self.run_("adduser", "alice@localhost", password="x")
        out = await self.run_("deluser", "alice@localhost")
        self.assertEqual(out, "deleted alice@localhost\n")
        self.assertIsNone(await self.credentials("alice"))

    async def test_deluserUnknown(self) -> None:
        """
        deluser for an account that does not exist fails.
        """
        self.assertEqual(
            await self.fails("deluser", "nobody@localhost"), "nobody@localhost: no such account"
        )

    async def test_users(self) -> None:
        """
        users lists the accounts' bare JIDs, sorted, one a line.
        """
        self.assertEqual(await self.run_("users"), "")
        for name in ("carol", "alice", "bob"):
            await self.run_("adduser", f"{name}@localhost", password="x")
        self.assertEqual(
            await self.run_("users"), "alice@localhost\nbob@localhost\ncarol@localhost\n"
        )

    async def test_wrongDomain(self) -> None:
        """
        A JID of another domain fails, naming the node's domain.
        """
        message = await self.fails("adduser", "alice@example.org")
        self.assertEqual(message, "alice@example.org: this node serves localhost")

    async def test_badJID(self) -> None:
        """
        A string that is not a JID, a domain alone, or a full JID fail.
        """
        self.assertIn("@@@", await self.fails("adduser", "@@@"))
        self.assertIn("bare JID", await self.fails("adduser", "localhost"))
        self.assertIn("bare JID", await self.fails("adduser", "alice@localhost/phone"))

    async def test_emptyPassword(self) -> None:
        """
        An empty password is refused and no account is made.
        """
        message = await self.fails("adduser", "alice@localhost", password="")
        self.assertIn("password is empty", message)
        self.assertIsNone(await self.credentials("alice"))

    def test_passwordPrompt(self) -> None:
        """
        On a terminal the password is asked twice and must match.
        """

        class Terminal:
            def isatty(self) -> bool:
                return True

        answers = iter(["pw", "pw", "pw", "other"])
        prompt = lambda text: next(answers)  # noqa: E731
        self.assertEqual(admin.readPassword(Terminal(), prompt), "pw")
        e = self.assertRaises(admin.AdminError, admin.readPassword, Terminal(), prompt)
        self.assertEqual(str(e), "the passwords differ")


class MemoryBackendTests(AdminTestCase):
    """
    A node with the memory backend has nothing on disk to administer.
    """

    backend = "memory"

    async def test_refused(self) -> None:
        """
        Account commands fail with one line.
        """
        self.assertIn("memory", await self.fails("users"))


class GencertTests(AdminTestCase):
    """
    gencert.
    """

    async def test_gencert(self) -> None:
        """
        gencert writes the certificate and key into the data directory.
        """
        out = await self.run_("gencert")
        self.assertEqual(
            out, f"wrote {self.config.certificatePath} and {self.config.keyPath}\n"
        )
        self.assertEqual(
            certificateDomains(self.config.certificatePath), ["localhost", "*.localhost"]
        )

    async def test_exists(self) -> None:
        """
        gencert does not replace a certificate without C{--force}.
        """
        await self.run_("gencert")
        with open(self.config.certificatePath, "rb") as f:
            before = f.read()
        self.assertIn("--force", await self.fails("gencert"))
        await self.run_("gencert", "--force")
        with open(self.config.certificatePath, "rb") as f:
            self.assertNotEqual(f.read(), before)

    async def test_configuredCertificate(self) -> None:
        """
        gencert refuses to overwrite a configured certificate.
        """
        with open(self.configPath, "a") as f:
            f.write("[tls]\ncertificate = mine.pem\n")
        self.config = loadConfig(self.configPath)
        self.assertIn("[tls] certificate", await self.fails("gencert"))
        self.assertFalse(os.path.exists(os.path.join(self.directory, "mine.pem")))


class MainTests(AdminTestCase):
    """
    L{admin.main}: exit status and one-line messages on standard error.
    """

    def setUp(self) -> None:
        super().setUp()
        self.stderr = io.StringIO()
        self.stdout = io.StringIO()
        # Passed in rather than patched into sys: anything else writing to
        # the process's stderr meanwhile (asyncio reporting an earlier
        # test's tasks at garbage collection) stays out of the captures.
        self.patch(admin.task, "react", self._react)

    def main(self, argv: list[str]) -> None:
        admin.main(argv, stdout=self.stdout, stderr=self.stderr)

    def _react(self, main: Any) -> None:
        """
        Stand in for C{task.react} for work that finishes synchronously:
        like it, exit with the status a L{SystemExit} carries, else 0.
        """
        results: list[Any] = []
        main(None).addBoth(results.append)
        [result] = results
        if hasattr(result, "check") and result.check(SystemExit):
            raise result.value
        raise SystemExit(0)

    def test_missingConfig(self) -> None:
        """
        A missing configuration file is one line on standard error and
        exit status 1.
        """
        missing = os.path.join(self.directory, "nope.ini")
        e = self.assertRaises(SystemExit, self.main, ["-c", missing, "users"])
        self.assertEqual(e.code, 1)
        self.assertEqual(self.stderr.getvalue().count("\n"), 1)
        self.assertTrue(self.stderr.getvalue().startswith(f"xmuc: {missing}: "))

    def test_badConfig(self) -> None:
        """
        An invalid configuration names its section and key.
        """
        with open(self.configPath, "a") as f:
            f.write("[c2s]\nrequire_tls = perhaps\n")
        e = self.assertRaises(SystemExit, self.main, ["-c", self.configPath, "users"])
        self.assertEqual(e.code, 1)
        [line] = self.stderr.getvalue().splitlines()
        self.assertTrue(line.startswith("xmuc: [c2s] require_tls: "), line)

    def test_commandError(self) -> None:
        """
        A failing subcommand prints its one line, without a traceback, and
        exits 1.
        """
        os.makedirs(os.path.dirname(self.config.certificatePath))
        open(self.config.certificatePath, "w").close()
        e = self.assertRaises(SystemExit, self.main, ["-c", self.configPath, "gencert"])
        self.assertEqual(e.code, 1)
        self.assertEqual(
            self.stderr.getvalue(),
            f"xmuc: {self.config.certificatePath} exists; use --force to replace it\n",
        )

    def test_success(self) -> None:
        """
        A subcommand that works prints to standard output and exits 0.
        """
        e = self.assertRaises(SystemExit, self.main, ["-c", self.configPath, "gencert"])
        self.assertEqual(e.code, 0)
        self.assertEqual(self.stderr.getvalue(), "")
        self.assertTrue(self.stdout.getvalue().startswith("wrote "))
