"""The deployment manifest of ``xosan deploy -f xosan.yaml``: load, check, normalize.

A manifest is one YAML document (docs/manifest.md lists every key; examples/xosan.yaml
is a commented example). :func:`load` / :func:`loads` read it, :func:`from_flags`
builds the same thing from command-line flags; both run the same checks and return a
:class:`Manifest`, or raise :class:`ManifestError`, which names the key (dotted path
such as ``network.addresses``, or the flag such as ``--addresses``), the file, line and
column where it is, and what to write instead.

The package, each module importing only those above it:

- ``sizes``: size texts ("500G") <-> bytes;
- ``model``: the keys, limits and defaults, :class:`Manifest` and its parts, ManifestError (no YAML);
- ``values``: raw values as written, with positions (from YAML or from flags);
- ``wording``: how a message spells a key and its fix, for a file or for flags;
- ``yaml_reader``: YAML -> raw values, with the line and column of every error;
- ``fields``: typed settings read from raw values, and where an error points;
- ``rules``: the domain checks, raw values -> Manifest.

Runs in dom0: Python 3.6, PyYAML only.
"""

import os

from xosan.facts import DEFAULT_VOLUME, DOM0_OFFSET, LAYOUTS, STORAGE_VM_OFFSET
from xosan.pool.manifest import rules, values, yaml_reader
from xosan.pool.manifest.model import (
    AUTO, DEFAULT_BRICK_SIZE, DEFAULT_HOSTS, DEFAULT_LAYOUT, DEFAULT_MASTER, DEFAULT_MEMORY, DEFAULT_MTU,
    DEFAULT_NETWORK_MODE, DEFAULT_NETWORK_NAME, DEFAULT_RESERVE, DEFAULT_SR, DEFAULT_SR_NAME, DEFAULT_TEMPLATE,
    DEFAULT_USERNAME, DEFAULT_VCPUS, FLAG_KEYS, FLAGS_SOURCE, KW_KEY, LOCAL, MAX_HOSTS, MAX_MEMORY, MAX_MTU,
    MAX_PREFIX, MAX_VCPUS, MAX_VLAN, MIN_BRICK, MIN_HOSTS, MIN_MEMORY, MIN_MTU, MIN_PREFIX, MIN_VCPUS, MIN_VLAN,
    NETWORK_MODES, SCHEMA, DisperseSpec, Manifest, ManifestError, NetworkSpec, PoolSpec, StorageSpec, VMSpec,
    parse_size, to_dict)
from xosan.pool.manifest.sizes import ALL, GiB, KiB, MiB, TiB, format_size

__all__ = [
    "load", "loads", "from_flags", "parse_size", "format_size", "to_dict",
    "Manifest", "ManifestError", "PoolSpec", "StorageSpec", "NetworkSpec", "DisperseSpec", "VMSpec",
    "SCHEMA", "FLAG_KEYS", "FLAGS_SOURCE", "LAYOUTS", "NETWORK_MODES", "ALL", "AUTO", "LOCAL",
    "KiB", "MiB", "GiB", "TiB", "DEFAULT_VOLUME", "DOM0_OFFSET", "STORAGE_VM_OFFSET",
    "MIN_HOSTS", "MAX_HOSTS", "MIN_PREFIX", "MAX_PREFIX", "MIN_MTU", "MAX_MTU", "MIN_VLAN", "MAX_VLAN",
    "MIN_MEMORY", "MAX_MEMORY", "MIN_VCPUS", "MAX_VCPUS", "MIN_BRICK",
    "DEFAULT_MASTER", "DEFAULT_USERNAME", "DEFAULT_HOSTS", "DEFAULT_SR", "DEFAULT_BRICK_SIZE", "DEFAULT_RESERVE",
    "DEFAULT_NETWORK_MODE", "DEFAULT_NETWORK_NAME", "DEFAULT_MTU", "DEFAULT_LAYOUT", "DEFAULT_TEMPLATE",
    "DEFAULT_MEMORY", "DEFAULT_VCPUS", "DEFAULT_SR_NAME",
]


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
    unknown = sorted(k for k in kw if k not in KW_KEY)
    if unknown:
        raise TypeError("from_flags() got unknown keyword(s) %s; known: %s" % (
            ", ".join(unknown), ", ".join(kw_ for kw_, _ in FLAG_KEYS)))
    return rules.check(FLAGS_SOURCE, values.from_keywords(kw), flags=True)


def _parse(text, source, base_dir):
    return rules.check(source, yaml_reader.read(text, source), flags=False, base_dir=base_dir)
