"""The deployment manifest as XOSAN uses it: its keys, limits and defaults, the checked
:class:`Manifest` and its parts, and :class:`ManifestError`. No YAML here: yaml_reader.py reads
a file into raw values, rules.py checks them and builds a Manifest.
"""

import ipaddress

from xosan.errors import ConfigError
from xosan.facts import DOM0_OFFSET, STORAGE_VM_OFFSET
from xosan.pool.manifest.sizes import ALL, GiB, MiB, format_size, size_value

AUTO = "auto"
LOCAL = "local"

# No "new private network" mode: a network without a physical interface cannot join hosts.
NETWORK_MODES = ("existing", "vlan")
MIN_HOSTS = 2
MAX_HOSTS = 16

# Storage-network addresses: network + offset + host index (0-based).
MIN_PREFIX, MAX_PREFIX = 16, 29
MIN_MTU, MAX_MTU = 1280, 9000
MIN_VLAN, MAX_VLAN = 1, 4094
MIN_MEMORY, MAX_MEMORY = 512 * MiB, 16 * GiB
MIN_VCPUS, MAX_VCPUS = 1, 16
MIN_BRICK = GiB

DEFAULT_MASTER = LOCAL
DEFAULT_USERNAME = "root"
DEFAULT_HOSTS = ALL
DEFAULT_SR = AUTO
DEFAULT_BRICK_SIZE = ALL
DEFAULT_RESERVE = 10 * GiB
DEFAULT_NETWORK_MODE = "existing"
DEFAULT_NETWORK_NAME = "XOSAN storage"
DEFAULT_MTU = 1500
DEFAULT_LAYOUT = AUTO
DEFAULT_TEMPLATE = "XOSAN storage VM"
DEFAULT_MEMORY = GiB
DEFAULT_VCPUS = 2
DEFAULT_SR_NAME = "XOSAN"
# GlusterFS TLS (docs/security-tls.md). "management" (the default): glusterd <-> glusterd, CLI and
# volfile fetches over TLS with the deployment's own CA. "io": management and the volume's I/O path too
# (client.ssl/server.ssl on, auth.ssl-allow = the deployment's names): costs ~40 % of the 4K IOPS.
# "off": neither; auth.allow and the storage VMs' packet filter still admit only the deployment.
# Management TLS became the default once XOSAN ran its volume commands away from the dom0s' volfile
# server (cluster.command_order): glusterd breaks TLS connections still in their handshake while it
# commits (a GlusterFS bug), and only the originator's clients met that at a graph switch. A re-run
# that leaves `tls` out keeps what the volume runs (deploy._tls_mode), so older deployments stay as
# they are.
TLS_CHOICES = ("off", "management", "io")
DEFAULT_TLS = "management"

FLAGS_SOURCE = "<flags>"

# The keys, in the order of docs/manifest.md: a section maps to its keys, a leaf to None.
SCHEMA = (
    ("pool", (("master", None), ("username", None), ("password-file", None), ("tls-fingerprint", None))),
    ("hosts", None),
    ("storage", (("sr", None), ("brick-size", None), ("reserve", None))),
    ("network", (("mode", None), ("name", None), ("pif", None), ("vlan", None),
                 ("addresses", None), ("gateway", None), ("mtu", None))),
    ("layout", None),
    ("disperse", (("data", None), ("redundancy", None))),
    ("witness", None),
    ("tls", None),
    ("vm", (("template", None), ("image", None), ("image-sr", None), ("memory", None), ("vcpus", None))),
    ("volume", None),
    ("sr-name", None),
)

# from_flags keyword -> manifest key; the flag is "--" + keyword with "-" for "_".
FLAG_KEYS = (
    ("master", "pool.master"),
    ("username", "pool.username"),
    ("password_file", "pool.password-file"),
    ("tls_fingerprint", "pool.tls-fingerprint"),
    ("hosts", "hosts"),
    ("sr", "storage.sr"),
    ("brick_size", "storage.brick-size"),
    ("reserve", "storage.reserve"),
    ("network_mode", "network.mode"),
    ("network_name", "network.name"),
    ("pif", "network.pif"),
    ("vlan", "network.vlan"),
    ("addresses", "network.addresses"),
    ("gateway", "network.gateway"),
    ("mtu", "network.mtu"),
    ("layout", "layout"),
    ("disperse_data", "disperse.data"),
    ("disperse_redundancy", "disperse.redundancy"),
    ("witness", "witness"),
    ("tls", "tls"),
    ("template", "vm.template"),
    ("image", "vm.image"),
    ("image_sr", "vm.image-sr"),
    ("memory", "vm.memory"),
    ("vcpus", "vm.vcpus"),
    ("volume", "volume"),
    ("sr_name", "sr-name"),
)
KEY_FLAG = dict((key, "--" + kw.replace("_", "-")) for kw, key in FLAG_KEYS)
KW_KEY = dict(FLAG_KEYS)


def join_key(parent, name):
    return "%s.%s" % (parent, name) if parent else name


