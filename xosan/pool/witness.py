"""The witness of a 2-host deployment, from nothing: the storage VM appliance booted on a machine
outside the pool, configured by a config disk (``xosan witness prepare``).

A storage VM gets its settings from xenstore; a machine outside the pool has no xenstore, so the
appliance's first boot (appliance/rootfs/usr/local/sbin/xosan-firstboot) reads the same keys from
a vfat volume labelled XOSANCFG, one file per key. This module writes that volume.

No trust on first use: the witness's SSH host key is made here, in the deployment's key folder
like a storage VM's (xosan/pool/access.py), written onto the config disk and pinned in
known_hosts before the witness ever boots. The first SSH connection to it is then already
verified; a machine answering at its address with another key is refused.
"""

import base64
import ipaddress
import os
import shlex
import tempfile

from xosan import proc
from xosan.errors import InvalidValue
from xosan.facts import DEFAULT_VOLUME
from xosan.gluster import ssh
from xosan.pool.access import WITNESS_KEY, NodeAccess
from xosan.pool.storage_vm import XS_KEYS

CONFIG_LABEL = "XOSANCFG"      # what xosan-firstboot looks for (blkid LABEL=)
CONFIG_IMAGE = "xosan-witness-config.img"
CONFIG_IMAGE_BYTES = 2 * 1024 * 1024
# What the plan assumes of the witness's brick (xosan/pool/deploy.py WITNESS_BRICK_BYTES): arbiter
# bricks hold no file data, only names and xattrs.
DATA_DISK = "10G"
DEFAULT_HOSTNAME = "xosan-witness"


def state_access(state_dir, deployment):
    """The NodeAccess deploy will use for ``deployment``: same key folder, same deployment key."""
    return NodeAccess(os.path.join(state_dir, deployment, "ssh"), deployment)


def _address(key, text):
    try:
        return ipaddress.IPv4Address(str(text))
    except ValueError:
        raise InvalidValue(key, "--%s %r is not an IPv4 address" % (key, text), hint="e.g. --%s 10.0.50.9" % key)


def _prefix(prefix, netmask):
    """--prefix 24 or --netmask 255.255.255.0 (not both, and one that says the same thing)."""
    if netmask is not None:
        try:
            net = ipaddress.IPv4Network("0.0.0.0/%s" % netmask)
        except ValueError:
            raise InvalidValue("netmask", "--netmask %r is not a netmask" % netmask,
                               hint="e.g. --netmask 255.255.255.0")
        if prefix is not None and int(prefix) != net.prefixlen:
            raise InvalidValue("prefix", "--prefix %s and --netmask %s disagree" % (prefix, netmask))
        return net.prefixlen
    p = 24 if prefix is None else prefix
    try:
        p = int(p)
    except ValueError:
        p = -1
    if not 1 <= p <= 32:
        raise InvalidValue("prefix", "--prefix %r is not 1-32" % prefix, hint="e.g. --prefix 24")
    return p


def _ssh_from(text):
    if not text:
        return None
    items = [i for i in text.replace(",", " ").split() if i]
    for i in items:
        try:
            ipaddress.IPv4Network(i, strict=False)
        except ValueError:
            raise InvalidValue("ssh-from", "--ssh-from %r is not an IPv4 address or range" % i,
                               hint="e.g. --ssh-from 10.0.50.0/24")
    return ",".join(items)


