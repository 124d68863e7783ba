"""How manifest messages are phrased: one rule speaks YAML or flags.

A rule says what is wrong and what to write; :class:`Wording` spells the key and the fix the
way the user wrote the manifest: `network.addresses` and `addresses: 10.0.50.0/24` for a
file, `--addresses` and `--addresses 10.0.50.0/24` for ``xosan deploy`` flags. ``EXAMPLES``
is the good value every "write e.g." hint shows.
"""

from xosan.facts import DEFAULT_VOLUME
from xosan.pool.manifest.model import (AUTO, DEFAULT_NETWORK_NAME, DEFAULT_SR_NAME, DEFAULT_TEMPLATE,
                                       DEFAULT_USERNAME, KEY_FLAG, base_key)

EXAMPLES = {
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
    "tls": "io",
    "vm.template": DEFAULT_TEMPLATE,
    "vm.image": "/root/xosan-appliance/manifest.json",
    "vm.image-sr": AUTO,
    "vm.memory": "1G",
    "vm.vcpus": "2",
    "volume": DEFAULT_VOLUME,
    "sr-name": DEFAULT_SR_NAME,
}


def capitalized(hint):
    """Hints are sentences: they start with a capital, wherever they begin."""
    return hint[0].upper() + hint[1:] if hint else hint


class Wording(object):
    """``flags``: the manifest came from flags. ``written(key)``: whether the file has ``key``
    (a section, for where to add a missing key)."""

    def __init__(self, flags, written=None):
        self.flags = flags
        self.written = written or (lambda key: False)

    def name(self, key):
        """How the user wrote (or would write) ``key``: `network.addresses` or `--addresses`."""
        if self.flags:
            return "`%s`" % KEY_FLAG.get(base_key(key), key)
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
            return "`%s %s`" % (KEY_FLAG.get(key, key), value)
        return "`%s: %s`" % (key.rsplit(".", 1)[-1], value)

    def example(self, key):
        """The setting of ``key`` with its example value."""
        return self.setting(key, EXAMPLES[key])

    def add(self, key, value):
        """Hint for a missing key: where to add it."""
        if self.flags:
            return "add %s" % self.setting(key, value)
        if "." not in key:
            return "add %s at the top level" % self.setting(key, value)
        section = key.split(".")[0]
        if self.written(section):
            return "add %s under `%s:`" % (self.setting(key, value), section)
        return "add a `%s:` section with %s indented under it" % (section, self.setting(key, value))

    def key(self, key):
        """The key an error carries: the dotted path, or the flag."""
        return KEY_FLAG.get(base_key(key), key) if self.flags else key
