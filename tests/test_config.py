# -*- test-case-name: tests.test_config -*-
"""
Tests for L{xmuc.config}: defaults, typed options, and one-line errors that
name the section and key.
"""

from __future__ import annotations

import dataclasses
import os

from twisted.trial import unittest

from xmuc.config import (
    Address,
    C2SSection,
    Config,
    ConfigError,
    POLICY_KEYS,
    NodeSection,
    PeerSection,
    S2SSection,
    ServicesSection,
    StorageSection,
    TLSSection,
    loadConfig,
    parseConfig,
)

#: Every option with a non-default value, to check each is read.
FULL = """
[node]
domain = example.org
data_dir = /var/lib/xmuc

[tls]
certificate = cert.pem
key = key.pem

[c2s]
listen = 0.0.0.0:5222 [::1]:5223
direct_tls_listen = 127.0.0.1:5223
require_tls = false
allow_plain = no
max_stanza_size = 65536
max_depth = 16
max_elements = 2000
max_attributes = 20
preauth_stanza_size = 5000
preauth_max_elements = 50
auth_timeout = 12.5
tls_handshake_timeout = 4.5
close_timeout = 2
idle_timeout = 60
rate_limit = 0
rate_burst = 1000
backlog = 5
auth_failures_per_stream = 3
auth_failures_per_address = 7
auth_failures_per_account = 0
auth_window = 30
auth_backoff = 0.5
auth_backoff_max = 20
hash_threads = 4
hash_queue = 8
refused_hold = 2.5

[storage]
backend = memory
path = db.sqlite
max_offline = 10
synchronous = full
batch_size = 50
queue_high_water = 100
queue_low_water = 20

[services]
registration = yes
admins = admin@example.org, root@example.org
version_show_os = on
"""


class DefaultsTests(unittest.TestCase):
    """
    An empty file is a working configuration.
    """

    def test_empty(self) -> None:
        """
        Every section has its defaults when the file is empty.
        """
        config = parseConfig("")
        self.assertEqual(config.node, NodeSection())
        self.assertEqual(config.tls, TLSSection())
        self.assertEqual(config.c2s, C2SSection())
        self.assertEqual(config.storage, StorageSection())
        self.assertEqual(config.services, ServicesSection())
        self.assertEqual(config.node.domain, "localhost")
        self.assertEqual(config.c2s.listen, (Address("127.0.0.1", 5222),))
        self.assertTrue(config.c2s.require_tls)
        self.assertEqual(config.c2s.max_stanza_size, 262144)
        self.assertEqual(config.storage.backend, "sqlite")

    def test_emptySections(self) -> None:
        """
        Sections present but empty keep every default.
        """
        text = "\n".join(f"[{name}]" for name in ("node", "tls", "c2s", "storage", "services"))
        self.assertEqual(parseConfig(text), Config())

    def test_derivedPaths(self) -> None:
        """
        Without paths configured, the certificate, key and database live in
        the data directory, resolved against the file's directory.
        """
        config = parseConfig("[node]\ndata_dir = data\n", baseDir="/etc/xmuc")
        self.assertEqual(config.dataDir, "/etc/xmuc/data")
        self.assertEqual(config.certificatePath, "/etc/xmuc/data/cert.pem")
        self.assertEqual(config.keyPath, "/etc/xmuc/data/key.pem")
        self.assertEqual(config.storagePath, "/etc/xmuc/data/xmuc.sqlite")
        self.assertTrue(config.generateCertificate)

    def test_certificateWithKeyInside(self) -> None:
        """
        A configured certificate without a key means the key is in the same
        file, and nothing is generated.
        """
        config = parseConfig("[tls]\ncertificate = /x/both.pem\n")
        self.assertEqual(config.keyPath, "/x/both.pem")
        self.assertFalse(config.generateCertificate)


