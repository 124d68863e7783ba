"""The deployment manifest of ``xosan deploy -f xosan.yaml``: load, check, normalize.

A manifest is one YAML document (docs/manifest.md lists every key; examples/xosan.yaml
is a commented example). :func:`load` / :func:`loads` read it, :func:`from_flags`
builds the same thing from command-line flags; both run the same checks and return a
:class:`Manifest`, or raise :class:`ManifestError`, which names the key (dotted path
such as ``network.addresses``, or the flag such as ``--addresses``), the file, line and
column where it is, and what to write instead.

The YAML is read with ``yaml.compose`` (SafeLoader: nothing is constructed), so every
value keeps its position and its text as written: ``name: 2024`` or ``sr: no`` are
names, not numbers or booleans.

Runs in dom0: Python 3.6, PyYAML only.
"""

import difflib
import ipaddress
import os
import re
from fractions import Fraction
from urllib.parse import urlsplit

import yaml

from xosan import facts
from xosan.errors import ConfigError
from xosan.facts import DEFAULT_VOLUME, DOM0_OFFSET, LAYOUTS, STORAGE_VM_OFFSET, is_valid_address
from xosan.pool.tls import normalize_fingerprint

ALL = "all"
AUTO = "auto"
LOCAL = "local"

KiB = 1024
MiB = 1024 ** 2
GiB = 1024 ** 3
TiB = 1024 ** 4
_UNITS = (("T", TiB), ("G", GiB), ("M", MiB), ("K", KiB))

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
    ("template", "vm.template"),
    ("image", "vm.image"),
    ("image_sr", "vm.image-sr"),
    ("memory", "vm.memory"),
    ("vcpus", "vm.vcpus"),
    ("volume", "volume"),
    ("sr_name", "sr-name"),
)
_KEY_FLAG = dict((key, "--" + kw.replace("_", "-")) for kw, key in FLAG_KEYS)
_KW_KEY = dict(FLAG_KEYS)

_PIF_DEVICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,14}$")
_INTEGER = re.compile(r"^[0-9]+$")
_SIZE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*(?:([KMGT])(?:I?B)?|(B))?$", re.IGNORECASE)
_NULL_TAG = "tag:yaml.org,2002:null"
_MERGE_TAG = "tag:yaml.org,2002:merge"

_EXAMPLES = {
    "pool.master": "https://192.168.1.10",
    "pool.username": DEFAULT_USERNAME,
    "pool.password-file": "/root/.xosan-password",
    "pool.tls-fingerprint": "3F:A1:...:9C (64 hex digits)",
    "hosts": ["xcp1", "xcp2", "xcp3"],
    "storage.sr": "auto",
    "storage.brick-size": "500G",
    "storage.reserve": "10G",
    "network.mode": "existing",
    "network.name": DEFAULT_NETWORK_NAME,
    "network.pif": "eth1",
    "network.vlan": "100",
    "network.addresses": "10.0.50.0/24",
    "network.gateway": "10.0.50.1",
    "network.mtu": "1500",
    "layout": "auto",
    "disperse.data": "2",
    "disperse.redundancy": "1",
    "witness": "10.0.50.9",
    "vm.template": DEFAULT_TEMPLATE,
    "vm.image": "/root/xosan-appliance/manifest.json",
    "vm.image-sr": AUTO,
    "vm.memory": "1G",
    "vm.vcpus": "2",
    "volume": DEFAULT_VOLUME,
    "sr-name": DEFAULT_SR_NAME,
}


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
    code); ``witness``: address or None; ``vm`` (VMSpec); ``volume``; ``sr_name``;
    ``locations``: {key: (line, column)} of every key written in the file (empty for flags).
    """

    def __init__(self, source, pool, hosts, storage, network, layout, disperse, witness, vm,
                 volume, sr_name, locations=None):
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
        self.locations = dict(locations or {})

    @property
    def host_count(self):
        """Number of hosts listed, or None for "all" (known only once the pool is read)."""
        return None if self.hosts == ALL else len(self.hosts)

    def error(self, key, message, hint=None):
        """A ManifestError about ``key`` (dotted path) found later, e.g. by the deployer:
        it points at the key's line in the file, or names its flag."""
        if self.source == FLAGS_SOURCE:
            shown = _KEY_FLAG.get(_base_key(key), key)
            line = column = None
        else:
            shown = key
            line, column = self.locations.get(key, (None, None))
            probe = key
            while line is None and probe:  # the nearest written ancestor (hosts[3] -> hosts)
                probe = _parent_key(probe)
                line, column = self.locations.get(probe, (None, None))
        return ManifestError(shown, "`%s`: %s" % (shown, message), hint, self.source, line, column)

    def __eq__(self, other):
        return isinstance(other, Manifest) and to_dict(self) == to_dict(other)

    def __ne__(self, other):
        return not self == other

    __hash__ = None

    def __repr__(self):
        return "Manifest(source=%r, %r)" % (self.source, to_dict(self))


# -- public functions ----------------------------------------------------------------------

