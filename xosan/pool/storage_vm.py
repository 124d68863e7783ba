"""What XOSAN expects of a storage VM, shared by the deployer and the appliance (and the lab).

A storage VM mounts its data disk (XFS, ``-i size=512``) at BRICK_ROOT and keeps
one brick directory per volume under it. It reads its first-boot
configuration from xenstore keys under ``vm-data/xosan/`` that the deployer
writes into the VM's xenstore_data: xenstore because it needs no extra disk,
is readable by the guest before its network is up, and is set through the
same XAPI call that creates the VM (a config drive would need an extra VDI per
VM and an ISO builder in dom0).
"""

from xosan import facts

BRICK_ROOT = "/srv/xosan/brick"

# Added to glusterd's own volfile (/etc/glusterfs/glusterd.vol) in every storage VM.
GLUSTERD_VOL_OPTIONS = [
    ("transport.tcp-user-timeout", "10",
     "glusterd holds a cluster-wide lock while it waits for a peer; without this a peer cut off "
     "mid-transaction keeps every volume command failing (\"Another transaction is in progress\") "
     "for many minutes (TCP retransmissions). Measured in the lab: with it, commands work again "
     "14 s after a storage node is cut off"),
]


def glusterd_vol(stock_text):
    # type: (str) -> str
    """glusterd.vol with XOSAN's options added before ``end-volume``."""
    lines = "".join("    option %s %s\n" % (name, value) for name, value, _ in GLUSTERD_VOL_OPTIONS)
    head, sep, tail = stock_text.rpartition("end-volume")
    if not sep:
        raise ValueError("glusterd.vol has no end-volume line")
    return head + lines + sep + tail


XS_PREFIX = facts.XS_PREFIX
# xenstore_data keys (without the "vm-data/xosan/" prefix) and what they carry.
XS_KEYS = {
    "hostname": "the VM's host name",
    "ip": "static IPv4 address on the storage network",
    "prefix": "prefix length of the storage network",
    "gateway": "default gateway (optional)",
    "mtu": "MTU of the storage network",
    "authorized-key": "the deployment's SSH public key, for root",
    "host-key": "the VM's SSH host private key (ed25519, base64), so dom0 can pin it",
    "deployment": "the XOSAN deployment id",
    # sshd lets root in from these ranges only; without the key, from the storage network (ip/prefix),
    # where the deployer and every dom0 have an address. For a deployer that reaches the storage
    # network through its gateway.
    "ssh-from": "IPv4 ranges root may log in from over SSH, comma separated CIDRs (optional)",
}


def brick_dir(volume, subdir):
    # type: (str, str) -> str
    return "%s/%s/%s" % (BRICK_ROOT, volume, subdir)


def xenstore_data(values):
    # type: (dict) -> dict
    """xenstore_data for VM.create/VM.set_xenstore_data from short keys."""
    unknown = set(values) - set(XS_KEYS)
    if unknown:
        raise ValueError("unknown storage VM config keys: %s" % ", ".join(sorted(unknown)))
    return dict((XS_PREFIX + k, str(v)) for k, v in values.items() if v is not None)


def from_xenstore_data(data):
    # type: (dict) -> dict
    return dict((k[len(XS_PREFIX):], v) for k, v in (data or {}).items() if k.startswith(XS_PREFIX))
