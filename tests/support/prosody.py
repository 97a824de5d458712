"""
A real Prosody (Debian's package) as a federation peer, started by a test
with its own configuration and data directory on loopback, and stopped by
its PID. Its DNS look-ups go to the test's own DNS server (libunbound's
C{forward} setting), never to the machine's resolver.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import textwrap
import time

PROSODY = "/usr/bin/prosody"
PROSODYCTL = "/usr/bin/prosodyctl"


def prosodyAvailable() -> bool:
    return os.path.exists(PROSODY) and os.path.exists(PROSODYCTL)


class ProsodyPeer:
    """
    One Prosody serving C{domain}.

    @param secureAuth: C{s2s_secure_auth}: peers must present a valid
        certificate (no dialback).
    """

    def __init__(
        self,
        directory: str,
        domain: str,
        c2sPort: int,
        s2sPort: int,
        cert: str,
        key: str,
        cafile: str,
        dnsPort: int,
        secureAuth: bool,
    ) -> None:
        self.dir = directory
        self.domain = domain
        self.c2sPort = c2sPort
        self.s2sPort = s2sPort
        self.data = os.path.join(directory, "data")
        os.makedirs(self.data, exist_ok=True)
        self.config = os.path.join(directory, "prosody.cfg.lua")
        self.log = os.path.join(directory, "prosody.log")
        self.proc: subprocess.Popen | None = None
        with open(self.config, "w") as f:
            f.write(
                textwrap.dedent(
                    f"""\
                    -- Written by tests/support/prosody.py
                    daemonize = false
                    run_as_root = true
                    pidfile = "{directory}/prosody.pid"
                    data_path = "{self.data}"
                    log = {{ debug = "{self.log}" }}
                    interfaces = {{ "127.0.0.1" }}
                    local_interfaces = {{ "127.0.0.1" }}
                    c2s_ports = {{ {c2sPort} }}
                    s2s_ports = {{ {s2sPort} }}
                    c2s_direct_tls_ports = {{ }}
                    s2s_direct_tls_ports = {{ }}
                    http_ports = {{ }}
                    https_ports = {{ }}
                    c2s_require_encryption = true
                    s2s_require_encryption = true
                    s2s_secure_auth = {"true" if secureAuth else "false"}
                    s2s_timeout = 20
                    authentication = "internal_hashed"
                    storage = "internal"
                    modules_enabled = {{
                        "roster"; "saslauth"; "tls"; "dialback"; "disco";
                        "ping"; "posix";
                    }}
                    ssl = {{ certificate = "{cert}"; key = "{key}"; cafile = "{cafile}" }}
                    unbound = {{
                        forward = "127.0.0.1@{dnsPort}";
                        resolvconf = false;
                        hoststxt = false;
                        options = {{
                            ["do-not-query-localhost:"] = "no";
                            ["qname-minimisation:"] = "no";
                            -- libunbound answers NXDOMAIN for test. itself
                            -- (RFC 6761) unless told not to.
                            ["local-zone:"] = "test. transparent";
                        }};
                    }}

                    VirtualHost "{domain}"
                        ssl = {{ certificate = "{cert}"; key = "{key}"; cafile = "{cafile}" }}
                    """
                )
            )

    def register(self, user: str, password: str) -> None:
        subprocess.run(
            [PROSODYCTL, "--config", self.config, "register", user, self.domain, password],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def start(self) -> None:
        """
        Start Prosody and wait (at most 20 s) until it listens.
        """
        out = open(os.path.join(self.dir, "stdout.log"), "ab")
        self.proc = subprocess.Popen(
            [PROSODY, "--config", self.config, "-F"],
            cwd=self.dir,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        out.close()
        for _ in range(200):
            if self.proc.poll() is not None:
                raise RuntimeError(f"prosody exited: see {self.dir}")
            try:
                socket.create_connection(("127.0.0.1", self.s2sPort), 0.5).close()
                socket.create_connection(("127.0.0.1", self.c2sPort), 0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("prosody did not start listening in 20 s")

    def stop(self) -> None:
        """
        Stop Prosody by its PID (SIGTERM, then SIGKILL after 10 s).
        """
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def logText(self) -> str:
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""