def parent_key(key):
    if key.endswith("]"):
        return key[:key.rindex("[")]
    return key.rpartition(".")[0]


def base_key(key):
    return key.split("[", 1)[0]


class ManifestError(ConfigError):
    """A manifest (or deploy flag) is wrong.

    ``key``: dotted path (``network.addresses``, ``hosts[1]``) or flag (``--addresses``);
    None for a file that cannot be read or is not YAML. ``path``: the file (``<string>``,
    ``<flags>``); ``line`` / ``column``: 1-based, None for flags. ``str()`` gives
    ``FILE, line L, column C: MESSAGE. HINT``.
    """

    def __init__(self, key, message, hint=None, path=None, line=None, column=None):
        ConfigError.__init__(self, key, message, hint)
        self.path = path
        self.line = line
        self.column = column

    @property
    def location(self):
        """``xosan.yaml, line 7, column 3`` (what is known of it), or "" for flags."""
        if self.line is None:
            return "" if self.path in (None, FLAGS_SOURCE) else self.path
        where = "line %d" % self.line
        if self.column is not None:
            where += ", column %d" % self.column
        return "%s, %s" % (self.path, where) if self.path else where

    def __str__(self):
        text = ConfigError.__str__(self)
        return "%s: %s" % (self.location, text) if self.location else text


# -- the checked manifest ------------------------------------------------------------------

class PoolSpec(object):
    """``master``: "local" or the pool master's URL; ``username``; ``password_file`` or None;
    ``tls_fingerprint``: SHA-256 of the master's certificate (64 lower-case hex digits) or None."""

    def __init__(self, master=DEFAULT_MASTER, username=DEFAULT_USERNAME, password_file=None,
                 tls_fingerprint=None):
        self.master = master
        self.username = username
        self.password_file = password_file
        self.tls_fingerprint = tls_fingerprint

    @property
    def local(self):
        """True: use dom0's local XAPI session (run on the pool master)."""
        return self.master == LOCAL

    def __repr__(self):
        return "PoolSpec(master=%r, username=%r, password_file=%r)" % (
            self.master, self.username, self.password_file)


class StorageSpec(object):
    """``sr``: local SR name-label or "auto"; ``brick_size``: bytes or "all"; ``reserve``: bytes."""

    def __init__(self, sr=DEFAULT_SR, brick_size=DEFAULT_BRICK_SIZE, reserve=DEFAULT_RESERVE):
        self.sr = sr
        self.brick_size = brick_size
        self.reserve = reserve

    def __repr__(self):
        return "StorageSpec(sr=%r, brick_size=%r, reserve=%r)" % (self.sr, self.brick_size, self.reserve)


class NetworkSpec(object):
    """The storage network.

    ``mode`` (existing|new|vlan), ``name``, ``pif`` and ``vlan`` (vlan mode only, else None),
    ``addresses`` ("10.0.50.0/24"), ``gateway`` (address or None), ``mtu``; derived:
    ``prefix`` (24), ``netmask`` ("255.255.255.0").
    """

    def __init__(self, mode, name, pif, vlan, addresses, gateway, mtu):
        self.mode = mode
        self.name = name
        self.pif = pif
        self.vlan = vlan
        self.addresses = addresses
        self.gateway = gateway
        self.mtu = mtu
        net = ipaddress.IPv4Network(addresses)
        self.prefix = net.prefixlen
        self.netmask = str(net.netmask)

    def storage_vm_address(self, index):
        """Address of the storage VM of the ``index``-th host (0-based): .11, .12, ..."""
        return self._address(STORAGE_VM_OFFSET + index)

    def dom0_address(self, index):
        """Storage-network address of the ``index``-th host's dom0 (0-based): .101, .102, ..."""
        return self._address(DOM0_OFFSET + index)

    def storage_vm_addresses(self, count):
        return [self.storage_vm_address(i) for i in range(count)]

    def dom0_addresses(self, count):
        return [self.dom0_address(i) for i in range(count)]

    def _address(self, offset):
        return str(ipaddress.IPv4Network(self.addresses).network_address + offset)

    def __repr__(self):
        return ("NetworkSpec(mode=%r, name=%r, pif=%r, vlan=%r, addresses=%r, gateway=%r, mtu=%r)"
                % (self.mode, self.name, self.pif, self.vlan, self.addresses, self.gateway, self.mtu))


class DisperseSpec(object):
    """Erasure code of a disperse volume: ``data`` fragments + ``redundancy`` fragments."""

    def __init__(self, data, redundancy):
        self.data = data
        self.redundancy = redundancy

    def __repr__(self):
        return "DisperseSpec(data=%r, redundancy=%r)" % (self.data, self.redundancy)