class ValuesTests(unittest.TestCase):
    """
    Each option is read into its type.
    """

    def test_everyOption(self) -> None:
        """
        Every option of every section is read.
        """
        config = parseConfig(FULL, baseDir="/etc/xmuc")
        self.assertEqual(config.node, NodeSection("example.org", "/var/lib/xmuc"))
        self.assertEqual(config.tls, TLSSection("cert.pem", "key.pem"))
        self.assertEqual(
            config.c2s,
            C2SSection(
                listen=(Address("0.0.0.0", 5222), Address("::1", 5223)),
                direct_tls_listen=(Address("127.0.0.1", 5223),),
                require_tls=False,
                allow_plain=False,
                max_stanza_size=65536,
                max_depth=16,
                max_elements=2000,
                max_attributes=20,
                preauth_stanza_size=5000,
                preauth_max_elements=50,
                auth_timeout=12.5,
                tls_handshake_timeout=4.5,
                close_timeout=2.0,
                idle_timeout=60.0,
                rate_limit=0,
                rate_burst=1000,
                backlog=5,
                auth_failures_per_stream=3,
                auth_failures_per_address=7,
                auth_failures_per_account=0,
                auth_window=30.0,
                auth_backoff=0.5,
                auth_backoff_max=20.0,
                hash_threads=4,
                hash_queue=8,
                refused_hold=2.5,
            ),
        )
        self.assertEqual(config.storage, StorageSection("memory", "db.sqlite", 10, "full", 50, 100, 20))
        self.assertEqual(
            config.services,
            ServicesSection(True, ("admin@example.org", "root@example.org"), True),
        )
        self.assertEqual(config.keyPath, "/etc/xmuc/key.pem")
        self.assertEqual(config.storagePath, "/etc/xmuc/db.sqlite")

    def test_everyFieldCovered(self) -> None:
        """
        L{FULL} sets every field, so that a new option is not left
        untested.
        """
        config = parseConfig(FULL)
        for section in (config.node, config.tls, config.c2s, config.storage, config.services):
            default = type(section)()
            for f in dataclasses.fields(section):
                self.assertNotEqual(
                    getattr(section, f.name), getattr(default, f.name), f.name
                )

    def test_addressFormat(self) -> None:
        """
        Addresses print back as host:port, IPv6 in brackets.
        """
        self.assertEqual(str(Address("::1", 5222)), "[::1]:5222")
        self.assertEqual(str(Address("127.0.0.1", 5222)), "127.0.0.1:5222")

    def test_comments(self) -> None:
        """
        Inline comments after a value are ignored.
        """
        config = parseConfig("[c2s]\nrequire_tls = false  # for tests\n")
        self.assertFalse(config.c2s.require_tls)