def config_values(access, address, prefix=None, netmask=None, gateway=None, mtu=None, ssh_from=None,
                  hostname=None):
    """The first-boot keys (storage_vm.XS_KEYS) for the witness; makes the deployment key and the
    witness's host key once (kept for re-runs, so a re-prepared disk keeps the pinned key)."""
    ip = _address("address", address)
    plen = _prefix(prefix, netmask)
    if gateway:
        gw = _address("gateway", gateway)
        if gw not in ipaddress.IPv4Network("%s/%d" % (ip, plen), strict=False) or gw == ip:
            raise InvalidValue("gateway", "--gateway %s is not another address of %s/%d" % (gw, ip, plen))
    if mtu is not None and not 576 <= int(mtu) <= 65535:
        raise InvalidValue("mtu", "--mtu %s is not 576-65535" % mtu)
    name = hostname or DEFAULT_HOSTNAME
    pub = ssh.generate_key(access.key_path, comment="xosan-%s" % access.id)
    key_path = access.host_key_path(WITNESS_KEY)
    ssh.generate_key(key_path, comment="xosan-%s-witness" % access.id)
    with open(key_path, "rb") as fh:
        host_key = base64.b64encode(fh.read()).decode("ascii")
    values = {"hostname": name, "ip": str(ip), "prefix": str(plen), "gateway": str(gateway) if gateway else None,
              "mtu": str(int(mtu)) if mtu is not None else None, "authorized-key": pub, "host-key": host_key,
              "deployment": access.id, "ssh-from": _ssh_from(ssh_from)}
    assert set(values) <= set(XS_KEYS)
    return dict((k, v) for k, v in values.items() if v is not None)


def pin_witness(access, address):
    """known_hosts: the witness's address pinned to the host key made for it, the storage VMs' pins
    kept; the address is recorded so that deploy's own re-pinning keeps it too."""
    with open(access.host_key_path(WITNESS_KEY) + ".pub") as fh:
        line = ssh.known_hosts_line(address, fh.read().strip())
    old = access.witness_pin()[0]  # a witness prepared before at another address: its pin goes
    kept = []
    if os.path.exists(access.known_hosts):
        with open(access.known_hosts) as fh:
            kept = [x.rstrip("\n") for x in fh if x.strip() and x.split()[0] not in (address, old)]
    ssh.write_known_hosts(access.known_hosts, kept + [line])
    tmp = access.witness_address_path + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(address + "\n")
    os.rename(tmp, access.witness_address_path)
    return line


def fingerprint(pub_path):
    """SHA256:... of a public key, as ssh prints it on first contact."""
    return proc.run(["ssh-keygen", "-l", "-E", "sha256", "-f", pub_path]).stdout.split()[1]