def load(path):
    # type: (str) -> Manifest
    """Read and check the manifest file ``path``; ManifestError on any problem."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except (IOError, OSError) as exc:
        raise ManifestError(None, "cannot read the manifest %s: %s" % (path, exc.strerror or exc),
                            "Give the path of the YAML manifest, e.g. xosan deploy -f xosan.yaml "
                            "(examples/xosan.yaml is a commented example)", path) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ManifestError(None, "the manifest is not UTF-8 text (byte 0x%02x)" % raw[exc.start],
                            "Save the file as UTF-8", path, line, column) from None
    return _parse(text, path, os.path.dirname(os.path.abspath(path)))


def loads(text, source="<string>"):
    # type: (str, str) -> Manifest
    """Check the manifest in ``text``; ``source`` names it in error messages."""
    if isinstance(text, bytes):
        text = text.decode("utf-8-sig")
    return _parse(text, source, None)


def from_flags(**kw):
    # type: (...) -> Manifest
    """The manifest from ``xosan deploy`` flags (keywords: see FLAG_KEYS; None = not given).

    ``hosts`` is "all", a list, or a comma separated string; numbers may be ints or strings;
    sizes are strings ("500G"). Errors name the flag (key "--addresses"), with no line.
    """
    unknown = sorted(k for k in kw if k not in _KW_KEY)
    if unknown:
        raise TypeError("from_flags() got unknown keyword(s) %s; known: %s" % (
            ", ".join(unknown), ", ".join(kw_ for kw_, _ in FLAG_KEYS)))
    root = _Value("", _MAP, {})
    for kw_, key in FLAG_KEYS:
        value = kw.get(kw_)
        if value is None:
            continue
        parts = key.split(".")
        parent = root
        for i, part in enumerate(parts[:-1]):
            if part not in parent.data:
                parent.data[part] = _Value(".".join(parts[:i + 1]), _MAP, {})
            parent = parent.data[part]
        parent.data[parts[-1]] = _flag_value(key, value)
    return _Checker(FLAGS_SOURCE, root, flags=True).manifest()


def parse_size(text, key, allow_all=False):
    # type: (str, str, bool) -> int
    """Bytes in a size such as "500G", "1.5T", "10GiB", "512m" (K M G T = powers of 1024,
    any case, optional "iB"/"B"; "4096B" for bytes). "all" gives ALL when ``allow_all``.
    Raises ManifestError naming ``key`` (e.g. "--brick-size")."""
    value, problem = _size(text, allow_all)
    if problem:
        raise ManifestError(key, "`%s` %s" % (key, problem[0]), problem[1][0].upper() + problem[1][1:])
    return value


def format_size(n):
    # type: (int) -> str
    """The shortest size text that parse_size reads back exactly: 1.5T, 10G, 512M, 4096B."""
    if n == 0:
        return "0G"
    for unit, factor in _UNITS:
        if n >= factor:
            if n % factor == 0:
                return "%d%s" % (n // factor, unit)
            for digits in (1, 2):
                text = "%.*f" % (digits, float(n) / factor)
                if Fraction(text) * factor == n:
                    return text.rstrip("0").rstrip(".") + unit
    return "%dB" % n


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
        "vm": {"template": m.vm.template, "image": m.vm.image, "image-sr": m.vm.image_sr,
               "memory": format_size(m.vm.memory), "vcpus": m.vm.vcpus},
        "volume": m.volume,
        "sr-name": m.sr_name,
    }


# -- raw values: YAML nodes or flags, with their positions ---------------------------------

_MAP, _LIST, _SCALAR, _NULL = "section", "list", "value", "empty"


class _Value(object):
    """A value as written: kind _MAP (data: {name: _Value}, or None under a leaf key),
    _LIST (data: [_Value]), _SCALAR (data: text) or _NULL. ``line``/``column``: where the
    value is; ``key_line``/``key_column``: where its key is (1-based; None for flags)."""

    def __init__(self, key, kind, data, line=None, column=None, key_line=None, key_column=None):
        self.key = key
        self.kind = kind
        self.data = data
        self.line = line
        self.column = column
        self.key_line = line if key_line is None else key_line
        self.key_column = column if key_column is None else key_column


def _flag_value(key, value):
    if key == "hosts" and isinstance(value, str) and value.strip().lower() != ALL:
        value = [h for h in value.split(",")] if value.strip() else []
    if isinstance(value, (list, tuple)):
        return _Value(key, _LIST, [_flag_value("%s[%d]" % (key, i), v) for i, v in enumerate(value)])
    if isinstance(value, bool):
        value = str(value).lower()
    return _Value(key, _SCALAR, str(value))


def _pos(mark):
    return mark.line + 1, mark.column + 1


def _join(parent, name):
    return "%s.%s" % (parent, name) if parent else name


def _parent_key(key):
    if key.endswith("]"):
        return key[:key.rindex("[")]
    return key.rpartition(".")[0]


def _base_key(key):
    return key.split("[", 1)[0]


def _leaf_names():
    names = {}
    for section, keys in SCHEMA:
        if keys:
            for name, _ in keys:
                names.setdefault(name, []).append(_join(section, name))
    return names


_SYNTAX_HINTS = (
    ("found character '\\t'", "Indent with spaces: YAML does not allow tabs"),
    ("expected a single document", "A manifest is one YAML document: remove the second `---`"),
    ("mapping values are not allowed", "Check the indentation of this line, and put values that "
                                       "contain `: ` in quotes, e.g. `name: \"a: b\"`"),
    ("could not find expected ':'", "Every line of a section is `key: value` (a space after the "
                                    "colon); check for a missing `:` or an unclosed quote"),
    ("expected <block end>", "Check the indentation: the keys of one section start in the same "
                             "column, under the section name and further right"),
    ("undefined alias", "Define the anchor (`&name`) before using it (`*name`)"),
    ("found unexpected end of stream", "Close the quote or bracket that is still open"),
)
_SYNTAX_HINT = ("Check the indentation (spaces only) and put values in quotes when they contain "
                "`: ` or ` #`, or start with `{`, `[`, `*`, `&`, `!`, `%`, `@` or a backquote")


def _parse(text, source, base_dir):
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "not valid YAML"
        message = "YAML syntax error: %s" % problem
        if exc.context and exc.problem and exc.context_mark is not None:
            where = "line %d, column %d" % (exc.context_mark.line + 1, exc.context_mark.column + 1)
            if problem.startswith("but "):  # "expected a single document ..., but found another"
                message = "YAML syntax error: %s (%s), %s" % (exc.context, where, problem)
            else:
                message += " (%s at %s)" % (exc.context, where)
        hint = _SYNTAX_HINT
        for needle, specific in _SYNTAX_HINTS:
            if needle in str(exc):
                hint = specific
                break
        line, column = _pos(mark) if mark is not None else (None, None)
        raise ManifestError(None, message, hint, source, line, column) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise ManifestError(None, "the manifest contains the character %r, which YAML does not "
                                  "allow" % exc.character,
                            "Remove it (control characters are not allowed; use UTF-8 text)",
                            source, line, column) from None
    except yaml.YAMLError as exc:
        raise ManifestError(None, "YAML error: %s" % exc, _SYNTAX_HINT, source) from None
    reader = _NodeReader(source)
    if node is None:
        root = _Value("", _MAP, {}, 1, 1)
    else:
        if not isinstance(node, yaml.MappingNode):
            line, column = _pos(node.start_mark)
            raise ManifestError(None, "the manifest is %s, not a set of `key: value` lines" % (
                "a list" if isinstance(node, yaml.SequenceNode) else "a single value"),
                "Start from examples/xosan.yaml: `pool:`, `hosts:`, `network:`, ... each at the "
                "start of a line", source, line, column)
        root = reader.section(node, "", SCHEMA, None)
    return _Checker(source, root, flags=False, base_dir=base_dir).manifest()


class _NodeReader(object):
    """YAML nodes -> _Values; raises on duplicate, unknown and misplaced keys, in file order."""

    def __init__(self, source):
        self.source = source

    def fail(self, key, message, hint, line, column):
        raise ManifestError(key, message, hint, self.source, line, column)

    def section(self, node, key, schema, key_mark):
        line, column = _pos(node.start_mark)
        key_line, key_column = _pos(key_mark) if key_mark is not None else (line, column)
        if isinstance(node, yaml.ScalarNode) and (node.tag == _NULL_TAG or not node.value.strip()):
            return _Value(key, _MAP, {}, line, column, key_line, key_column)  # `vm:` alone: empty
        if not isinstance(node, yaml.MappingNode):
            first = schema[0][0]
            self.fail(key, "`%s` is a section, not %s" % (
                key, "a list" if isinstance(node, yaml.SequenceNode) else "a value"),
                "Write its keys on the lines below it, indented, e.g. `%s:` then `  %s: %s`" % (
                    key, first, _EXAMPLES[_join(key, first)]), line, column)
        names = dict(schema)
        data = {}
        seen = {}
        for key_node, value_node in node.value:
            kline, kcol = _pos(key_node.start_mark)
            if not isinstance(key_node, yaml.ScalarNode):
                self.fail(key or None, "a key in %s is a %s; keys are plain names" % (
                    "`%s`" % key if key else "the manifest",
                    "list" if isinstance(key_node, yaml.SequenceNode) else "section"),
                    "Write `name: value`", kline, kcol)
            name = key_node.value
            path = _join(key, name)
            if key_node.tag == _MERGE_TAG:
                self.fail(path, "merge key `%s` is not supported in the manifest" % path,
                          "Write the keys out", kline, kcol)
            if name in seen:
                self.fail(path, "duplicate key `%s` (first at line %d)" % (path, seen[name]),
                          "Keep one `%s:` line%s: YAML would silently use the last one" % (
                              name, " in `%s:`" % key if key else ""), kline, kcol)
            seen[name] = kline
            if name.strip().lower() in ("password", "passwd", "pass"):
                self.fail(path, "`%s`: a password never goes in the manifest" % path,
                          "Put it in a file only root can read, e.g. /root/.xosan-password (chmod "
                          "600), and write `password-file: /root/.xosan-password` under `pool:`; or "
                          "leave both out and xosan deploy asks for it", kline, kcol)
            if name not in names:
                self.fail(path, "unknown key `%s`" % path, self.suggest(key, name, schema), kline, kcol)
            sub = names[name]
            if sub is None:
                data[name] = self.leaf(value_node, path, key_node.start_mark)
            else:
                data[name] = self.section(value_node, path, sub, key_node.start_mark)
        return _Value(key, _MAP, data, line, column, key_line, key_column)

    def leaf(self, node, key, key_mark):
        line, column = _pos(node.start_mark)
        key_line, key_column = _pos(key_mark) if key_mark is not None else (line, column)
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _NULL_TAG:
                return _Value(key, _NULL, None, line, column, key_line, key_column)
            return _Value(key, _SCALAR, node.value, line, column, key_line, key_column)
        if isinstance(node, yaml.SequenceNode) and key_mark is not None:
            items = [self.leaf(child, "%s[%d]" % (key, i), None) for i, child in enumerate(node.value)]
            return _Value(key, _LIST, items, line, column, key_line, key_column)
        kind = _LIST if isinstance(node, yaml.SequenceNode) else _MAP
        return _Value(key, kind, None, line, column, key_line, key_column)

    @staticmethod
    def suggest(section, name, schema):
        names = [n for n, _ in schema]
        where = "in `%s:`" % section if section else "at the top level"
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        if not close and name.lower() in names:
            close = [name.lower()]
        if close:
            extra = " (keys are lower case, with `-` between words)" if (
                close[0] == name.lower().replace("_", "-") and close[0] != name) else ""
            return "Did you mean `%s`?%s" % (close[0], extra)
        elsewhere = _leaf_names().get(name.lower().replace("_", "-"))
        if elsewhere:
            return "Did you mean `%s`? Put `%s:` under `%s:`" % (
                elsewhere[0], elsewhere[0].split(".")[1], elsewhere[0].split(".")[0])
        return "Valid keys %s: %s" % (where, ", ".join(names))


# -- the checks (shared by YAML and flags) -------------------------------------------------

class _Checker(object):

    def __init__(self, source, root, flags, base_dir=None):
        self.source = source
        self.root = root
        self.flags = flags
        self.base_dir = base_dir
        self.locations = {}
        if not flags:
            self._collect(root)

    def _collect(self, value):
        if value.key:  # a section or list: where its name is; a value: where the value is
            self.locations[value.key] = ((value.key_line, value.key_column)
                                         if value.kind in (_MAP, _LIST) else (value.line, value.column))
        if value.kind == _MAP and value.data:
            for child in value.data.values():
                self._collect(child)
        elif value.kind == _LIST and value.data:
            for child in value.data:
                self._collect(child)

    # -- wording: the same rule speaks YAML or flags

    def name(self, key):
        """How the user wrote (or would write) ``key``: `network.addresses` or `--addresses`."""
        if self.flags:
            return "`%s`" % _KEY_FLAG.get(_base_key(key), key)
        return "`%s`" % key

    def setting(self, key, value):
        """What to write: `addresses: 10.0.50.0/24` or `--addresses 10.0.50.0/24`; a list
        value (hosts) is written [a, b] in YAML and a,b as a flag."""
        if isinstance(value, (list, tuple)):
            value = (",".join if self.flags else lambda v: "[%s]" % ", ".join(v))(value)
        value = str(value)
        if self.flags:
            if " " in value:
                value = "'%s'" % value
            return "`%s %s`" % (_KEY_FLAG.get(key, key), value)
        return "`%s: %s`" % (key.rsplit(".", 1)[-1], value)

    def add(self, key, value):
        """Hint for a missing key: where to add it."""
        if self.flags:
            return "add %s" % self.setting(key, value)
        if "." not in key:
            return "add %s at the top level" % self.setting(key, value)
        section = key.split(".")[0]
        if self.get(section) is not None:
            return "add %s under `%s:`" % (self.setting(key, value), section)
        return "add a `%s:` section with %s indented under it" % (section, self.setting(key, value))

    def error_key(self, key):
        return _KEY_FLAG.get(_base_key(key), key) if self.flags else key

    # -- lookups and failures

    def get(self, key):
        value = self.root
        for part in key.split("."):
            if value is None or value.kind != _MAP or not value.data:
                return None
            value = value.data.get(part)
        return value

    def fail(self, key, problem, hint, at=None):
        """Raise about ``key``; the position is the value's (``at``="key": its key's), or for
        a missing key the nearest section written above it."""
        line = column = None
        if not self.flags:
            value = self.get(_base_key(key)) if "[" not in key else None
            if value is None and "[" in key:
                base = self.get(_base_key(key))
                index = int(key[key.rindex("[") + 1:-1])
                value = base.data[index] if base is not None and base.data else None
            if value is not None:
                if at == "key" or value.kind in (_MAP, _LIST):
                    line, column = value.key_line, value.key_column
                else:
                    line, column = value.line, value.column
            else:
                probe = key
                while value is None and probe:
                    probe = _parent_key(probe)
                    value = self.get(probe) if probe else None
                value = value or self.root
                line, column = value.key_line, value.key_column
        hint = hint[0].upper() + hint[1:] if hint else hint
        raise ManifestError(self.error_key(key), "%s %s" % (self.name(key), problem), hint,
                            self.source, line, column)

    def text(self, key, default=None, optional=False):
        """The text of ``key``, or ``default`` when not written. An empty value (`key:`) counts
        as not written for ``optional`` keys and is an error for keys with a default."""
        value = self.get(key)
        if value is None:
            return default
        if value.kind == _NULL or (value.kind == _SCALAR and not value.data.strip()):
            if optional:
                return None
            self.fail(key, "has no value",
                      "write %s, or delete the line for the default%s" % (
                          self.setting(key, _EXAMPLES[key]),
                          " (%s)" % default if default is not None else ""))
        if value.kind != _SCALAR:
            self.fail(key, "takes one value, not a %s" % ("list" if value.kind == _LIST else "section"),
                      "write e.g. %s" % self.setting(key, _EXAMPLES[key]))
        return value.data.strip()

    def choice(self, key, default, choices):
        text = self.text(key, default)
        if text.lower() in choices:
            return text.lower()
        close = difflib.get_close_matches(text.lower(), choices, n=1, cutoff=0.6)
        self.fail(key, "is `%s`, not one of %s" % (text, ", ".join(choices)),
                  "write %s" % self.setting(key, close[0] if close else default))

    def integer(self, key, default, low, high, optional=False):
        text = self.text(key, default if default is None else str(default), optional=optional)
        if text is None:
            return None
        if _INTEGER.match(text) and low <= int(text) <= high:
            return int(text)
        if _INTEGER.match(text):
            problem = "is %s, out of the range %d to %d" % (text, low, high)
        else:
            problem = "is `%s`, not a whole number from %d to %d" % (text, low, high)
        self.fail(key, problem, "write e.g. %s" % self.setting(key, _EXAMPLES[key]))

    def size(self, key, default, low=None, high=None, allow_all=False):
        value = self.get(key)
        if value is None:
            return default
        text = self.text(key, format_size(default) if isinstance(default, int) else default)
        result, problem = _size(text, allow_all)
        if problem:
            hint = problem[1] if "," in text else "write e.g. %s%s (units K, M, G, T: powers of 1024)" % (
                self.setting(key, _EXAMPLES[key]), " or %s" % self.setting(key, ALL) if allow_all else "")
            self.fail(key, problem[0], hint)
        if result != ALL:
            if low is not None and result < low:
                self.fail(key, "is %s, below the minimum %s" % (text, format_size(low)),
                          "write at least %s" % self.setting(key, format_size(low)))
            if high is not None and result > high:
                self.fail(key, "is %s, above the maximum %s" % (text, format_size(high)),
                          "write at most %s" % self.setting(key, format_size(high)))
        return result

    def not_allowed(self, key, why, hint):
        """``key`` must not be written here (an empty value counts as not written)."""
        value = self.get(key)
        if value is None or value.kind == _NULL or (value.kind == _SCALAR and not value.data.strip()):
            return
        self.fail(key, why, hint, at="key")

    # -- the manifest

    def manifest(self):
        pool = self.pool()
        hosts = self.hosts()
        count = MAX_HOSTS if hosts == ALL else len(hosts)
        storage = self.storage()
        network = self.network(hosts, count)
        layout = self.layout(hosts)
        disperse = self.disperse(hosts, layout)
        witness = self.witness(hosts, layout, network, count)
        vm = VMSpec(self.text("vm.template", DEFAULT_TEMPLATE),
                    self.size("vm.memory", DEFAULT_MEMORY, MIN_MEMORY, MAX_MEMORY),
                    self.integer("vm.vcpus", DEFAULT_VCPUS, MIN_VCPUS, MAX_VCPUS),
                    self.image_path(), self.text("vm.image-sr", AUTO))
        volume = self.text("volume", DEFAULT_VOLUME)
        if not facts.is_volume_name(volume):
            self.fail("volume", "is `%s`, not a GlusterFS volume name" % volume,
                      "use 1 to 64 letters, digits, `-` and `_`, e.g. %s" % self.setting(
                          "volume", re.sub(r"[^A-Za-z0-9_-]", "-", volume)[:64] or DEFAULT_VOLUME))
        sr_name = self.text("sr-name", DEFAULT_SR_NAME)
        return Manifest(self.source, pool, hosts, storage, network, layout, disperse, witness, vm,
                        volume, sr_name, self.locations)

    def image_path(self):
        """vm.image as an absolute path: relative to the manifest's folder (to the current one for flags)."""
        text = self.text("vm.image", None, optional=True)
        if text is None:
            return None
        text = os.path.expanduser(text)
        if self.base_dir and not os.path.isabs(text):
            text = os.path.join(self.base_dir, text)
        return os.path.abspath(text)

    def pool(self):
        master = self.text("pool.master", DEFAULT_MASTER)
        if master.lower() == LOCAL:
            master = LOCAL
        else:
            master = self.master_url(master)
        username = self.text("pool.username", DEFAULT_USERNAME)
        password_file = self.text("pool.password-file", None, optional=True)
        if password_file is not None:
            password_file = os.path.expanduser(password_file)
            if self.base_dir and not os.path.isabs(password_file):
                password_file = os.path.normpath(os.path.join(self.base_dir, password_file))
        return PoolSpec(master, username, password_file, self.tls_fingerprint(master))

    def tls_fingerprint(self, master):
        key = "pool.tls-fingerprint"
        text = self.text(key, None, optional=True)
        if text is None:
            return None
        try:
            fingerprint = normalize_fingerprint(text)
        except ValueError:
            self.fail(key, "is `%s`, not a SHA-256 fingerprint" % text,
                      "copy what `openssl x509 -noout -fingerprint -sha256 -in /etc/xensource/xapi-ssl.pem` "
                      "prints on the master: 32 hex pairs with colons")
        if not master.startswith("https://"):
            self.fail(key, "is set but pool.master is not an https URL",
                      "use it with pool.master: https://<master>, or remove it")
        return fingerprint

    def master_url(self, text):
        key = "pool.master"
        try:
            parts = urlsplit(text)
            port = parts.port  # a bad port raises here
        except ValueError as exc:
            port, parts = None, None
            self.fail(key, "is `%s`, not a URL (%s)" % (text, exc),
                      "write the pool master's URL, e.g. %s" % self.setting(key, _EXAMPLES[key]))
        if port == 0:
            self.fail(key, "is `%s`: port 0 is not a port" % text,
                      "leave the port out (443 for https), e.g. %s" % self.setting(key, _EXAMPLES[key]))
        if parts.scheme.lower() not in ("http", "https"):
            if "://" not in text:
                self.fail(key, "is `%s`, not a URL or `local`" % text,
                          "write %s (or `local` to use dom0's own session on the pool master)"
                          % self.setting(key, "https://" + text.rstrip("/")))
            self.fail(key, "is `%s`: the URL must start with https:// or http://" % text,
                      "write %s" % self.setting(key, "https://" + text.split("://", 1)[1]))
        if parts.username is not None or parts.password is not None:
            self.fail(key, "holds a user name or password (`user:password@`): a password never "
                           "goes in the manifest",
                      "write %s, the user in `username:` and the password in a file named by "
                      "`password-file:`" % self.setting(
                          key, "%s://%s" % (parts.scheme, parts.netloc.rsplit("@", 1)[1])))
        host = parts.hostname or ""
        if not host or not is_valid_address(host):
            self.fail(key, "is `%s`: `%s` is not a host name or IP address" % (text, host),
                      "write e.g. %s" % self.setting(key, _EXAMPLES[key]))
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            self.fail(key, "is `%s`: the URL of the pool master has no path" % text,
                      "write %s" % self.setting(key, "%s://%s" % (parts.scheme, parts.netloc)))
        return "%s://%s" % (parts.scheme.lower(), parts.netloc)

    def hosts(self):
        key = "hosts"
        value = self.get(key)
        if value is None:
            return DEFAULT_HOSTS
        if value.kind == _SCALAR and value.data.strip().lower() == ALL:
            return ALL
        if value.kind != _LIST:
            if value.kind == _SCALAR and value.data.strip():
                names = [n.strip() for n in value.data.split(",") if n.strip()]
                example = names + (["xcp2"] if len(names) < 2 else [])
                self.fail(key, "is `%s`, neither `all` nor a list of hosts" % value.data.strip(),
                          "write %s (a list of host name-labels) or %s" % (
                              self.setting(key, example), self.setting(key, ALL)))
            self.fail(key, "has no value" if value.kind != _MAP else "is a section",
                      "write %s or %s" % (self.setting(key, ALL), self.setting(key, _EXAMPLES[key])))
        names = []
        for i, item in enumerate(value.data):
            ikey = "%s[%d]" % (key, i)
            if item.kind != _SCALAR or not item.data.strip():
                self.fail(ikey, "entry %d is %s, not a host name-label" % (
                    i + 1, "empty" if item.kind in (_NULL, _SCALAR) else "a " + item.kind),
                    "list one host name-label per entry, e.g. %s" % self.setting(key, _EXAMPLES[key]))
            name = item.data.strip()
            if name.lower() == ALL:
                self.fail(ikey, "lists `all`", "write %s (not in a list) for every host of the "
                                               "pool" % self.setting(key, ALL))
            if name in names:
                self.fail(ikey, "lists `%s` twice" % name,
                          "list each host once: %s" % self.setting(key, names))
            names.append(name)
        if not MIN_HOSTS <= len(names) <= MAX_HOSTS:
            self.fail(key, "lists %d host%s; XOSAN needs %d to %d" % (
                len(names), "" if len(names) == 1 else "s", MIN_HOSTS, MAX_HOSTS),
                "list 2 to 16 hosts, e.g. %s, or write %s" % (
                    self.setting(key, _EXAMPLES[key]), self.setting(key, ALL))
                if len(names) < MIN_HOSTS else
                "list at most %d hosts; the others can still run VMs on the SR" % MAX_HOSTS)
        return names

    def storage(self):
        sr = self.text("storage.sr", DEFAULT_SR)
        if sr.lower() == AUTO:
            sr = AUTO
        brick_size = self.size("storage.brick-size", DEFAULT_BRICK_SIZE, low=MIN_BRICK, allow_all=True)
        reserve = self.size("storage.reserve", DEFAULT_RESERVE)
        return StorageSpec(sr, brick_size, reserve)

    def network(self, hosts, count):
        mode = self.choice("network.mode", DEFAULT_NETWORK_MODE, NETWORK_MODES)
        name = self.text("network.name", DEFAULT_NETWORK_NAME)
        pif = vlan = None
        if mode == "vlan":
            pif = self.text("network.pif", None, optional=True)
            if pif is None:
                self.fail("network.pif", "is required with %s" % self.setting("network.mode", "vlan"),
                          "%s (the device of the PIF that carries the VLAN, the same on every host)"
                          % self.add("network.pif", "eth1"))
            if not _PIF_DEVICE.match(pif):
                self.fail("network.pif", "is `%s`, not a network device name" % pif,
                          "write the PIF's device, e.g. %s (xe pif-list params=device)"
                          % self.setting("network.pif", "eth1"))
            vlan = self.integer("network.vlan", None, MIN_VLAN, MAX_VLAN, optional=True)
            if vlan is None:
                self.fail("network.vlan", "is required with %s" % self.setting("network.mode", "vlan"),
                          "%s (a VLAN tag from 1 to 4094)" % self.add("network.vlan", "100"))
        else:
            for key, what in (("network.pif", "a VLAN on that PIF"), ("network.vlan", "that VLAN")):
                self.not_allowed(key, "is only used with %s (here the mode is %s)" % (
                    self.setting("network.mode", "vlan"), mode),
                    "remove it, or write %s to create %s" % (self.setting("network.mode", "vlan"), what))
        net = self.addresses(count, hosts)
        gateway = self.address_in("network.gateway", net, count, None)
        mtu = self.integer("network.mtu", DEFAULT_MTU, MIN_MTU, MAX_MTU)
        return NetworkSpec(mode, name, pif, vlan, str(net), None if gateway is None else str(gateway), mtu)

    def addresses(self, count, hosts):
        key = "network.addresses"
        text = self.text(key, None, optional=True)
        if text is None:
            self.fail(key, "is required: the storage network's IPv4 addresses",
                      "%s (storage VMs get .%d, .%d, ..., dom0s .%d, .%d, ...)" % (
                          self.add(key, _EXAMPLES[key]), STORAGE_VM_OFFSET, STORAGE_VM_OFFSET + 1,
                          DOM0_OFFSET, DOM0_OFFSET + 1))
        example = self.setting(key, _EXAMPLES[key])
        if "/" not in text:
            guess = None
            try:
                guess = ipaddress.IPv4Network(text + "/24", strict=False)
            except ValueError:
                pass
            self.fail(key, "is `%s`, not a network: the prefix length is missing" % text,
                      "write %s" % (self.setting(key, guess) if guess else example))
        try:
            interface = ipaddress.ip_interface(text)
        except ValueError:
            self.fail(key, "is `%s`, not an IPv4 network" % text, "write e.g. %s" % example)
        net = interface.network
        if net.version != 4:
            self.fail(key, "is `%s`: the storage network is IPv4" % text, "write e.g. %s" % example)
        if not MIN_PREFIX <= net.prefixlen <= MAX_PREFIX:
            self.fail(key, "is `%s`: the prefix length must be from /%d to /%d" % (
                text, MIN_PREFIX, MAX_PREFIX), "write e.g. %s" % self.setting(
                    key, ipaddress.IPv4Network("%s/24" % net.network_address, strict=False)))
        if interface.ip != net.network_address:
            self.fail(key, "is `%s`, an address, not the network (host bits are set)" % text,
                      "write the network's first address: %s" % self.setting(key, net))
        last_dom0 = net.network_address + DOM0_OFFSET + count - 1
        if last_dom0 >= net.broadcast_address:
            who = ("%d hosts" % count) if hosts != ALL else ("up to %d hosts (`hosts: all`)" % count)
            if self.flags and hosts == ALL:
                who = "up to %d hosts (all hosts)" % count
            self.fail(key, "is `%s`, too small: %s need %s-%s for the storage VMs and %s-%s for "
                           "the dom0s" % (text, who,
                                          net.network_address + STORAGE_VM_OFFSET,
                                          net.network_address + STORAGE_VM_OFFSET + count - 1,
                                          net.network_address + DOM0_OFFSET, last_dom0),
                      "use a /25 or larger, e.g. %s" % self.setting(
                          key, ipaddress.IPv4Network("%s/24" % net.network_address, strict=False)))
        return net

    def address_in(self, key, net, count, gateway):
        """An optional IPv4 address of the storage network that XOSAN does not hand out."""
        text = self.text(key, None, optional=True)
        if text is None:
            return None
        example = _EXAMPLES[key]
        try:
            addr = ipaddress.IPv4Address(text)
        except ValueError:
            self.fail(key, "is `%s`, not an IPv4 address" % text,
                      "write e.g. %s" % self.setting(key, example))
        spare = self.setting(key, net.network_address + (1 if key == "network.gateway" else 9))
        if addr not in net:
            if key == "network.gateway":
                self.fail(key, "is %s, outside %s %s" % (text, self.name("network.addresses"), net),
                          "use an address in %s, e.g. %s" % (net, spare))
            if gateway is None:
                self.fail(key, "is %s, outside %s %s, and no %s is set to reach it" % (
                    text, self.name("network.addresses"), net, self.name("network.gateway")),
                    "use an address in %s, e.g. %s, or set %s" % (
                        net, spare, self.name("network.gateway")))
            return addr
        if addr in (net.network_address, net.broadcast_address):
            self.fail(key, "is %s, the %s address of %s" % (
                text, "network" if addr == net.network_address else "broadcast", net),
                "use a host address, e.g. %s" % spare)
        offset = int(addr) - int(net.network_address)
        for first, what in ((STORAGE_VM_OFFSET, "storage VMs"), (DOM0_OFFSET, "dom0s")):
            if first <= offset < first + count:
                self.fail(key, "is %s, which XOSAN gives to the %s (%s-%s)" % (
                    text, what, net.network_address + first, net.network_address + first + count - 1),
                    "use another address, e.g. %s" % spare)
        if gateway is not None and addr == gateway:
            self.fail(key, "is %s, the gateway's address" % text,
                      "use the witness's own address, e.g. %s" % self.setting(key, net.network_address + 9))
        return addr

    def layout(self, hosts):
        layout = self.choice("layout", DEFAULT_LAYOUT, LAYOUTS)
        if hosts != ALL:
            count = len(hosts)
            if layout == "replica2-arbiter" and count != 2:
                self.fail("layout", "is replica2-arbiter, which is for exactly 2 hosts; %s lists %d"
                          % (self.name("hosts"), count),
                          "write %s, %s or %s" % (self.setting("layout", "auto"),
                                                  self.setting("layout", "replica3-arbiter"),
                                                  self.setting("layout", "replica3")))
            if layout in ("replica3", "replica3-arbiter", "disperse") and count < 3:
                self.fail("layout", "is %s, which needs at least 3 hosts; %s lists %d" % (
                    layout, self.name("hosts"), count),
                    "with 2 hosts write %s (or %s), best with a witness" % (
                        self.setting("layout", "auto"), self.setting("layout", "replica2-arbiter")))
        return layout

    def disperse(self, hosts, layout):
        section = self.get("disperse")
        given = [k for k in ("disperse.data", "disperse.redundancy")
                 if self.get(k) is not None and self.get(k).kind != _NULL]
        if layout != "disperse":
            if given:
                where = "disperse" if not self.flags else given[0]
                self.fail(where, "is only used with %s (here the layout is %s)" % (
                    self.setting("layout", "disperse"), layout),
                    "remove it, or write %s" % self.setting("layout", "disperse"), at="key")
            return None
        if section is None or not given:
            return None  # the planner's default code for the host count
        data = self.integer("disperse.data", None, 2, MAX_HOSTS, optional=True)
        redundancy = self.integer("disperse.redundancy", None, 1, MAX_HOSTS - 1, optional=True)
        if data is None or redundancy is None:
            missing = "disperse.data" if data is None else "disperse.redundancy"
            self.fail(missing, "is required with %s" % self.name(given[0]),
                      "%s, or give neither for the default code (2+1; 4+2 from 6 hosts)" % self.add(
                          missing, _EXAMPLES[missing]))
        if redundancy >= data:
            self.fail("disperse.redundancy", "is %d: it must be less than %s (%d)" % (
                redundancy, self.name("disperse.data"), data),
                "write e.g. %s with %s" % (self.setting("disperse.redundancy", 1),
                                           self.setting("disperse.data", 2)))
        total = data + redundancy
        limit = MAX_HOSTS if hosts == ALL else len(hosts)
        if total > limit:
            self.fail("disperse.data", "is %d and %s is %d: %d fragments need at least %d hosts, "
                      "%s %d" % (data, self.name("disperse.redundancy"), redundancy, total, total,
                                 "XOSAN has at most" if hosts == ALL else "%s lists" % self.name("hosts"),
                                 limit),
                      "write e.g. %s and %s" % (self.setting("disperse.data", 2),
                                                self.setting("disperse.redundancy", 1)))
        return DisperseSpec(data, redundancy)

    def witness(self, hosts, layout, network, count):
        key = "witness"
        if self.text(key, None, optional=True) is None:
            return None
        if layout in ("replica3", "replica3-arbiter", "disperse"):
            self.fail(key, "is not used with %s: only a 2-host pool puts its arbiter on a witness"
                      % self.setting("layout", layout),
                      "remove it, or on 2 hosts write %s" % self.setting("layout", "replica2-arbiter"),
                      at="key")
        if hosts != ALL and len(hosts) != 2:
            self.fail(key, "is only used with 2 hosts; %s lists %d, whose arbiter bricks stay on the "
                           "hosts" % (self.name("hosts"), len(hosts)),
                      "remove it", at="key")
        net = ipaddress.IPv4Network(network.addresses)
        gateway = None if network.gateway is None else ipaddress.IPv4Address(network.gateway)
        return str(self.address_in(key, net, count, gateway))


def _size(text, allow_all=False):
    """(bytes or ALL, None) or (None, (problem, hint))."""
    example = "write e.g. 500G, 1.5T or 10GiB (units K, M, G, T: powers of 1024)"
    if not isinstance(text, str):
        return None, ("is %r, not a size text" % (text,), example)
    stripped = text.strip()
    if stripped.lower() == ALL:
        if allow_all:
            return ALL, None
        return None, ("is `all`, which is not allowed here", example)
    match = _SIZE.match(stripped)
    if not match:
        if re.match(r"^[0-9]+,[0-9]+", stripped):
            return None, ("is `%s`, not a size" % stripped,
                          "write the decimals after a dot: %s" % stripped.replace(",", ".", 1))
        return None, ("is `%s`, not a size" % stripped, example)
    number, unit, plain_bytes = match.groups()
    if unit is None and plain_bytes is None:
        return None, ("is `%s`: the unit is missing" % stripped,
                      "write %sG (or K, M, T; powers of 1024)" % number)
    factor = 1 if unit is None else dict(_UNITS)[unit.upper()]
    return int(Fraction(number) * factor), None