class ErrorTests(unittest.TestCase):
    """
    Every mistake is one line naming where it is.
    """

    def assertError(self, text: str, *expected: str) -> str:
        e = self.assertRaises(ConfigError, parseConfig, text)
        message = str(e)
        self.assertNotIn("\n", message)
        for part in expected:
            self.assertIn(part, message)
        return message

    def test_unknownSection(self) -> None:
        """
        An unknown section is named.
        """
        self.assertError("[s2x]\nlisten = 1.2.3.4:5269\n", "[s2x]", "unknown section")

    def test_defaultSection(self) -> None:
        """
        A C{[DEFAULT]} section (which configparser would copy into every
        section) is refused, rather than silently ignored.
        """
        self.assertError("[DEFAULT]\ndomain = example.org\n", "[DEFAULT]", "unknown section")

    def test_unknownKey(self) -> None:
        """
        An unknown option is named with its section.
        """
        self.assertError("[c2s]\nrequire_tsl = true\n", "[c2s] require_tsl", "unknown option")

    def test_badBool(self) -> None:
        """
        A boolean that is not one is named.
        """
        self.assertError("[c2s]\nrequire_tls = maybe\n", "[c2s] require_tls", "'maybe'")

    def test_badInt(self) -> None:
        """
        An integer that is not one is named.
        """
        self.assertError("[c2s]\nmax_stanza_size = big\n", "[c2s] max_stanza_size")

    def test_negativeInt(self) -> None:
        """
        A negative count is refused.
        """
        self.assertError("[storage]\nmax_offline = -1\n", "[storage] max_offline", "negative")

    def test_storageQueue(self) -> None:
        """
        The store's synchronous setting is normal or full, a batch holds an
        operation at least, and the queue's low-water mark is below its
        high-water mark.
        """
        self.assertError("[storage]\nsynchronous = off\n", "[storage] synchronous", "normal or full")
        self.assertError("[storage]\nbatch_size = 0\n", "[storage] batch_size", "at least 1")
        self.assertError("[storage]\nqueue_high_water = 0\n", "[storage] queue_high_water",
                         "at least 1")
        self.assertError("[storage]\nqueue_high_water = 10\nqueue_low_water = 10\n",
                         "[storage] queue_low_water", "below")

    def test_badFloat(self) -> None:
        """
        A timeout that is not a finite, non-negative number is refused.
        """
        for value in ("soon", "-1", "nan", "inf"):
            self.assertError(f"[c2s]\nauth_timeout = {value}\n", "[c2s] auth_timeout")

    def test_badAddress(self) -> None:
        """
        Addresses without a port, with a bad port, or an unclosed bracket
        are named.
        """
        for value in ("localhost", "localhost:http", "host:70000", "[::1:5222", ":5222"):
            self.assertError(f"[c2s]\nlisten = {value}\n", "[c2s] listen")

    def test_multilineValue(self) -> None:
        """
        A value continued on a second line still gives a one-line error.
        """
        self.assertError("[c2s]\nmax_stanza_size = 1\n  2\n", "[c2s] max_stanza_size")
        self.assertError("[node]\ndomain = a b\n  c\n", "[node] domain")

    def test_badDomain(self) -> None:
        """
        A domain that is not a valid JID domainpart is named.
        """
        self.assertError("[node]\ndomain = exa mple.org\n", "[node] domain")
        self.assertError("[node]\ndomain = a@b\n", "[node] domain")

    def test_unpreparedDomain(self) -> None:
        """
        A domain in a form other than its prepared one says how to write it.
        """
        self.assertError("[node]\ndomain = Example.ORG\n", "[node] domain", "'example.org'")

    def test_badBackend(self) -> None:
        """
        An unknown storage backend is named.
        """
        self.assertError("[storage]\nbackend = mysql\n", "[storage] backend", "mysql")

    def test_smallStanzaLimit(self) -> None:
        """
        A stanza limit under RFC 6120's minimum of 10000 bytes is refused.
        """
        self.assertError("[c2s]\nmax_stanza_size = 9999\n", "[c2s] max_stanza_size")
        self.assertEqual(parseConfig("[c2s]\nmax_stanza_size = 10000\n").c2s.max_stanza_size, 10000)

    def test_smallParseLimits(self) -> None:
        """
        Parse limits too small for real negotiation are refused, naming the
        section and option; the minimum itself is accepted.
        """
        self.assertError("[c2s]\nmax_depth = 7\n", "[c2s] max_depth", "at least 8")
        self.assertError("[s2s]\npreauth_stanza_size = 999\n", "[s2s] preauth_stanza_size")
        self.assertError("[c2s]\npreauth_max_elements = 9\n", "[c2s] preauth_max_elements")
        self.assertEqual(parseConfig("[s2s]\nmax_elements = 100\n").s2s.max_elements, 100)

    def test_deepestParseLimit(self) -> None:
        """
        max_depth is at most 200 (serialising and copying a stanza
        recurses once per level); 200 itself is accepted.
        """
        self.assertError("[c2s]\nmax_depth = 201\n", "[c2s] max_depth", "at most 200")
        self.assertError("[s2s]\nmax_depth = 5000\n", "[s2s] max_depth", "at most 200")
        self.assertEqual(parseConfig("[c2s]\nmax_depth = 200\n").c2s.max_depth, 200)

    def test_noListener(self) -> None:
        """
        A node with no client listener at all is refused.
        """
        self.assertError("[c2s]\nlisten =\n", "[c2s] listen")

    def test_keyWithoutCertificate(self) -> None:
        """
        A key without a certificate is refused.
        """
        self.assertError("[tls]\nkey = key.pem\n", "[tls] key")

    def test_authLimits(self) -> None:
        """
        A stream must allow at least one attempt, and the hashing pool at
        least one thread and one queued job.
        """
        for option in ("auth_failures_per_stream", "hash_threads", "hash_queue"):
            self.assertError(f"[c2s]\n{option} = 0\n", f"[c2s] {option}")

    def test_badAdmin(self) -> None:
        """
        An admin that is not a bare JID is named.
        """
        self.assertError("[services]\nadmins = localhost\n", "[services] admins", "'localhost'")
        self.assertError("[services]\nadmins = a@localhost/r\n", "[services] admins")
        self.assertError("[services]\nadmins = @@\n", "[services] admins")

    def test_syntax(self) -> None:
        """
        A line outside any section, or a duplicate option, is one line too.
        """
        self.assertError("domain = example.org\n", "section")
        self.assertError("[c2s]\nbacklog = 1\nbacklog = 2\n", "backlog", "c2s")


