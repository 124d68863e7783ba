"""The storage VMs' packet filter: glusterd's and the bricks' ports answer the deployment only.

``auth.allow`` (xosan/pool/allow.py) stops a stranger at the bricks, but glusterd's management
port (24007) has no address check in GlusterFS 10: any machine that reaches it is handed the
volume's volfile and answers to read-only CLI requests (``gluster --remote-host=... volume
info`` lists the volumes, their bricks and options). The only limit short of TLS is to
not let the packets in, so each storage VM gets an nftables table that accepts those ports
from the access list's addresses (and loopback) and drops them from anyone else. SSH stays
open: it is how deploy and the day-2 commands reach the VM, with the deployment's key.

The table is replaced whole (one ``nft -f`` transaction), so the list never has a moment
with half the rules, and it is kept in the node's /var/lib/glusterd so the appliance can load
it again at boot before glusterd starts.
"""

import socket

from xosan.errors import DeployError

TABLE = "xosan"
# glusterd (24007), its RDMA/management peer port (24008), and the range glusterd gives bricks
# (base-port 49152 up to max-port 60999 in glusterd.vol).
PORTS = "24007, 24008, 49152-60999"
RULES_PATH = "/var/lib/glusterd/xosan-firewall.nft"
NFT = "/usr/sbin/nft"


def _ipv4(address):
    """nft wants addresses; a witness may be named: resolve it now, when the rules are made."""
    try:
        socket.inet_pton(socket.AF_INET, address)
        return address
    except (OSError, ValueError):
        pass
    try:
        return socket.getaddrinfo(address, None, socket.AF_INET)[0][4][0]
    except (OSError, socket.gaierror, IndexError):
        raise DeployError("cannot resolve %s for the storage VMs' packet filter" % address,
                          hint="Give the witness as an IPv4 address")


def ruleset(addresses):
    # type: (list) -> str
    """The nftables table for ``addresses`` (the access list)."""
    if not addresses:
        raise DeployError("no address to allow: the packet filter would shut out every client")
    allowed = ", ".join(sorted(set(_ipv4(a) for a in addresses), key=socket.inet_aton))
    return "\n".join([
        # declaring then deleting makes the load work whether or not the table exists yet
        "table inet %s" % TABLE,
        "delete table inet %s" % TABLE,
        "table inet %s {" % TABLE,
        "  chain input {",
        "    type filter hook input priority 0; policy accept;",
        '    iif "lo" accept',
        # replies to the VM's own connections (apt during an update) may land on a brick-range port
        "    ct state established,related accept",
        "    ip saddr { %s } tcp dport { %s } accept" % (allowed, PORTS),
        "    tcp dport { %s } drop" % PORTS,
        "  }",
        "}",
        ""])


def apply_command(addresses):
    """The argv that writes the table to RULES_PATH and loads it, in one SSH call."""
    return ["sh", "-c", 'printf "%s" "$1" > "$2" && ' + NFT + ' -f "$2"', "sh", ruleset(addresses), RULES_PATH]


def enforce(p, access, nodes, addresses):
    """Load the table on each storage VM at ``nodes`` (addresses); ``access``: the NodeAccess."""
    argv = apply_command(addresses)
    for node in nodes:
        access.target(node).run(argv, timeout=30)
    p.info("packet filter on %s: ports %s from %d allowed address(es) only" % (
        ", ".join(nodes), PORTS, len(set(addresses))))