def write_config_image(values, path):
    """A vfat image labelled XOSANCFG with one file per key (what xosan-firstboot reads); made with
    dosfstools and mtools, so no mount and no root is needed."""
    folder = tempfile.mkdtemp(prefix="xosan-witness-")
    try:
        files = []
        for k in sorted(values):
            f = os.path.join(folder, k)
            fd = os.open(f, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as fh:
                fh.write(values[k] + "\n")
            files.append(f)
        tmp = path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.truncate(CONFIG_IMAGE_BYTES)
        proc.run(["mkfs.vfat", "-n", CONFIG_LABEL, tmp])
        proc.run(["mcopy", "-o", "-i", tmp] + files + ["::/"])
        os.rename(tmp, path)
    finally:
        for f in os.listdir(folder):
            os.unlink(os.path.join(folder, f))
        os.rmdir(folder)


def read_config_image(path):
    """The keys on a config disk image, cleaned as xosan-firstboot cleans them (surrounding blanks;
    every blank of host-key); the label is checked too, since first boot finds the disk by it."""
    label = proc.run(["mlabel", "-i", path, "-s", "::"]).stdout
    if CONFIG_LABEL not in label.split():
        raise InvalidValue("config", "%s is not labelled %s (%s)" % (path, CONFIG_LABEL, label.strip()))
    names = proc.run(["mdir", "-b", "-i", path, "::/"]).stdout.split()
    values = {}
    for name in names:
        key = name.rsplit("/", 1)[-1].lower()
        if key in XS_KEYS:
            text = proc.run(["mtype", "-i", path, "::/" + key]).stdout
            values[key] = "".join(text.split()) if key == "host-key" else text.strip()
    return values


def boot_lines(out_dir, image, bridge, image_path):
    """The commands that boot the appliance as the witness on a Linux machine with KVM: disks next to
    the config image, the NIC on ``bridge`` (the one on the storage network)."""
    q = shlex.quote
    system = os.path.join(out_dir, "witness-system.qcow2")
    data = os.path.join(out_dir, "witness-data.qcow2")
    disks = [
        "qemu-img create -f qcow2 -F vpc -b %s %s" % (q(os.path.abspath(image)), q(system)),
        "qemu-img create -f qcow2 %s %s" % (q(data), DATA_DISK),
    ]
    qemu = ("qemu-system-x86_64 -machine pc,accel=kvm -cpu host -m 1024 -smp 2 -nographic "
            "-drive file=%s,format=qcow2,if=virtio -drive file=%s,format=qcow2,if=virtio "
            "-drive file=%s,format=raw,if=virtio,readonly=on "
            "-netdev bridge,id=n0,br=%s -device virtio-net-pci,netdev=n0" % (q(system), q(data), q(image_path),
                                                                              q(bridge)))
    virt_install = ("virt-install --name xosan-witness --memory 1024 --vcpus 2 --import --osinfo debian12 "
                    "--disk path=%s,format=qcow2,bus=virtio --disk path=%s,format=qcow2,bus=virtio "
                    "--disk path=%s,format=raw,bus=virtio,readonly=on "
                    "--network bridge=%s,model=virtio --graphics none --noautoconsole --autostart"
                    % (q(system), q(data), q(image_path), q(bridge)))
    return {"disks": disks, "qemu": qemu, "virt_install": virt_install}


def prepare(state_dir, out_dir, address, deployment=DEFAULT_VOLUME, prefix=None, netmask=None, gateway=None,
            mtu=None, ssh_from=None, hostname=None, image="xosan-storage-vm.vhd", bridge="br0"):
    """Everything a machine outside the pool needs to boot the appliance as ``deployment``'s witness,
    in ``out_dir``; the witness pinned in the deployment's known_hosts. Returns a dict for the
    summary and --json. Re-running it gives the same keys (a new disk for the same witness)."""
    access = state_access(state_dir, deployment)
    values = config_values(access, address, prefix, netmask, gateway, mtu, ssh_from, hostname)
    os.makedirs(out_dir, mode=0o700, exist_ok=True)
    path = os.path.join(out_dir, CONFIG_IMAGE)
    write_config_image(values, path)
    line = pin_witness(access, values["ip"])
    pub = access.host_key_path(WITNESS_KEY) + ".pub"
    return {
        "deployment": deployment, "address": values["ip"], "prefix": int(values["prefix"]),
        "gateway": values.get("gateway"), "ssh_from": values.get("ssh-from") or "%s" % ipaddress.IPv4Network(
            "%s/%s" % (values["ip"], values["prefix"]), strict=False),
        "hostname": values["hostname"], "config_image": path, "host_key_fingerprint": fingerprint(pub),
        "known_hosts": access.known_hosts, "pinned": line, "deployment_key": access.key_path + ".pub",
        "boot": boot_lines(out_dir, image, bridge, path), "manifest_line": "witness: %s" % values["ip"],
    }


def summary(r):
    """One screen: what was written, what the machine needs, how to boot it, what comes next."""
    b = r["boot"]
    return [
        "Witness of deployment %r: %s/%d%s, host name %s" % (
            r["deployment"], r["address"], r["prefix"], " via %s" % r["gateway"] if r["gateway"] else "",
            r["hostname"]),
        "  config disk   %s (vfat %s: network, deployment key, host key; keep it private)" % (
            r["config_image"], CONFIG_LABEL),
        "  SSH           root by the deployment key only, from %s" % r["ssh_from"],
        "  host key      %s, pinned in %s (no trust on first use)" % (r["host_key_fingerprint"], r["known_hosts"]),
        "The machine: x86-64 Linux with KVM, 1 GiB RAM, 2 vCPUs, %s for the arbiter disk, a bridge on the" % DATA_DISK,
        "storage network, and the appliance VHD (make appliance: build/appliance/). Boot it with:",
        "  " + b["disks"][0],
        "  " + b["disks"][1],
        "  " + b["qemu"],
        "or, with libvirt:",
        "  " + b["virt_install"],
        "Then add to the manifest: %s  and run xosan deploy (it checks the witness over SSH first)." % r[
            "manifest_line"],
    ]