class FederationSectionsTests(unittest.TestCase):
    def test_hostTable(self) -> None:
        """
        [s2s_hosts] maps domains to one or more addresses.
        """
        config = parseConfig("[s2s_hosts]\nb.example = 127.0.0.2:5269 127.0.0.3:5270\n")
        self.assertEqual(
            config.s2sHosts["b.example"], (Address("127.0.0.2", 5269), Address("127.0.0.3", 5270))
        )

    def test_peerPolicy(self) -> None:
        """
        A [peer:DOMAIN] section overrides the [s2s] policy for that domain
        only; the keys it leaves out are inherited from [s2s].
        """
        config = parseConfig(
            "[s2s]\nrequire_valid_certificate = true\n"
            "[peer:old.example]\nrequire_tls = false\ndialback = true\n"
        )
        self.assertFalse(config.peerPolicy("old.example").require_tls)
        self.assertTrue(config.peerPolicy("old.example").require_valid_certificate)
        self.assertTrue(config.peerPolicy("other.example").require_valid_certificate)

    def test_peerInheritsEveryPolicyKey(self) -> None:
        """
        For every policy key, a [peer:DOMAIN] section that leaves it out
        takes the [s2s] value as written in the file (here the opposite of
        the built-in default), not the default.
        """
        for key in POLICY_KEYS:
            default = getattr(S2SSection(), key)
            written = "false" if default else "true"
            config = parseConfig(f"[s2s]\n{key} = {written}\n[peer:p.example]\n")
            self.assertEqual(getattr(config.peerPolicy("p.example"), key), not default, key)

    def test_peerInheritsDialback(self) -> None:
        """
        [s2s] dialback = false stays off for a peer whose section sets
        only another key: the section does not silently re-enable
        dialback.
        """
        config = parseConfig(
            "[s2s]\ndialback = false\n[peer:p.example]\nrequire_tls = false\n"
        )
        policy = config.peerPolicy("p.example")
        self.assertEqual((policy.dialback, policy.require_tls), (False, False))

    def test_peerInheritsRequireValidCertificate(self) -> None:
        """
        [s2s] require_valid_certificate = true holds for a peer whose
        section sets only dialback, also when the peer section comes
        before [s2s] in the file.
        """
        config = parseConfig(
            "[peer:p.example]\ndialback = true\n[s2s]\nrequire_valid_certificate = true\n"
        )
        self.assertTrue(config.peerPolicy("p.example").require_valid_certificate)

    def test_peerExplicitKeyOverrides(self) -> None:
        """
        A key written in [peer:DOMAIN] wins over [s2s], in both directions.
        """
        config = parseConfig(
            "[s2s]\ndialback = false\nrequire_valid_certificate = true\n"
            "[peer:p.example]\ndialback = true\nrequire_valid_certificate = false\n"
            "[peer:q.example]\nrequire_tls = false\n"
        )
        self.assertTrue(config.peerPolicy("p.example").dialback)
        self.assertFalse(config.peerPolicy("p.example").require_valid_certificate)
        self.assertFalse(config.peerPolicy("q.example").dialback)
        self.assertTrue(config.peerPolicy("q.example").require_valid_certificate)

    def test_peerBadValue(self) -> None:
        """
        A peer key is validated like the [s2s] key it overrides, and a bad
        [s2s] value is named even when a peer section would override it.
        """
        e = self.assertRaises(ConfigError, parseConfig, "[peer:p.example]\ndialback = maybe\n")
        self.assertIn("[peer:p.example] dialback", str(e))
        e = self.assertRaises(
            ConfigError, parseConfig, "[s2s]\ndialback = maybe\n[peer:p.example]\ndialback = true\n"
        )
        self.assertIn("[s2s] dialback", str(e))

    def test_incomingBurst(self) -> None:
        """
        A connection rate needs a burst of at least one stream.
        """
        e = self.assertRaises(
            ConfigError, parseConfig, "[s2s]\nincoming_rate = 2\nincoming_burst = 0\n"
        )
        self.assertIn("[s2s] incoming_burst", str(e))

    def test_linkHealth(self) -> None:
        """
        keepalive is 0 (off) or more; the reconnection back-off starts
        above 0 and at most at its maximum.
        """
        e = self.assertRaises(ConfigError, parseConfig, "[s2s]\nkeepalive = -1\n")
        self.assertIn("[s2s] keepalive", str(e))
        for text in ("reconnect_min = 0\n", "reconnect_min = 61\n", "reconnect_max = 0.5\n"):
            e = self.assertRaises(ConfigError, parseConfig, "[s2s]\n" + text)
            self.assertIn("[s2s] reconnect_min", str(e))
        s2s = parseConfig("[s2s]\nkeepalive = 0\nreconnect_min = 2\nreconnect_max = 2\n").s2s
        self.assertEqual((s2s.keepalive, s2s.reconnect_min, s2s.reconnect_max), (0, 2, 2))

    def test_policyKeysAreS2SOptions(self) -> None:
        """
        Every [peer:DOMAIN] key is an [s2s] option with the same type and
        default, so that there is something to inherit.
        """
        s2s = {f.name: f for f in dataclasses.fields(S2SSection)}
        for f in dataclasses.fields(PeerSection):
            self.assertIn(f.name, s2s)
            self.assertEqual((f.type, f.default), (s2s[f.name].type, s2s[f.name].default))

    def test_component(self) -> None:
        """
        A [component:HOST] section needs a secret.
        """
        config = parseConfig("[component:gw.localhost]\nsecret = s\n")
        self.assertEqual(config.componentSecrets["gw.localhost"].secret, "s")
        e = self.assertRaises(ConfigError, parseConfig, "[component:gw.localhost]\n")
        self.assertEqual(str(e), "[component:gw.localhost] secret: must be set")

    def test_badPeerOption(self) -> None:
        """
        An unknown option in a named section is named with its section.
        """
        e = self.assertRaises(ConfigError, parseConfig, "[peer:x.example]\nlisten = 1.2.3.4:1\n")
        self.assertEqual(str(e), "[peer:x.example] listen: unknown option")

    def test_badHostAddress(self) -> None:
        """
        A [s2s_hosts] entry that is not host:port is refused.
        """
        e = self.assertRaises(ConfigError, parseConfig, "[s2s_hosts]\nb.example = nowhere\n")
        self.assertTrue(str(e).startswith("[s2s_hosts] b.example:"))


