"""The SR's device-config: the keys xe/XenCenter users type, parsed and checked.

device-config cannot be edited once the SR exists, so every mistake must be
caught with a message that names the key and shows a good value.
"""

import re

from xosan import facts
from xosan.errors import InvalidValue, MissingKey

DEFAULT_ATTACH_TIMEOUT = 120
DEFAULT_VOLUME = "xosan"

# (key, description): XenCenter shows these in its SR wizard.
CONFIGURATION = [
    ["server", "Storage nodes of the XOSAN GlusterFS cluster, comma separated, every node listed "
               "so that any one down never blocks an attach (required, e.g. "
               "\"10.0.50.11,10.0.50.12,10.0.50.13\")"],
    ["volume", "GlusterFS volume that holds the SR (required, e.g. \"xosan\"); "
               "sr-probe with only server= lists the volumes"],
    ["attach-timeout", "Seconds an attach waits for the storage VMs and volume quorum after a host "
                       "boot before it gives up (optional, default %d)" % DEFAULT_ATTACH_TIMEOUT],
]

KNOWN_KEYS = frozenset(k for k, _ in CONFIGURATION)

# What an address or a host name is written with. Checked here, before the address rules:
# a regex ending in `$` also matches before a final newline, so "node\n.lan" would pass as
# a host name and reach mount.glusterfs.
_ADDRESS_CHARS = re.compile(r"[A-Za-z0-9.:-]*\Z")
# ASCII digits only: int() also takes "1_0" and other scripts' digits.
_SECONDS = re.compile(r"[0-9]{1,9}\Z")
_SHOWN = 60  # characters of a bad value a message quotes: XenCenter shows the whole message


def shown(text):
    # type: (str) -> str
    """A bad value as a message quotes it: repr (control characters visible), and cut short,
    since a pasted megabyte would otherwise be the whole error XenCenter shows."""
    if len(text) <= _SHOWN:
        return repr(text)
    return "%r... (%d characters)" % (text[:_SHOWN], len(text))


class DeviceConfig(object):
    """Checked device-config: ``servers`` (list), ``volume``, ``attach_timeout``."""

    def __init__(self, servers, volume, attach_timeout=DEFAULT_ATTACH_TIMEOUT):
        self.servers = list(servers)
        self.volume = volume
        self.attach_timeout = attach_timeout

    def __repr__(self):
        return "DeviceConfig(servers=%r, volume=%r, attach_timeout=%r)" % (
            self.servers, self.volume, self.attach_timeout)


def parse(dconf, require_volume=True):
    # type: (dict, bool) -> DeviceConfig
    """Check a device-config dict as xapi passes it; raise ConfigError naming the key."""
    raw_server = (dconf.get("server") or "").strip()
    if not raw_server:
        raise MissingKey("server", "device-config:server is missing",
                         hint='Give every storage node address, comma separated, e.g. '
                              'device-config:server=10.0.50.11,10.0.50.12,10.0.50.13')
    servers = parse_servers(raw_server)

    volume = (dconf.get("volume") or "").strip()
    if not volume:
        if require_volume:
            raise MissingKey("volume", "device-config:volume is missing",
                             hint='Name the GlusterFS volume, e.g. device-config:volume=xosan '
                                  '(xe sr-probe type=xosan device-config:server=... lists them)')
        volume = None
    elif not facts.is_volume_name(volume):
        raise InvalidValue("volume", "device-config:volume=%s is not a GlusterFS volume name" % shown(volume),
                           hint="Use %s, e.g. device-config:volume=xosan" % facts.VOLUME_NAME_RULE)

    timeout = DEFAULT_ATTACH_TIMEOUT
    raw_timeout = dconf.get("attach-timeout")
    if raw_timeout not in (None, ""):
        text = str(raw_timeout).strip()
        timeout = int(text) if _SECONDS.match(text) else -1
        if not 1 <= timeout <= 3600:
            raise InvalidValue("attach-timeout",
                               "device-config:attach-timeout=%s is not a number of seconds "
                               "between 1 and 3600" % shown(str(raw_timeout)),
                               hint="e.g. device-config:attach-timeout=120")
    return DeviceConfig(servers, volume, timeout)


def parse_servers(text):
    # type: (str) -> list
    """Split and check a comma separated server list; keep order, drop duplicates."""
    servers = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise InvalidValue("server", "device-config:server=%s has an empty entry" % shown(text),
                               hint="Separate addresses with single commas, e.g. 10.0.50.11,10.0.50.12")
        if ":/" in item or item.count("/"):
            raise InvalidValue("server", "device-config:server entry %s contains a path" % shown(item),
                               hint="server takes addresses only; put the volume name in "
                                    "device-config:volume, e.g. server=10.0.50.11 volume=xosan")
        if not _ADDRESS_CHARS.match(item) or not facts.is_valid_address(item):
            raise InvalidValue("server", "device-config:server entry %s is not an IP address or "
                                         "host name" % shown(item),
                               hint="e.g. device-config:server=10.0.50.11,10.0.50.12,10.0.50.13")
        if item not in servers:
            servers.append(item)
    return servers