class VMSpec(object):
    """The storage VMs: ``template`` name-label, ``memory`` in bytes, ``vcpus``; ``image``: the
    appliance (VHD or its manifest.json, an absolute path) to import when the pool has no template
    of it, or None; ``image_sr``: the SR name-label to import it into, or "auto"."""

    def __init__(self, template=DEFAULT_TEMPLATE, memory=DEFAULT_MEMORY, vcpus=DEFAULT_VCPUS, image=None,
                 image_sr=AUTO):
        self.template = template
        self.memory = memory
        self.vcpus = vcpus
        self.image = image
        self.image_sr = image_sr

    def __repr__(self):
        return "VMSpec(template=%r, memory=%r, vcpus=%r, image=%r, image_sr=%r)" % (
            self.template, self.memory, self.vcpus, self.image, self.image_sr)


class Manifest(object):
    """A checked deployment manifest (every default filled in).

    ``source``: the file, "<string>" or "<flags>"; ``pool`` (PoolSpec); ``hosts``: "all" or a
    list of host name-labels in the order given; ``storage`` (StorageSpec); ``network``
    (NetworkSpec); ``layout``; ``disperse`` (DisperseSpec, or None: the planner's default
    code); ``witness``: address or None; ``tls``: "off", "management" or "io"; ``vm`` (VMSpec); ``volume``; ``sr_name``;
    ``locations``: {key: (line, column)} of every key written in the file (empty for flags).
    """

    def __init__(self, source, pool, hosts, storage, network, layout, disperse, witness, vm,
                 volume, sr_name, locations=None, tls=DEFAULT_TLS, tls_written=False):
        self.source = source
        self.pool = pool
        self.hosts = hosts
        self.storage = storage
        self.network = network
        self.layout = layout
        self.disperse = disperse
        self.witness = witness
        self.vm = vm
        self.volume = volume
        self.sr_name = sr_name
        self.tls = tls
        # whether ``tls`` was written (manifest key or flag) or is the default: a re-run of a deployment
        # made without TLS keeps it off unless told otherwise (deploy.py, _tls_mode)
        self.tls_written = tls_written
        self.locations = dict(locations or {})

    @property
    def host_count(self):
        """Number of hosts listed, or None for "all" (known only once the pool is read)."""
        return None if self.hosts == ALL else len(self.hosts)

    def error(self, key, message, hint=None):
        """A ManifestError about ``key`` (dotted path) found later, e.g. by the deployer:
        it points at the key's line in the file, or names its flag."""
        if self.source == FLAGS_SOURCE:
            shown = KEY_FLAG.get(base_key(key), key)
            line = column = None
        else:
            shown = key
            line, column = self.locations.get(key, (None, None))
            probe = key
            while line is None and probe:  # the nearest written ancestor (hosts[3] -> hosts)
                probe = parent_key(probe)
                line, column = self.locations.get(probe, (None, None))
        return ManifestError(shown, "`%s`: %s" % (shown, message), hint, self.source, line, column)

    def __eq__(self, other):
        return isinstance(other, Manifest) and to_dict(self) == to_dict(other)

    def __ne__(self, other):
        return not self == other

    __hash__ = None

    def __repr__(self):
        return "Manifest(source=%r, %r)" % (self.source, to_dict(self))



# -- sizes and plain data ---------------------------------------------------------------------

def parse_size(text, key, allow_all=False):
    # type: (str, str, bool) -> int
    """Bytes in a size such as "500G", "1.5T", "10GiB", "512m" (K M G T = powers of 1024,
    any case, optional "iB"/"B"; "4096B" for bytes). "all" gives ALL when ``allow_all``.
    Raises ManifestError naming ``key`` (e.g. "--brick-size")."""
    value, problem = size_value(text, allow_all)
    if problem:
        raise ManifestError(key, "`%s` %s" % (key, problem[0]), problem[1][0].upper() + problem[1][1:])
    return value


def to_dict(manifest):
    # type: (Manifest) -> dict
    """The manifest as plain data with every key (kebab-case, as in the file), sizes as text:
    ``yaml.safe_dump(to_dict(m), sort_keys=False)`` is a manifest that loads to the same."""
    m = manifest
    return {
        "pool": {"master": m.pool.master, "username": m.pool.username,
                 "password-file": m.pool.password_file, "tls-fingerprint": m.pool.tls_fingerprint},
        "hosts": m.hosts if m.hosts == ALL else list(m.hosts),
        "storage": {"sr": m.storage.sr,
                    "brick-size": (ALL if m.storage.brick_size == ALL
                                   else format_size(m.storage.brick_size)),
                    "reserve": format_size(m.storage.reserve)},
        "network": {"mode": m.network.mode, "name": m.network.name, "pif": m.network.pif,
                    "vlan": m.network.vlan, "addresses": m.network.addresses,
                    "gateway": m.network.gateway, "mtu": m.network.mtu},
        "layout": m.layout,
        "disperse": (None if m.disperse is None
                     else {"data": m.disperse.data, "redundancy": m.disperse.redundancy}),
        "witness": m.witness,
        "tls": m.tls,
        "vm": {"template": m.vm.template, "image": m.vm.image, "image-sr": m.vm.image_sr,
               "memory": format_size(m.vm.memory), "vcpus": m.vm.vcpus},
        "volume": m.volume,
        "sr-name": m.sr_name,
    }
