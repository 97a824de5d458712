# -*- test-case-name: tests.test_config -*-
"""
node.ini, parsed once into typed sections.

Each section is a frozen dataclass whose fields are the options, with their
defaults. A wrong, missing or unknown option raises L{ConfigError} whose
message is one line naming the section and key; the twistd plugin and the
admin command print that line and stop, without a traceback.
"""

from __future__ import annotations

import configparser
import dataclasses
import math
import os
from dataclasses import dataclass, field
from typing import Any

from xmuc.core.jid import InvalidJID, prepDomain, prepJID


class ConfigError(Exception):
    """
    The configuration cannot be used; the message says where and why.
    """


@dataclass(frozen=True)
class Address:
    """
    A listening or connecting address.
    """

    host: str
    port: int

    def __str__(self) -> str:
        if ":" in self.host:
            return f"[{self.host}]:{self.port}"
        return f"{self.host}:{self.port}"


def _parseAddress(text: str) -> Address:
    text = text.strip()
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError(f"{text!r} is not [host]:port")
        port = rest[1:]
    else:
        host, sep, port = text.rpartition(":")
        if not sep or not host:
            raise ValueError(f"{text!r} is not host:port")
    try:
        number = int(port)
    except ValueError:
        raise ValueError(f"{port!r} is not a port number")
    if not 0 <= number <= 65535:
        raise ValueError(f"port {number} is out of range")
    return Address(host, number)


def _parseBool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "yes", "true", "on"):
        return True
    if lowered in ("0", "no", "false", "off"):
        return False
    raise ValueError(f"{text!r} is not a boolean (use true or false)")


def _parseList(text: str) -> tuple[str, ...]:
    return tuple(part for part in text.replace(",", " ").split() if part)


@dataclass(frozen=True)
class NodeSection:
    """
    [node]: who this node is and where it keeps its files.
    """

    domain: str = "localhost"
    data_dir: str = "data"


@dataclass(frozen=True)
class TLSSection:
    """
    [tls]: the certificate the node presents. Empty paths mean a
    self-signed certificate kept in the data directory, generated on first
    start.
    """

    certificate: str = ""
    key: str = ""


@dataclass(frozen=True)
class C2SSection:
    """
    [c2s]: client connections.
    """

    listen: tuple[Address, ...] = (Address("127.0.0.1", 5222),)
    direct_tls_listen: tuple[Address, ...] = ()
    require_tls: bool = True
    allow_plain: bool = True
    max_stanza_size: int = 262144
    max_depth: int = 32
    max_elements: int = 5000
    max_attributes: int = 32
    preauth_stanza_size: int = 10000
    preauth_max_elements: int = 100
    auth_timeout: float = 30.0
    tls_handshake_timeout: float = 10.0
    close_timeout: float = 5.0
    idle_timeout: float = 900.0
    rate_limit: int = 10240
    rate_burst: int = 262144
    backlog: int = 1024
    auth_failures_per_stream: int = 5
    auth_failures_per_address: int = 5
    auth_failures_per_account: int = 10
    auth_window: float = 300.0
    auth_backoff: float = 1.0
    auth_backoff_max: float = 300.0
    hash_threads: int = 2
    hash_queue: int = 64
    refused_hold: float = 1.0


@dataclass(frozen=True)
class StorageSection:
    """
    [storage]: where state lives.
    """

    backend: str = "sqlite"
    path: str = ""
    max_offline: int = 1000
    synchronous: str = "normal"
    batch_size: int = 200
    queue_high_water: int = 2000
    queue_low_water: int = 500


@dataclass(frozen=True)
class ServicesSection:
    """
    [services]: optional server features.
    """

    registration: bool = False
    admins: tuple[str, ...] = ()
    version_show_os: bool = False