class LoadTests(unittest.TestCase):
    """
    L{loadConfig} reads a file.
    """

    def test_load(self) -> None:
        """
        The file is read and relative paths resolve against its directory.
        """
        directory = os.path.abspath(self.mktemp())
        os.makedirs(directory)
        path = os.path.join(directory, "node.ini")
        with open(path, "w") as f:
            f.write("[node]\ndomain = example.org\n")
        config = loadConfig(path)
        self.assertEqual(config.node.domain, "example.org")
        self.assertEqual(config.dataDir, os.path.join(directory, "data"))

    def test_missingFile(self) -> None:
        """
        A missing file is one line naming the path.
        """
        path = os.path.abspath(self.mktemp())
        e = self.assertRaises(ConfigError, loadConfig, path)
        self.assertIn(path, str(e))
        self.assertIn("No such file", str(e))
        self.assertNotIn("\n", str(e))

    def test_notUTF8(self) -> None:
        """
        A file that is not UTF-8 is one line naming the path.
        """
        path = os.path.abspath(self.mktemp())
        with open(path, "wb") as f:
            f.write(b"[node]\ndomain = \xff\n")
        e = self.assertRaises(ConfigError, loadConfig, path)
        self.assertEqual(str(e), f"{path}: not UTF-8 text")


class DMUCConfigTests(unittest.TestCase):
    """
    The [dmuc] section.
    """

    def assertError(self, text: str, *parts: str) -> None:
        with self.assertRaises(ConfigError) as caught:
            parseConfig(text)
        for part in parts:
            self.assertIn(part, str(caught.exception))

    def test_everyOption(self) -> None:
        """
        Every [dmuc] option is read; off by default, the replica is
        dmuc@<domain> unless named.
        """
        self.assertFalse(parseConfig("").dmuc.enabled)
        self.assertEqual(parseConfig("").dmuc.replicaJid("localhost"), "dmuc@localhost")
        config = parseConfig("[node]\ndomain = b.example\n[dmuc]\nenabled = true\n"
                             "replica = mirror@b.example\nmirror = muc.a.example muc.c.example\n"
                             "accept = c.example\nkeepalive = 30\nhistory_size = 5\n"
                             "disco_timeout = 2.5\nattach_timeout = 3\n")
        dmuc = config.dmuc
        self.assertEqual((dmuc.enabled, dmuc.replicaJid("b.example"), dmuc.mirror, dmuc.accept,
                          dmuc.keepalive, dmuc.history_size, dmuc.disco_timeout,
                          dmuc.attach_timeout),
                         (True, "mirror@b.example", ("muc.a.example", "muc.c.example"),
                          ("c.example",), 30, 5, 2.5, 3.0))

    def test_badReplica(self) -> None:
        """
        The replica is a bare JID with a local part on the node's domain.
        """
        for replica in ("b.example", "dmuc@other.example", "dmuc@localhost/r", "a b@localhost"):
            self.assertError(f"[dmuc]\nreplica = {replica}\n", "[dmuc] replica")

    def test_badLists(self) -> None:
        """
        mirror and accept list prepared domains.
        """
        self.assertError("[dmuc]\nmirror = exa@mple\n", "[dmuc] mirror")
        self.assertError("[dmuc]\naccept = Example.ORG\n", "[dmuc] accept", "'example.org'")

    def test_badNumbers(self) -> None:
        """
        keepalive is at least 1, the timeouts more than 0.
        """
        self.assertError("[dmuc]\nkeepalive = 0\n", "[dmuc] keepalive")
        self.assertError("[dmuc]\ndisco_timeout = 0\n", "[dmuc] disco_timeout")
        self.assertError("[dmuc]\nattach_timeout = 0\n", "[dmuc] attach_timeout")
