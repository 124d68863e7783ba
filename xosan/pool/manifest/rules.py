"""The manifest's domain rules: what a deployment needs of each key, and how keys constrain
one another (the layout and the host count, the witness and the network, the address plan).

Shared by YAML and flags: every rule reads through Fields and phrases its fix through
Wording, so one rule gives `network.addresses` at line 7 for a file and `--addresses` for a
flag. :func:`check` returns the :class:`Manifest`.
"""

import ipaddress
import os
import re
from urllib.parse import urlsplit

from xosan import facts
from xosan.facts import DEFAULT_VOLUME, DOM0_OFFSET, LAYOUTS, STORAGE_VM_OFFSET, is_valid_address
from xosan.pool.manifest.fields import Fields
from xosan.pool.manifest.model import (ALL, AUTO, DEFAULT_BRICK_SIZE, DEFAULT_HOSTS, DEFAULT_LAYOUT,
                                       DEFAULT_MASTER, DEFAULT_MEMORY, DEFAULT_MTU, DEFAULT_NETWORK_MODE,
                                       DEFAULT_NETWORK_NAME, DEFAULT_RESERVE, DEFAULT_SR, DEFAULT_SR_NAME,
                                       DEFAULT_TEMPLATE, DEFAULT_TLS, DEFAULT_USERNAME, DEFAULT_VCPUS, LOCAL, MAX_HOSTS,
                                       MAX_MEMORY, MAX_MTU, MAX_PREFIX, MAX_VCPUS, MAX_VLAN, MIN_BRICK,
                                       MIN_HOSTS, MIN_MEMORY, MIN_MTU, MIN_PREFIX, MIN_VCPUS, MIN_VLAN,
                                       NETWORK_MODES, TLS_CHOICES, DisperseSpec, Manifest, NetworkSpec, PoolSpec,
                                       StorageSpec, VMSpec)
from xosan.pool.manifest.values import LIST, MAP, NULL, SCALAR
from xosan.pool.manifest.wording import EXAMPLES
from xosan.pool.tls import normalize_fingerprint

_PIF_DEVICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,14}$")


def check(source, root, flags, base_dir=None):
    """The Manifest of the raw values ``root``; ManifestError at the first rule broken."""
    return _Rules(source, root, flags, base_dir).manifest()


