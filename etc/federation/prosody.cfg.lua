-- Prosody p.test in the example federation of README.md ("Federating").
-- Run from this directory: prosody --config "$PWD/prosody.cfg.lua" -F
-- (an absolute path, so that the paths below resolve against this directory).
daemonize = false
run_as_root = true
pidfile = "prosody.pid" -- in data_path, where Prosody runs
data_path = "data-p"
log = { info = "data-p/prosody.log" }
interfaces = { "127.0.0.4" }
c2s_ports = { 5222 }
s2s_ports = { 5269 }
c2s_direct_tls_ports = { }
s2s_direct_tls_ports = { }
http_ports = { }
https_ports = { }
s2s_require_encryption = true
-- The xmuc nodes' generated certificates are self-signed: dialback.
s2s_secure_auth = false
authentication = "internal_hashed"
modules_enabled = { "roster"; "saslauth"; "tls"; "dialback"; "disco"; "ping"; "posix" }
ssl = { certificate = "data-p/p.test.crt"; key = "data-p/p.test.key" }
-- No outside DNS: names come from the hosts file; SRV look-ups under test.
-- are answered "no such name" at once, so Prosody uses port 5269.
unbound = {
    hoststxt = "../hosts"; -- relative to data_path, where Prosody runs
    resolvconf = false;
    options = { ["local-zone:"] = "test. static" };
}

VirtualHost "p.test"
