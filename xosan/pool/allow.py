"""Who may use a deployment's volume: its own dom0s, storage VMs and witness, nobody else.

GlusterFS's default lets any machine that reaches a brick port mount the volume and read
or write every VM disk on it. ``auth.allow`` makes each brick refuse a client whose
address is not listed, so the list must name every legitimate client: each dom0 (the SR
is a FUSE mount there), each storage VM (its self-heal daemon, rebalance and heal-info
tools are clients of the other bricks) and the witness (same, for its arbiter bricks).

The list is derived from XAPI every time it is needed (the storage VMs' addresses as
deploy wrote them into their xenstore_data, the addresses of the storage network's PIFs,
the manifest's witness) and never stored: a replaced storage VM whose record is gone
drops out by itself, and a host that joined the pool is in once its dom0 has an address.
"""

import ipaddress

from xosan import facts
from xosan.errors import DeployError
from xosan.pool import firewall
from xosan.pool.inventory import address_of

AUTH_ALLOW = "auth.allow"
# What glusterd reports (or leaves out) for a volume nobody restricted: everyone.
EVERYONE = "*"


def _sort_key(address):
    try:
        return (0, int(ipaddress.ip_address(address)), address)
    except ValueError:
        return (1, 0, address)  # a DNS name (a witness may be given as one)


def allowed(vm_addresses, dom0_addresses, witness=None):
    # type: (list, list, str) -> list
    """The one computation of the access list: every address once, IPs in numeric order.
    Missing addresses (a VM record without one, a PIF without an IP) are skipped; anything
    that is not an address is refused rather than passed to glusterd, where a '*' or a comma
    would silently widen the list."""
    out = set()
    for a in list(vm_addresses) + list(dom0_addresses) + ([witness] if witness else []):
        if not a:
            continue
        if not facts.is_valid_address(a):
            raise DeployError("%r is not an address; it cannot go into the volume's %s" % (a, AUTH_ALLOW),
                              hint="Check the storage VMs' xenstore_data, the storage network's PIF "
                                   "addresses and the manifest's witness")
        out.add(a)
    return sorted(out, key=_sort_key)


def option_value(addresses):
    """The ``auth.allow`` value for ``addresses`` (glusterd takes a comma-separated list)."""
    if not addresses:
        # an empty value would be refused by glusterd, and '*' would let everyone in
        raise DeployError("no address to allow: the deployment has no storage VM or dom0 address yet")
    return ",".join(addresses)


def parse_option(value):
    """Addresses listed in an ``auth.allow`` value; None when it lets everyone in."""
    items = [v.strip() for v in (value or "").split(",") if v.strip()]
    if not items or EVERYONE in items:
        return None
    return items


def describe_change(current, wanted):
    """A sentence for a plan: what the volume allows now and what it will."""
    if current is None:
        return "%s is unset (anyone on the storage network may mount the volume): set it to %s" % (
            AUTH_ALLOW, ", ".join(wanted))
    gone = [a for a in current if a not in wanted]
    new = [a for a in wanted if a not in current]
    if not gone and not new:
        return "%s already lists exactly %s" % (AUTH_ALLOW, ", ".join(wanted))
    parts = []
    if new:
        parts.append("add %s" % ", ".join(new))
    if gone:
        parts.append("remove %s" % ", ".join(gone))
    return "%s: %s" % (AUTH_ALLOW, "; ".join(parts))


class AccessList(object):
    """The deployment's access list as the pool has it now, and the volume option that enforces it."""

    def __init__(self, xapi, inventory, volume, witness=None):
        self.x = xapi
        self.api = xapi.api
        self.inventory = inventory
        self.volume = volume
        self.witness = witness

    def dom0_addresses(self, net):
        """Every address a PIF on the storage network has: each is a host's dom0 (XOSAN gave it, or,
        on an existing network, the admin did) and each dom0 mounts the volume."""
        pifs = self.x.call(self.api.PIF.get_all_records)
        return [rec["IP"] for rec in pifs.values() if rec["network"] == net and rec.get("IP")]

    def vm_addresses(self, exclude=()):
        return [a for a in (address_of(rec) for _, rec in self.inventory.mine("VM")) if a and a not in exclude]

    def running_vm_addresses(self, exclude=()):
        """The storage VMs that can take a new packet filter now (a halted one gets it when it
        comes back: maintenance exit)."""
        return [a for a in (address_of(rec) for _, rec in self.inventory.mine("VM")
                            if rec["power_state"] == "Running") if a and a not in exclude]

    def wanted(self, net, exclude=()):
        """``exclude``: a storage VM address leaving now (a dead VM whose record still exists)."""
        return allowed(self.vm_addresses(exclude), self.dom0_addresses(net), self.witness)

    def current(self, cli):
        """What the volume allows now (None: everyone)."""
        [info] = cli.volume_info(self.volume)
        return parse_option(info.options.get(AUTH_ALLOW))

    def enforce(self, p, cli, wanted, node_access=None, nodes=()):
        """Make the volume's list ``wanted`` (from ``wanted()``), through ``cli``'s node, if it differs,
        and load the packet filter for the same list on the storage VMs at ``nodes`` (reached with
        ``node_access``, the NodeAccess). Clients already connected from a listed address keep
        their connection."""
        if node_access is not None and nodes:
            firewall.enforce(p, node_access, nodes, wanted)
        current = self.current(cli)
        if current == wanted:
            p.info("%s: %s (unchanged)" % (AUTH_ALLOW, ", ".join(wanted)))
            return
        cli.volume_set(self.volume, AUTH_ALLOW, option_value(wanted))
        p.info("%s: %s (was %s)" % (AUTH_ALLOW, ", ".join(wanted),
                                   "unset: everyone" if current is None else ", ".join(current)))

    def plan_line(self, planned, cli=None):
        """What ``xosan plan`` says: the planned list, and for an existing volume (``cli`` on one of
        its nodes) what changes."""
        line = "Clients allowed (%s): %s, and any other pool host's dom0 on the storage network" % (
            AUTH_ALLOW, ", ".join(planned))
        if cli is not None:
            line += "; the existing volume: " + describe_change(self.current(cli), planned)
        return line