class _Rules(Fields):
    """One method per key or section, in the order a manifest is checked (manifest())."""

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
                      "use 1 to 64 letters, digits, `-` and `_`, e.g. %s" % self.words.setting(
                          "volume", re.sub(r"[^A-Za-z0-9_-]", "-", volume)[:64] or DEFAULT_VOLUME))
        sr_name = self.text("sr-name", DEFAULT_SR_NAME)
        tls = self.choice("tls", DEFAULT_TLS, TLS_CHOICES)
        return Manifest(self.source, pool, hosts, storage, network, layout, disperse, witness, vm,
                        volume, sr_name, self.locations, tls=tls, tls_written=self.get("tls") is not None)

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
                      "write the pool master's URL, e.g. %s" % self.words.setting(key, EXAMPLES[key]))
        if port == 0:
            self.fail(key, "is `%s`: port 0 is not a port" % text,
                      "leave the port out (443 for https), e.g. %s" % self.words.setting(key, EXAMPLES[key]))
        if parts.scheme.lower() not in ("http", "https"):
            if "://" not in text:
                self.fail(key, "is `%s`, not a URL or `local`" % text,
                          "write %s (or `local` to use dom0's own session on the pool master)"
                          % self.words.setting(key, "https://" + text.rstrip("/")))
            self.fail(key, "is `%s`: the URL must start with https:// or http://" % text,
                      "write %s" % self.words.setting(key, "https://" + text.split("://", 1)[1]))
        if parts.username is not None or parts.password is not None:
            self.fail(key, "holds a user name or password (`user:password@`): a password never "
                           "goes in the manifest",
                      "write %s, the user in `username:` and the password in a file named by "
                      "`password-file:`" % self.words.setting(
                          key, "%s://%s" % (parts.scheme, parts.netloc.rsplit("@", 1)[1])))
        host = parts.hostname or ""
        if not host or not is_valid_address(host):
            self.fail(key, "is `%s`: `%s` is not a host name or IP address" % (text, host),
                      "write e.g. %s" % self.words.setting(key, EXAMPLES[key]))
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            self.fail(key, "is `%s`: the URL of the pool master has no path" % text,
                      "write %s" % self.words.setting(key, "%s://%s" % (parts.scheme, parts.netloc)))
        return "%s://%s" % (parts.scheme.lower(), parts.netloc)

    def hosts(self):
        key = "hosts"
        value = self.get(key)
        if value is None:
            return DEFAULT_HOSTS
        if value.kind == SCALAR and value.data.strip().lower() == ALL:
            return ALL
        if value.kind != LIST:
            if value.kind == SCALAR and value.data.strip():
                names = [n.strip() for n in value.data.split(",") if n.strip()]
                example = names + (["xcp2"] if len(names) < 2 else [])
                self.fail(key, "is `%s`, neither `all` nor a list of hosts" % value.data.strip(),
                          "write %s (a list of host name-labels) or %s" % (
                              self.words.setting(key, example), self.words.setting(key, ALL)))
            self.fail(key, "has no value" if value.kind != MAP else "is a section",
                      "write %s or %s" % (self.words.setting(key, ALL), self.words.setting(key, EXAMPLES[key])))
        names = []
        for i, item in enumerate(value.data):
            ikey = "%s[%d]" % (key, i)
            if item.kind != SCALAR or not item.data.strip():
                self.fail(ikey, "entry %d is %s, not a host name-label" % (
                    i + 1, "empty" if item.kind in (NULL, SCALAR) else "a " + item.kind),
                    "list one host name-label per entry, e.g. %s" % self.words.setting(key, EXAMPLES[key]))
            name = item.data.strip()
            if name.lower() == ALL:
                self.fail(ikey, "lists `all`", "write %s (not in a list) for every host of the "
                                               "pool" % self.words.setting(key, ALL))
            if name in names:
                self.fail(ikey, "lists `%s` twice" % name,
                          "list each host once: %s" % self.words.setting(key, names))
            names.append(name)
        if not MIN_HOSTS <= len(names) <= MAX_HOSTS:
            self.fail(key, "lists %d host%s; XOSAN needs %d to %d" % (
                len(names), "" if len(names) == 1 else "s", MIN_HOSTS, MAX_HOSTS),
                "list 2 to 16 hosts, e.g. %s, or write %s" % (
                    self.words.setting(key, EXAMPLES[key]), self.words.setting(key, ALL))
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
                self.fail("network.pif", "is required with %s" % self.words.setting("network.mode", "vlan"),
                          "%s (the device of the PIF that carries the VLAN, the same on every host)"
                          % self.words.add("network.pif", "eth1"))
            if not _PIF_DEVICE.match(pif):
                self.fail("network.pif", "is `%s`, not a network device name" % pif,
                          "write the PIF's device, e.g. %s (xe pif-list params=device)"
                          % self.words.setting("network.pif", "eth1"))
            vlan = self.integer("network.vlan", None, MIN_VLAN, MAX_VLAN, optional=True)
            if vlan is None:
                self.fail("network.vlan", "is required with %s" % self.words.setting("network.mode", "vlan"),
                          "%s (a VLAN tag from 1 to 4094)" % self.words.add("network.vlan", "100"))
        else:
            for key, what in (("network.pif", "a VLAN on that PIF"), ("network.vlan", "that VLAN")):
                self.not_allowed(key, "is only used with %s (here the mode is %s)" % (
                    self.words.setting("network.mode", "vlan"), mode),
                    "remove it, or write %s to create %s" % (self.words.setting("network.mode", "vlan"), what))
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
                          self.words.add(key, EXAMPLES[key]), STORAGE_VM_OFFSET, STORAGE_VM_OFFSET + 1,
                          DOM0_OFFSET, DOM0_OFFSET + 1))
        example = self.words.setting(key, EXAMPLES[key])
        if "/" not in text:
            guess = None
            try:
                guess = ipaddress.IPv4Network(text + "/24", strict=False)
            except ValueError:
                pass
            self.fail(key, "is `%s`, not a network: the prefix length is missing" % text,
                      "write %s" % (self.words.setting(key, guess) if guess else example))
        try:
            interface = ipaddress.ip_interface(text)
        except ValueError:
            self.fail(key, "is `%s`, not an IPv4 network" % text, "write e.g. %s" % example)
        net = interface.network
        if net.version != 4:
            self.fail(key, "is `%s`: the storage network is IPv4" % text, "write e.g. %s" % example)
        if not MIN_PREFIX <= net.prefixlen <= MAX_PREFIX:
            self.fail(key, "is `%s`: the prefix length must be from /%d to /%d" % (
                text, MIN_PREFIX, MAX_PREFIX), "write e.g. %s" % self.words.setting(
                    key, ipaddress.IPv4Network("%s/24" % net.network_address, strict=False)))
        if interface.ip != net.network_address:
            self.fail(key, "is `%s`, an address, not the network (host bits are set)" % text,
                      "write the network's first address: %s" % self.words.setting(key, net))
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
                      "use a /25 or larger, e.g. %s" % self.words.setting(
                          key, ipaddress.IPv4Network("%s/24" % net.network_address, strict=False)))
        return net

    def address_in(self, key, net, count, gateway):
        """An optional IPv4 address of the storage network that XOSAN does not hand out."""
        text = self.text(key, None, optional=True)
        if text is None:
            return None
        example = EXAMPLES[key]
        try:
            addr = ipaddress.IPv4Address(text)
        except ValueError:
            self.fail(key, "is `%s`, not an IPv4 address" % text,
                      "write e.g. %s" % self.words.setting(key, example))
        spare = self.words.setting(key, net.network_address + (1 if key == "network.gateway" else 9))
        if addr not in net:
            if key == "network.gateway":
                self.fail(key, "is %s, outside %s %s" % (text, self.words.name("network.addresses"), net),
                          "use an address in %s, e.g. %s" % (net, spare))
            if gateway is None:
                self.fail(key, "is %s, outside %s %s, and no %s is set to reach it" % (
                    text, self.words.name("network.addresses"), net, self.words.name("network.gateway")),
                    "use an address in %s, e.g. %s, or set %s" % (
                        net, spare, self.words.name("network.gateway")))
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
                      "use the witness's own address, e.g. %s" % self.words.setting(key, net.network_address + 9))
        return addr

    def layout(self, hosts):
        layout = self.choice("layout", DEFAULT_LAYOUT, LAYOUTS)
        if hosts != ALL:
            count = len(hosts)
            if layout == "replica2-arbiter" and count != 2:
                self.fail("layout", "is replica2-arbiter, which is for exactly 2 hosts; %s lists %d"
                          % (self.words.name("hosts"), count),
                          "write %s, %s or %s" % (self.words.setting("layout", "auto"),
                                                  self.words.setting("layout", "replica3-arbiter"),
                                                  self.words.setting("layout", "replica3")))
            if layout in ("replica3", "replica3-arbiter", "disperse") and count < 3:
                self.fail("layout", "is %s, which needs at least 3 hosts; %s lists %d" % (
                    layout, self.words.name("hosts"), count),
                    "with 2 hosts write %s (or %s), best with a witness" % (
                        self.words.setting("layout", "auto"), self.words.setting("layout", "replica2-arbiter")))
        return layout

    def disperse(self, hosts, layout):
        section = self.get("disperse")
        given = [k for k in ("disperse.data", "disperse.redundancy")
                 if self.get(k) is not None and self.get(k).kind != NULL]
        if layout != "disperse":
            if given:
                where = "disperse" if not self.flags else given[0]
                self.fail(where, "is only used with %s (here the layout is %s)" % (
                    self.words.setting("layout", "disperse"), layout),
                    "remove it, or write %s" % self.words.setting("layout", "disperse"), at="key")
            return None
        if section is None or not given:
            return None  # the planner's default code for the host count
        data = self.integer("disperse.data", None, 2, MAX_HOSTS, optional=True)
        redundancy = self.integer("disperse.redundancy", None, 1, MAX_HOSTS - 1, optional=True)
        if data is None or redundancy is None:
            missing = "disperse.data" if data is None else "disperse.redundancy"
            self.fail(missing, "is required with %s" % self.words.name(given[0]),
                      "%s, or give neither for the default code (2+1; 4+2 from 6 hosts)" % self.words.add(
                          missing, EXAMPLES[missing]))
        if redundancy >= data:
            self.fail("disperse.redundancy", "is %d: it must be less than %s (%d)" % (
                redundancy, self.words.name("disperse.data"), data),
                "write e.g. %s with %s" % (self.words.setting("disperse.redundancy", 1),
                                           self.words.setting("disperse.data", 2)))
        total = data + redundancy
        limit = MAX_HOSTS if hosts == ALL else len(hosts)
        if total > limit:
            self.fail("disperse.data", "is %d and %s is %d: %d fragments need at least %d hosts, "
                      "%s %d" % (data, self.words.name("disperse.redundancy"), redundancy, total, total,
                                 "XOSAN has at most" if hosts == ALL else "%s lists" % self.words.name("hosts"),
                                 limit),
                      "write e.g. %s and %s" % (self.words.setting("disperse.data", 2),
                                                self.words.setting("disperse.redundancy", 1)))
        return DisperseSpec(data, redundancy)

    def witness(self, hosts, layout, network, count):
        key = "witness"
        if self.text(key, None, optional=True) is None:
            return None
        if layout in ("replica3", "replica3-arbiter", "disperse"):
            self.fail(key, "is not used with %s: only a 2-host pool puts its arbiter on a witness"
                      % self.words.setting("layout", layout),
                      "remove it, or on 2 hosts write %s" % self.words.setting("layout", "replica2-arbiter"),
                      at="key")
        if hosts != ALL and len(hosts) != 2:
            self.fail(key, "is only used with 2 hosts; %s lists %d, whose arbiter bricks stay on the "
                           "hosts" % (self.words.name("hosts"), len(hosts)),
                      "remove it", at="key")
        net = ipaddress.IPv4Network(network.addresses)
        gateway = None if network.gateway is None else ipaddress.IPv4Address(network.gateway)
        return str(self.address_in(key, net, count, gateway))