@dataclass(frozen=True)
class S2SSection:
    """
    [s2s]: links to other servers (RFC 6120, XEP-0178, XEP-0220).
    """

    listen: tuple[Address, ...] = (Address("127.0.0.1", 5269),)
    direct_tls_listen: tuple[Address, ...] = ()
    require_tls: bool = True
    require_valid_certificate: bool = False
    dialback: bool = True
    ca_file: str = ""
    dialback_secret: str = ""
    dns_servers: tuple[Address, ...] = ()
    connect_timeout: float = 10.0
    idle_timeout: float = 600.0
    queue_max: int = 1000
    queue_expiry: float = 60.0
    keepalive: float = 60.0
    reconnect_min: float = 1.0
    reconnect_max: float = 60.0
    max_stanza_size: int = 262144
    max_depth: int = 32
    max_elements: int = 10000
    max_attributes: int = 32
    preauth_stanza_size: int = 10000
    preauth_max_elements: int = 100
    tls_handshake_timeout: float = 10.0
    close_timeout: float = 5.0
    rate_limit: int = 1048576
    rate_burst: int = 4194304
    # Before a peer authenticates (0: no limit, for each of these).
    unauth_rate_limit: int = 16384
    unauth_rate_burst: int = 65536
    unauth_dialback_requests: int = 16
    dialback_pending: int = 8
    dialback_pending_max: int = 100
    unauth_streams_per_address: int = 16
    unauth_streams_max: int = 512
    incoming_rate: float = 5.0
    incoming_burst: int = 16

    @property
    def policy(self) -> PeerSection:
        """
        The security policy of this section: what a peer without a
        [peer:DOMAIN] section gets, and what such a section inherits.
        """
        return PeerSection(**{key: getattr(self, key) for key in POLICY_KEYS})


@dataclass(frozen=True)
class PeerSection:
    """
    [peer:DOMAIN]: the [s2s] security policy for one remote domain. Every
    field is also an [s2s] option; a key the section leaves out takes the
    [s2s] value as written in the file (L{S2SSection.policy}), never the
    default below.
    """

    require_tls: bool = True
    require_valid_certificate: bool = False
    dialback: bool = True


#: The [s2s] options a [peer:DOMAIN] section may override.
POLICY_KEYS: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(PeerSection))


@dataclass(frozen=True)
class ComponentsSection:
    """
    [components]: external components (XEP-0114). Their streams parse
    under the [s2s] limits.
    """

    listen: tuple[Address, ...] = ()
    auth_timeout: float = 30.0


@dataclass(frozen=True)
class ComponentSection:
    """
    [component:HOST]: one external component and its shared secret.
    """

    secret: str = ""


@dataclass(frozen=True)
class MUCSection:
    """
    [muc]: the multi-user chat service (XEP-0045). A limit of 0 means
    none; C{limits = false} lifts them all (for benchmarks).
    """

    enabled: bool = True
    host: str = ""
    creation: str = "local"
    limits: bool = True
    max_room_occupants: int = 1000
    max_occupants: int = 100000
    max_rooms_per_user: int = 100
    history_size: int = 100
    archive_size: int = 10000
    max_body: int = 10000
    max_subject: int = 1000
    flood_rate: float = 5.0
    flood_burst: int = 20
    ghost_grace: float = 120.0
    load_queue: int = 10000


@dataclass(frozen=True)
class DMUCSection:
    """
    [dmuc]: distributed rooms (docs/dmuc-decisions.md): this node's rooms
    reach the users of other xmuc nodes through those nodes' replicas, and
    this node's replica mirrors other nodes' rooms for its own users. Off
    by default: links that break and node restarts are not handled yet.
    """

    enabled: bool = False
    replica: str = ""
    mirror: tuple[str, ...] = ()
    accept: tuple[str, ...] = ()
    keepalive: int = 60
    history_size: int = 100
    disco_timeout: float = 5.0
    attach_timeout: float = 10.0
    #: stanzas kept per replica of a room for replay after a split (the
    #: broadcast log, design section 8); 0: no bound.
    log_size: int = 1000

    def replicaJid(self, domain: str) -> str:
        """
        The replica's JID: C{replica}, or C{dmuc@<domain>}.
        """
        return self.replica or f"dmuc@{domain}"


