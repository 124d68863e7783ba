"""Facts every layer of XOSAN must agree on, each written once.

The SR driver in dom0, the deployer and the host plugin meet only through XAPI
records and GlusterFS names; if two of them spelled a tag, a name rule or the
address plan differently, a deployment would stop recognising its own objects.
So those spellings live here and nowhere else. Nothing here imports XOSAN code.
"""

import re
import socket

# glusterd's management port: CLI, volfile fetches, brick port lookups (TLS there with management TLS).
GLUSTERD_PORT = 24007

# other_config keys on the XAPI objects a deployment makes (VMs, VDIs, networks, PIFs,
# the SR). The deployment id is also the name of its GlusterFS volume, so an SR's
# device-config:volume names the deployment whose storage VMs must run for it.
TAG_DEPLOYMENT = "xosan-deployment"
TAG_HOST = "xosan-host"   # on a storage VM: the uuid of the host it belongs on
# Where deploy hands a storage VM its settings (xenstore vm-data, read by its first boot); the address
# is also how dom0 finds which storage VM is whose.
XS_PREFIX = "vm-data/xosan/"
XS_ADDRESS = XS_PREFIX + "ip"

# A volume (= deployment id): what glusterd, XAPI names and file paths all accept.
VOLUME_NAME_RULE = "1-64 letters, digits, '-' or '_'"
_VOLUME_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}\Z")
DEFAULT_VOLUME = "xosan"

# Volume layouts a manifest, `xosan plan` and the lab can ask for.
LAYOUTS = ("auto", "replica2-arbiter", "replica3", "replica3-arbiter", "disperse")

# The storage network's address plan: network + offset + host index (0-based). Storage VMs
# take .11 up (replacements take the first free one up to .99), dom0s .101 up; the two
# ranges never meet for the 16 hosts a pool can have.
STORAGE_VM_OFFSET = 11
STORAGE_VM_LAST = 99
DOM0_OFFSET = 101

_HOSTNAME_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z")


def is_volume_name(text):
    # type: (str) -> bool
    return bool(_VOLUME_NAME.match(text or ""))


def is_valid_address(text):
    # type: (str) -> bool
    """An IPv4/IPv6 address or a DNS name (what glusterd and the FUSE client accept)."""
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, text)
            return True
        except (OSError, ValueError):
            pass
    if re.match(r"^[0-9.]+$", text):
        return False  # looks numeric but is not a valid IPv4 address
    if len(text) > 253:
        return False
    return all(_HOSTNAME_LABEL.match(label) for label in text.rstrip(".").split("."))
