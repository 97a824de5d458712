# -*- test-case-name: tests.test_admin -*-
"""
The admin command: C{xmuc -c node.ini SUBCOMMAND}.

    adduser JID     create an account (password from a prompt, or stdin)
    passwd JID      change an account's password
    deluser JID     delete an account and all it stored
    users           list the accounts
    gencert         (re)generate the self-signed certificate

It writes the node's store directly (SQLite in WAL mode, so it works while
the node runs). It is a separate process, so it may use the global reactor.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import Any, Callable

from twisted.internet import defer, task

from xmuc.c2s.sasl import makeCredentials
from xmuc.config import Config, ConfigError, loadConfig
from xmuc.core.jid import InvalidJID, parseJID
from xmuc.storage import UnknownUser, UserExists, makeStore


class AdminError(Exception):
    """
    A one-line message for the operator; exit status 1.
    """


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="xmuc", description="Administer an xmuc node.")
    parser.add_argument("-c", "--config", default="node.ini", help="the node.ini file")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("adduser", "create an account"),
        ("passwd", "change an account's password"),
        ("deluser", "delete an account"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("jid", help="the account's bare JID, e.g. alice@localhost")
    commands.add_parser("users", help="list the accounts")
    gencert = commands.add_parser("gencert", help="generate a self-signed certificate")
    gencert.add_argument("--force", action="store_true", help="replace an existing one")
    return parser


def _username(config: Config, text: str) -> str:
    try:
        address = parseJID(text)
    except InvalidJID as e:
        raise AdminError(f"{text}: {e}")
    if address.user is None or address.resource is not None:
        raise AdminError(f"{text}: give a bare JID like alice@{config.node.domain}")
    if address.host != config.node.domain:
        raise AdminError(f"{text}: this node serves {config.node.domain}")
    return address.user


def readPassword(stdin: Any = None, prompt: Callable[[str], str] = getpass.getpass) -> str:
    """
    The new password: from a prompt (asked twice) on a terminal, else the
    first line of standard input. Prepared with the OpaqueString profile.
    """
    import precis_i18n

    stdin = stdin or sys.stdin
    if stdin.isatty():
        password = prompt("Password: ")
        if prompt("Again: ") != password:
            raise AdminError("the passwords differ")
    else:
        password = stdin.readline().rstrip("\r\n")
    try:
        return precis_i18n.get_profile("OpaqueString").enforce(password)
    except UnicodeError:
        raise AdminError("the password is empty or has characters RFC 8265 forbids")


@defer.inlineCallbacks
def run(config: Config, args: argparse.Namespace, out: Any, stdin: Any = None) -> Any:
    """
    Carry out one subcommand.
    """
    if args.command == "gencert":
        from xmuc.tls import generateCertificate

        if not config.generateCertificate:
            raise AdminError("[tls] certificate is configured; gencert makes only the default one")
        if os.path.exists(config.certificatePath) and not args.force:
            raise AdminError(f"{config.certificatePath} exists; use --force to replace it")
        generateCertificate(config.node.domain, config.certificatePath, config.keyPath)
        out.write(f"wrote {config.certificatePath} and {config.keyPath}\n")
        return
    if config.storage.backend != "sqlite":
        raise AdminError("[storage] backend is memory: there is nothing to administer")
    os.makedirs(config.dataDir, exist_ok=True)
    store = makeStore("sqlite", config.storagePath, synchronous=config.storage.synchronous)
    yield store.start()
    try:
        if args.command == "users":
            for name in (yield store.listUsers()):
                out.write(f"{name}@{config.node.domain}\n")
            return
        username = _username(config, args.jid)
        if args.command == "deluser":
            yield store.deleteUser(username)
            out.write(f"deleted {username}@{config.node.domain}\n")
            return
        credentials = makeCredentials(readPassword(stdin))
        if args.command == "adduser":
            yield store.createUser(username, credentials)
            out.write(f"created {username}@{config.node.domain}\n")
        else:
            yield store.setCredentials(username, credentials)
            out.write(f"changed the password of {username}@{config.node.domain}\n")
    except UserExists:
        raise AdminError(f"{args.jid}: the account exists")
    except UnknownUser:
        raise AdminError(f"{args.jid}: no such account")
    finally:
        yield store.stop()


def main(argv: list[str] | None = None, stdout: Any = None, stderr: Any = None) -> None:
    """
    Entry point of the C{xmuc} command.

    @param stdout: where results go (standard output by default).
    @param stderr: where the one-line errors go (standard error by default).
    """
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    args = _parser().parse_args(argv)
    try:
        config = loadConfig(args.config)
    except ConfigError as e:
        stderr.write(f"xmuc: {e}\n")
        raise SystemExit(1)

    def failed(failure: Any) -> None:
        if failure.check(AdminError):
            stderr.write(f"xmuc: {failure.value}\n")
        else:
            failure.printTraceback(stderr)
        raise SystemExit(1)

    def go(reactor: Any) -> Any:
        d = run(config, args, stdout)
        d.addErrback(failed)
        return d

    task.react(go)