@dataclass(frozen=True)
class Config:
    """
    The whole configuration of a node.

    @ivar baseDir: the directory relative paths are resolved against (the
        directory of the configuration file).
    """

    node: NodeSection = field(default_factory=NodeSection)
    tls: TLSSection = field(default_factory=TLSSection)
    c2s: C2SSection = field(default_factory=C2SSection)
    storage: StorageSection = field(default_factory=StorageSection)
    services: ServicesSection = field(default_factory=ServicesSection)
    s2s: S2SSection = field(default_factory=S2SSection)
    components: ComponentsSection = field(default_factory=ComponentsSection)
    #: [s2s_hosts]: domain -> addresses, winning over DNS.
    s2sHosts: dict[str, tuple[Address, ...]] = field(default_factory=dict)
    #: [peer:DOMAIN] sections.
    peers: dict[str, PeerSection] = field(default_factory=dict)
    #: [component:HOST] sections.
    componentSecrets: dict[str, ComponentSection] = field(default_factory=dict)
    muc: MUCSection = field(default_factory=MUCSection)
    dmuc: DMUCSection = field(default_factory=DMUCSection)
    baseDir: str = "."

    def peerPolicy(self, domain: str) -> PeerSection:
        """
        The security policy for links with C{domain}: its [peer:DOMAIN]
        section (with the keys it leaves out filled from [s2s] when
        parsed), or the [s2s] policy.
        """
        peer = self.peers.get(domain)
        return peer if peer is not None else self.s2s.policy

    @property
    def caPath(self) -> str:
        return self.path(self.s2s.ca_file) if self.s2s.ca_file else ""

    def path(self, value: str) -> str:
        """
        Resolve a configured path against the configuration's directory.
        """
        return os.path.normpath(os.path.join(self.baseDir, value))

    @property
    def dataDir(self) -> str:
        return self.path(self.node.data_dir)

    @property
    def certificatePath(self) -> str:
        if self.tls.certificate:
            return self.path(self.tls.certificate)
        return os.path.join(self.dataDir, "cert.pem")

    @property
    def keyPath(self) -> str:
        if self.tls.key:
            return self.path(self.tls.key)
        if self.tls.certificate:
            return self.certificatePath
        return os.path.join(self.dataDir, "key.pem")

    @property
    def generateCertificate(self) -> bool:
        return not self.tls.certificate

    @property
    def mucHost(self) -> str:
        """
        The MUC service's domain: [muc] host, or C{muc.<domain>}.
        """
        return self.muc.host or f"muc.{self.node.domain}"

    @property
    def storagePath(self) -> str:
        if self.storage.path:
            return self.path(self.storage.path)
        return os.path.join(self.dataDir, "xmuc.sqlite")


_SECTIONS: dict[str, type] = {
    "node": NodeSection,
    "tls": TLSSection,
    "c2s": C2SSection,
    "storage": StorageSection,
    "services": ServicesSection,
    "s2s": S2SSection,
    "components": ComponentsSection,
    "muc": MUCSection,
    "dmuc": DMUCSection,
}

#: Sections named C{prefix:NAME}, one per peer or component.
_NAMED_SECTIONS: dict[str, tuple[type, str]] = {
    "peer": (PeerSection, "peers"),
    "component": (ComponentSection, "componentSecrets"),
}


def _convert(section: str, key: str, fieldType: str, text: str) -> Any:
    """
    Turn the text of one option into its typed value.
    """
    if fieldType == "str":
        return text.strip()
    if fieldType == "bool":
        return _parseBool(text)
    if fieldType == "int":
        value = int(text.strip())
        if value < 0:
            raise ValueError(f"{value} is negative")
        return value
    if fieldType == "float":
        number = float(text.strip())
        if not math.isfinite(number):
            raise ValueError(f"{text.strip()!r} is not a finite number")
        if number < 0:
            raise ValueError(f"{number} is negative")
        return number
    if fieldType == "tuple[Address, ...]":
        return tuple(_parseAddress(part) for part in _parseList(text))
    if fieldType == "tuple[str, ...]":
        return _parseList(text)
    raise AssertionError(f"no converter for {fieldType}")  # pragma: no cover


def _validate(config: Config) -> None:
    """
    Checks that look at more than one option or at a value's meaning.
    """
    try:
        domain = prepDomain(config.node.domain)
    except InvalidJID as e:
        raise ConfigError(f"[node] domain: {e}")
    if domain != config.node.domain:
        raise ConfigError(f"[node] domain: write it as {domain!r}")
    if config.storage.backend not in ("sqlite", "memory"):
        raise ConfigError(
            f"[storage] backend: {config.storage.backend!r} is not sqlite or memory"
        )
    _validateStorage(config)
    if config.tls.key and not config.tls.certificate:
        raise ConfigError("[tls] key: set certificate too")
    if not config.c2s.listen and not config.c2s.direct_tls_listen:
        raise ConfigError("[c2s] listen: no listener configured")
    if config.c2s.max_stanza_size < 10000:
        raise ConfigError("[c2s] max_stanza_size: must be at least 10000 (RFC 6120)")
    if config.c2s.backlog < 1:
        raise ConfigError("[c2s] backlog: must be at least 1")
    if config.c2s.auth_failures_per_stream < 1:
        raise ConfigError("[c2s] auth_failures_per_stream: must be at least 1")
    if config.c2s.hash_threads < 1:
        raise ConfigError("[c2s] hash_threads: must be at least 1")
    if config.c2s.hash_queue < 1:
        raise ConfigError("[c2s] hash_queue: must be at least 1")
    if config.c2s.refused_hold < 0:
        raise ConfigError("[c2s] refused_hold: must not be negative")
    if config.s2s.max_stanza_size < 10000:
        raise ConfigError("[s2s] max_stanza_size: must be at least 10000 (RFC 6120)")
    if config.s2s.keepalive < 0:
        raise ConfigError("[s2s] keepalive: must be 0 (off) or more")
    if not 0 < config.s2s.reconnect_min <= config.s2s.reconnect_max:
        raise ConfigError("[s2s] reconnect_min: must be above 0 and at most reconnect_max")
    if config.s2s.incoming_rate and config.s2s.incoming_burst < 1:
        raise ConfigError("[s2s] incoming_burst: must be at least 1 when incoming_rate is set")
    _validateParseLimits("c2s", config.c2s)
    _validateParseLimits("s2s", config.s2s)
    for host, component in config.componentSecrets.items():
        if not component.secret:
            raise ConfigError(f"[component:{host}] secret: must be set")
    _validateMUC(config)
    _validateDMUC(config)
    for admin in config.services.admins:
        try:
            parsed = prepJID(admin)
        except InvalidJID as e:
            raise ConfigError(f"[services] admins: {admin!r}: {e}")
        if parsed.user is None or parsed.resource is not None:
            raise ConfigError(f"[services] admins: {admin!r} is not a bare JID")


def _validateStorage(config: Config) -> None:
    storage = config.storage
    if storage.synchronous not in ("normal", "full"):
        raise ConfigError(f"[storage] synchronous: {storage.synchronous!r} is not normal or full")
    if storage.batch_size < 1:
        raise ConfigError("[storage] batch_size: must be at least 1")
    if storage.queue_high_water < 1:
        raise ConfigError("[storage] queue_high_water: must be at least 1")
    if not 0 <= storage.queue_low_water < storage.queue_high_water:
        raise ConfigError("[storage] queue_low_water: must be from 0 to below queue_high_water")


def _section(
    parser: configparser.ConfigParser, name: str, cls: type, base: Any = None
) -> Any:
    """
    One section's options, typed by the fields of C{cls}; options it
    leaves out take their value from C{base} when given (an instance of
    C{cls}), else the field's default.
    """
    fields = {f.name: f for f in dataclasses.fields(cls)}
    values = {}
    for key, text in parser.items(name):
        if key not in fields:
            raise ConfigError(f"[{name}] {key}: unknown option")
        try:
            values[key] = _convert(name, key, str(fields[key].type), text)
        except ValueError as e:
            raise ConfigError(f"[{name}] {key}: {e}")
    if base is not None:
        return dataclasses.replace(base, **values)
    return cls(**values)


def _sectionDomain(name: str, text: str) -> str:
    try:
        domain = prepDomain(text.strip())
    except InvalidJID as e:
        raise ConfigError(f"[{name}]: {e}")
    return domain


def _hostTable(items: list[tuple[str, str]]) -> dict[str, tuple[Address, ...]]:
    """
    [s2s_hosts]: C{domain = host:port [host:port ...]}.
    """
    table = {}
    for key, text in items:
        domain = _sectionDomain("s2s_hosts", key)
        try:
            addresses = tuple(_parseAddress(part) for part in _parseList(text))
        except ValueError as e:
            raise ConfigError(f"[s2s_hosts] {key}: {e}")
        if not addresses:
            raise ConfigError(f"[s2s_hosts] {key}: no address")
        table[domain] = addresses
    return table


#: The smallest values of the parse limits that still let real streams
#: negotiate (SASL, dialback, in-band registration forms).
_PARSE_LIMIT_MINIMUMS = {
    "max_depth": 8,
    "max_elements": 100,
    "max_attributes": 8,
    "preauth_stanza_size": 1000,
    "preauth_max_elements": 10,
}


#: The deepest nesting a node may accept: the code that serialises and
#: copies stanzas recurses once per level, and Python's stack is ~1000.
MAX_DEPTH_LIMIT = 200


def _validateParseLimits(name: str, section: Any) -> None:
    for key, minimum in _PARSE_LIMIT_MINIMUMS.items():
        if getattr(section, key) < minimum:
            raise ConfigError(f"[{name}] {key}: must be at least {minimum}")
    if section.max_depth > MAX_DEPTH_LIMIT:
        raise ConfigError(f"[{name}] max_depth: must be at most {MAX_DEPTH_LIMIT}")


def _validateMUC(config: Config) -> None:
    muc = config.muc
    if muc.host:
        try:
            host = prepDomain(muc.host)
        except InvalidJID as e:
            raise ConfigError(f"[muc] host: {e}")
        if host != muc.host:
            raise ConfigError(f"[muc] host: write it as {host!r}")
        if host == config.node.domain:
            raise ConfigError("[muc] host: must differ from [node] domain")
    if muc.creation not in ("anyone", "local", "admins"):
        raise ConfigError(f"[muc] creation: {muc.creation!r} is not anyone, local or admins")
    if muc.flood_rate and muc.flood_burst < 1:
        raise ConfigError("[muc] flood_burst: must be at least 1 when flood_rate is set")


def _validateDMUC(config: Config) -> None:
    dmuc = config.dmuc
    replica = dmuc.replicaJid(config.node.domain)
    try:
        parsed = prepJID(replica)
    except InvalidJID as e:
        raise ConfigError(f"[dmuc] replica: {e}")
    if parsed.user is None or parsed.resource is not None \
            or parsed.host != config.node.domain:
        raise ConfigError(f"[dmuc] replica: {replica!r} is not a bare JID on {config.node.domain}")
    for key in ("mirror", "accept"):
        for domain in getattr(dmuc, key):
            try:
                if prepDomain(domain) != domain:
                    raise InvalidJID(f"write it as {prepDomain(domain)!r}")
            except InvalidJID as e:
                raise ConfigError(f"[dmuc] {key}: {domain!r}: {e}")
    if dmuc.keepalive < 1:
        raise ConfigError("[dmuc] keepalive: must be at least 1")
    if dmuc.log_size < 0:
        raise ConfigError("[dmuc] log_size: must be 0 or more")
    for key in ("disco_timeout", "attach_timeout"):
        if not getattr(dmuc, key):
            raise ConfigError(f"[dmuc] {key}: must be more than 0")


def parseConfig(text: str, baseDir: str = ".") -> Config:
    """
    Parse the text of a node.ini.

    @raise ConfigError: with a one-line message naming section and key.
    """
    parser = configparser.ConfigParser(
        interpolation=None, inline_comment_prefixes=("#", ";"), strict=True
    )
    parser.optionxform = str  # type: ignore[assignment]
    try:
        parser.read_string(text)
    except configparser.Error as e:
        raise ConfigError(" ".join(str(e).split()))
    if parser.defaults():
        # configparser would copy these into every section; say so rather
        # than report them as unknown in each, or ignore them.
        raise ConfigError("[DEFAULT]: unknown section")
    sections: dict[str, Any] = {"s2sHosts": {}, "peers": {}, "componentSecrets": {}}
    named = []
    for name in parser.sections():
        prefix, colon, subject = name.partition(":")
        if name == "s2s_hosts":
            sections["s2sHosts"] = _hostTable(parser.items(name))
        elif colon and prefix in _NAMED_SECTIONS:
            named.append((name, prefix, subject))
        elif name in _SECTIONS:
            sections[name] = _section(parser, name, _SECTIONS[name])
        else:
            raise ConfigError(f"[{name}]: unknown section")
    # Named sections after the plain ones, wherever they are in the file:
    # a [peer:DOMAIN] inherits the [s2s] policy as written.
    bases = {"peer": sections.get("s2s", S2SSection()).policy}
    for name, prefix, subject in named:
        cls, attribute = _NAMED_SECTIONS[prefix]
        sections[attribute][_sectionDomain(name, subject)] = _section(
            parser, name, cls, bases.get(prefix)
        )
    config = Config(baseDir=baseDir, **sections)
    _validate(config)
    return config


def loadConfig(path: str) -> Config:
    """
    Read and parse a node.ini file.

    @raise ConfigError: when it cannot be read or is not valid.
    """
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror}")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text")
    return parseConfig(text, os.path.dirname(os.path.abspath(path)))
