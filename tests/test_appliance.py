"""The storage VM appliance (appliance/).

Fast tests run the real first-boot script (appliance/rootfs/usr/local/sbin/xosan-firstboot) on a fake
root: its files go under a temporary folder (XOSAN_ROOT), /sys is a fake folder (XOSAN_SYS), and the
commands that touch disks, mounts and services (xenstore-read, blkid, lsblk, findmnt, mount, mkfs.xfs,
systemctl, ...) are small stubs on PATH that answer from a fake disk table and log their calls.
Everything else (bash, coreutils, awk, base64, ssh-keygen) is real.

The slow test (`make appliance-test`, i.e. `pytest -m slow tests/test_appliance.py`) boots the built
image (build/appliance/*.vhd) under qemu (KVM when this machine's /dev/kvm works, else TCG; it says
which, and XOSAN_APPLIANCE_ACCEL=kvm|tcg forces one), with a blank data disk and an XOSANCFG config disk,
user-mode networking restricted to a forwarded 127.0.0.1 port, and checks it over SSH the way the
deployer does (xosan.gluster.ssh: deployment key, pinned host key).
"""

import base64
import ctypes
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from xosan.gluster import ssh  # noqa: E402
from xosan.pool import firewall, storage_vm  # noqa: E402

FIRSTBOOT = os.path.join(ROOT, "appliance", "rootfs", "usr", "local", "sbin", "xosan-firstboot")
BUILD_DIR = os.path.join(ROOT, "build", "appliance")


# The boot tests carry @pytest.mark.slow (registered in conftest.py): the two Python suites of `make test`
# leave them out (-m "not slow"); its last step, `make appliance-test`, runs them (-m slow) once.


def run(argv, check=True, **kw):
    res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, **kw)
    if check and res.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s\n%s" % (" ".join(argv), res.returncode, res.stdout, res.stderr))
    return res


# --------------------------------------------------------------------------- fast: first-boot logic

STUBS = {
    # xenstore-read KEY: the fake xenstore is a folder of files named like the keys (absent: no xenstore).
    "xenstore-read": r'''
[ -d "$FAKE/xenstore" ] || { echo "xs_open: No such file or directory" >&2; exit 1; }
f="$FAKE/xenstore/$1"
[ -f "$f" ] || { echo "couldn't read path $1" >&2; exit 1; }
cat "$f"
''',
    # blkid: answers from $FAKE/disks/<name>.export (KEY=value lines), absent = no signature (exit 2).
    "blkid": r'''
echo "blkid $*" >>"$FAKE/calls"
case "$*" in
  "-l -o device -t LABEL=XOSANCFG") [ -n "${FAKE_CFGDEV:-}" ] && echo "$FAKE_CFGDEV" && exit 0; exit 2 ;;
  "-U "*) for f in "$FAKE"/disks/*.export; do
            [ -e "$f" ] || continue
            if grep -qx "UUID=$2" "$f"; then echo "/dev/$(basename "$f" .export)"; exit 0; fi
          done; exit 2 ;;
  "-p -o export "*) f="$FAKE/disks/$(basename "$4").export"; [ -f "$f" ] || exit 2; cat "$f" ;;
  "-p -o value -s UUID "*) f="$FAKE/disks/$(basename "$6").export"; [ -f "$f" ] || exit 2
          sed -n 's/^UUID=//p' "$f" ;;
  *) echo "blkid stub: unexpected $*" >&2; exit 4 ;;
esac
''',
    "lsblk": r'''
case "$*" in
  "-d -n -p -b -o NAME,TYPE,RO,RM,SIZE") cat "$FAKE/lsblk" ;;
  "-n -d -o PKNAME /dev/vda1") echo vda ;;
  "-n -o NAME "*) n="$(basename "$4")"; echo "$n"; [ ! -f "$FAKE/disks/$n.parts" ] || cat "$FAKE/disks/$n.parts" ;;
  *) echo "lsblk stub: unexpected $*" >&2; exit 4 ;;
esac
''',
    "findmnt": r'''
case "$*" in
  "-n -o SOURCE /") echo /dev/vda1 ;;
  "-n "*) grep -qxF "$2" "$FAKE/mounted" 2>/dev/null ;;
  *) echo "findmnt stub: unexpected $*" >&2; exit 4 ;;
esac
''',
    # mount -o ro DEV DIR (the config disk): its files are $FAKE/cfgdisk/*; mount PATH: the brick (fstab).
    "mount": r'''
echo "mount $*" >>"$FAKE/calls"
if [ "$1" = -o ]; then cp "$FAKE"/cfgdisk/* "$4"/; exit 0; fi
grep -q " ${1#"$XOSAN_ROOT"} " "$XOSAN_ROOT/etc/fstab" || { echo "mount: $1: not in fstab" >&2; exit 1; }
echo "$1" >>"$FAKE/mounted"
# systemd mounting the same fstab entry at the same moment: it is mounted, but not by us
if [ -f "$FAKE/mount-race" ]; then echo "mount: $1: already mounted" >&2; exit 32; fi
''',
    "umount": r'''
echo "umount $*" >>"$FAKE/calls"
rm -f "$1"/*
''',
    # mkfs.xfs -q -i size=512 -L LABEL DEV: the disk now has an XFS filesystem.
    "mkfs.xfs": r'''
echo "mkfs.xfs $*" >>"$FAKE/calls"
dev="${@: -1}"; label=""
while [ $# -gt 1 ]; do [ "$1" = -L ] && label="$2"; shift; done
out="$FAKE/disks/$(basename "$dev").export"
printf 'UUID=%s\nTYPE=xfs\nLABEL=%s\n' "$(cat /proc/sys/kernel/random/uuid)" "$label" >"$out"
''',
    "systemctl": 'echo "systemctl $*" >>"$FAKE/calls"\n',
    "nft": 'echo "nft $*" >>"$FAKE/calls"\n[ ! -f "$FAKE/nft-fails" ]\n',
    "hostname": 'echo "hostname $*" >>"$FAKE/calls"\n',
    "modprobe": "exit 1\n",
    "udevadm": "exit 0\n",
    "debconf-show": "exit 0\n",
    "debconf-set-selections": 'echo "debconf-set-selections $(cat)" >>"$FAKE/calls"\n',
}


class FakeVM(object):
    """A fake storage VM root for the first-boot script."""

    def __init__(self, base):
        self.base = str(base)
        self.root = os.path.join(self.base, "root")
        self.fake = os.path.join(self.base, "fake")
        self.sys = os.path.join(self.base, "sys")
        self.bin = os.path.join(self.base, "bin")
        for d in (self.root + "/etc/ssh", self.fake + "/disks", self.fake + "/cfgdisk", self.bin, self.base + "/run"):
            os.makedirs(d)
        self.write("etc/fstab", "UUID=1111-root / ext4 defaults 0 1\n")
        self.write("etc/hosts", "127.0.0.1\tlocalhost\n127.0.1.1\txosan\n")
        self.write("etc/ssh/ssh_host_rsa_key", "old rsa key\n")
        self.write("etc/ssh/ssh_host_rsa_key.pub", "old rsa key\n")
        # NICs: lo (no device), eth1 (ifindex 3), eth0 (ifindex 2): the first NIC is eth0.
        for name, idx, mac, dev in (("lo", 1, "00:00:00:00:00:00", False), ("eth0", 2, "52:54:00:aa:00:01", True),
                                    ("eth1", 3, "52:54:00:aa:00:02", True)):
            d = os.path.join(self.sys, "class", "net", name)
            os.makedirs(d)
            for k, v in (("ifindex", idx), ("address", mac), ("type", 772 if name == "lo" else 1)):
                with open(os.path.join(d, k), "w") as fh:
                    fh.write("%s\n" % v)
            if dev:
                os.makedirs(os.path.join(d, "device"))
        # disks: system vda, a floppy, a CD, a blank data disk vdb, a read-only disk
        self.disks("/dev/fd0 disk 0 1 4096", "/dev/sr0 rom 1 1 1073741312", "/dev/vda disk 0 0 4294967296",
                   "/dev/vdb disk 0 0 2147483648", "/dev/vdz disk 1 0 2097152")
        self.disk_fs("vda", TYPE="ext4", UUID="1111-root")
        for name, body in STUBS.items():
            path = os.path.join(self.bin, name)
            with open(path, "w") as fh:
                fh.write("#!/bin/bash\n" + body.lstrip("\n"))
            os.chmod(path, 0o755)
        self.user_key = ssh.generate_key(os.path.join(self.base, "keys", "id_ed25519"), comment="xosan-test")
        self.host_pub = ssh.generate_key(os.path.join(self.base, "keys", "host"), comment="xosan-test-host")
        with open(os.path.join(self.base, "keys", "host"), "rb") as fh:
            self.host_key_b64 = base64.b64encode(fh.read()).decode("ascii")
        self.config = {"hostname": "xosan-h1", "ip": "10.0.50.101", "prefix": "24", "gateway": "10.0.50.1",
                       "mtu": "9000", "authorized-key": self.user_key, "host-key": self.host_key_b64,
                       "deployment": "dep-1"}

    def write(self, rel, text):
        path = os.path.join(self.root, rel)
        if not os.path.isdir(os.path.dirname(path)):
            os.makedirs(os.path.dirname(path))
        with open(path, "w") as fh:
            fh.write(text)

    def read(self, rel):
        with open(os.path.join(self.root, rel)) as fh:
            return fh.read()

    def exists(self, rel):
        return os.path.exists(os.path.join(self.root, rel))

    def disks(self, *lines):
        with open(os.path.join(self.fake, "lsblk"), "w") as fh:
            fh.write("".join(line + "\n" for line in lines))

    def disk_fs(self, name, **fields):
        with open(os.path.join(self.fake, "disks", name + ".export"), "w") as fh:
            fh.write("".join("%s=%s\n" % kv for kv in sorted(fields.items())))

    def use_xenstore(self, values=None):
        # The deployer's xenstore_data, as xosan.pool.storage_vm writes it; the guest reads it relative
        # to its domain path, i.e. vm-data/xosan/<key>.
        d = os.path.join(self.fake, "xenstore", "vm-data", "xosan")
        os.makedirs(d)
        for k, v in storage_vm.xenstore_data(values if values is not None else self.config).items():
            with open(os.path.join(self.fake, "xenstore", k), "w") as fh:
                fh.write(v)

    def use_config_disk(self, values=None):
        for k, v in (values if values is not None else self.config).items():
            with open(os.path.join(self.fake, "cfgdisk", k), "w") as fh:
                fh.write(v + "\n")  # files written by hand end with a newline
        self.cfgdev = "/dev/vdc"

    def calls(self):
        try:
            with open(os.path.join(self.fake, "calls")) as fh:
                return fh.read().splitlines()
        except IOError:
            return []

    def firstboot(self):
        env = {"PATH": self.bin + ":/usr/sbin:/usr/bin:/sbin:/bin", "XOSAN_ROOT": self.root, "XOSAN_SYS": self.sys,
               "XOSAN_RUN": self.base + "/run", "XOSAN_CONFIG_WAIT": "0", "FAKE": self.fake, "LC_ALL": "C",
               "FAKE_CFGDEV": getattr(self, "cfgdev", "")}
        return run(["bash", FIRSTBOOT], check=False, env=env, timeout=60)


@pytest.fixture
def vm(tmp_path):
    if not shutil.which("ssh-keygen"):
        pytest.fail("ssh-keygen is missing (Debian's openssh-client, in .ci/install-deps)")
    return FakeVM(tmp_path)


SSHD_DROPIN = "etc/ssh/sshd_config.d/10-xosan.conf"
KEYS_FILE = "etc/ssh/xosan_authorized_keys"
# sshd -T's spelling of the policy every configured storage VM must have (prohibit-password is
# printed under its old name)
SSHD_POLICY = {
    "permitrootlogin": "without-password", "authenticationmethods": "publickey", "pubkeyauthentication": "yes",
    "passwordauthentication": "no", "kbdinteractiveauthentication": "no", "permitemptypasswords": "no",
    "hostbasedauthentication": "no", "gssapiauthentication": "no",
    "authorizedkeysfile": "/" + KEYS_FILE, "authorizedkeyscommand": "none", "authorizedprincipalsfile": "none",
    "authorizedprincipalscommand": "none", "trustedusercakeys": "none", "disableforwarding": "yes",
    "permituserenvironment": "no",
}


def parse_sshd_t(text):
    """sshd -T output as {keyword: value}; repeated keywords (allowusers) joined by a space."""
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(" ")
        out[k] = (out[k] + " " + v) if k in out and k in ("allowusers", "denyusers") else v
    return out


def sshd_effective(vm):
    """The effective settings of this machine's real sshd (the image's release, Debian 12) given the
    drop-in the script wrote, included first as Debian's sshd_config does and followed by settings
    that would open the VM up: the drop-in must win over them (not AllowUsers/DenyUsers: sshd adds
    those up wherever they are, the boot test reads them from the image's own sshd). In a private
    mount namespace with its own /run (sshd -T wants /run/sshd; this machine's /run is left alone)."""
    if not shutil.which("sshd", path="/usr/sbin:/usr/bin"):
        pytest.fail("/usr/sbin/sshd is missing (Debian's openssh-server, in .ci/install-deps)")
    conf = os.path.join(vm.base, "sshd_config")
    with open(conf, "w") as fh:
        fh.write("Include %s/etc/ssh/sshd_config.d/*.conf\n" % vm.root
                 + "PermitRootLogin yes\nPasswordAuthentication yes\nKbdInteractiveAuthentication yes\n"
                 + "PubkeyAuthentication no\nAuthorizedKeysFile .ssh/authorized_keys\nGSSAPIAuthentication yes\n")
    hk = os.path.join(vm.root, "etc/ssh/ssh_host_ed25519_key")
    res = run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
               'mount -t tmpfs -o size=1m,mode=755 xosan-sshd-test /run && mkdir -m 755 /run/sshd && '
               'exec /usr/sbin/sshd -T -f "$0" -h "$1"', conf, hk])
    return parse_sshd_t(res.stdout)


def brick_lines(fstab):
    return [line for line in fstab.splitlines() if " %s " % storage_vm.BRICK_ROOT in line]


def test_firstboot_applies_the_xenstore_config(vm):
    vm.use_xenstore()
    res = vm.firstboot()
    assert res.returncode == 0, res.stderr
    assert "configuration from xenstore (deployment dep-1)" in res.stderr
    assert vm.read("etc/hostname") == "xosan-h1\n"
    assert "127.0.1.1\txosan-h1\n" in vm.read("etc/hosts") and "\txosan\n" not in vm.read("etc/hosts")
    assert "hostname xosan-h1" in vm.calls()
    # the first NIC (by ifindex, a real device), matched by its MAC
    net = vm.read("etc/systemd/network/10-xosan.network")
    assert "MACAddress=52:54:00:aa:00:01\n" in net
    assert "MTUBytes=9000\n" in net and "Address=10.0.50.101/24\n" in net and "Gateway=10.0.50.1\n" in net
    assert "NTP=10.0.50.1\n" in vm.read("etc/systemd/timesyncd.conf.d/xosan.conf")
    # SSH: root by the deployment's key only, from the storage network only, the deployer's host key
    # and no other; the policy as the real sshd reads it
    eff = sshd_effective(vm)
    for k, v in SSHD_POLICY.items():
        assert eff.get(k) == v, (k, eff.get(k))
    assert eff["allowusers"] == "root@10.0.50.0/24" and "denyusers" not in eff
    assert vm.read(KEYS_FILE) == vm.user_key + "\n"
    assert stat.S_IMODE(os.stat(os.path.join(vm.root, KEYS_FILE)).st_mode) == 0o600
    assert not vm.exists("root/.ssh/authorized_keys")
    hk = os.path.join(vm.root, "etc/ssh/ssh_host_ed25519_key")
    assert stat.S_IMODE(os.stat(hk).st_mode) == 0o600
    derived = run(["ssh-keygen", "-y", "-f", hk]).stdout.split()[:2]
    assert derived == vm.host_pub.split()[:2]
    assert vm.read("etc/ssh/ssh_host_ed25519_key.pub").split()[:2] == derived
    assert not vm.exists("etc/ssh/ssh_host_rsa_key") and not vm.exists("etc/ssh/ssh_host_rsa_key.pub")
    # the brick: the blank disk, XFS with 512-byte inodes, in fstab by UUID, mounted
    calls = vm.calls()
    assert [c for c in calls if c.startswith("mkfs.xfs")] == ["mkfs.xfs -q -i size=512 -L xosan-brick /dev/vdb"]
    lines = brick_lines(vm.read("etc/fstab"))
    assert len(lines) == 1 and lines[0].startswith("UUID=") and " xfs " in lines[0] and "nofail" in lines[0]
    assert "UUID=1111-root / ext4 defaults 0 1" in vm.read("etc/fstab")
    assert "mount %s%s" % (vm.root, storage_vm.BRICK_ROOT) in calls
    # glusterd once the brick is there, without waiting on it (it is ordered after this unit)
    assert calls.index("systemctl enable glusterd.service") < calls.index("systemctl --no-block start glusterd.service")
    assert "errors=0" in vm.read("var/lib/xosan/firstboot.state")


def test_firstboot_is_idempotent_and_never_reformats(vm):
    vm.use_xenstore()
    assert vm.firstboot().returncode == 0
    fstab = vm.read("etc/fstab")
    os.remove(os.path.join(vm.fake, "calls"))
    os.remove(os.path.join(vm.fake, "mounted"))  # as after a reboot: fstab mounts it (here: the script)
    res = vm.firstboot()
    assert res.returncode == 0, res.stderr
    assert "wrote" not in res.stderr and "added" not in res.stderr and "installed" not in res.stderr, res.stderr
    assert not [c for c in vm.calls() if c.startswith("mkfs")]
    assert vm.read("etc/fstab") == fstab
    assert vm.read(KEYS_FILE) == vm.user_key + "\n"
    assert "mount %s%s" % (vm.root, storage_vm.BRICK_ROOT) in vm.calls()


def test_firstboot_brick_mounted_by_systemd_meanwhile_is_no_error(vm):
    vm.use_xenstore()
    assert vm.firstboot().returncode == 0
    os.remove(os.path.join(vm.fake, "mounted"))  # a reboot, and systemd mounts the brick as we try
    with open(os.path.join(vm.fake, "mount-race"), "w"):
        pass
    res = vm.firstboot()
    assert res.returncode == 0, res.stderr
    assert "is mounted (by systemd, from /etc/fstab)" in res.stderr
    assert "systemctl --no-block start glusterd.service" in vm.calls()


def test_firstboot_adopts_an_existing_brick_and_leaves_other_filesystems_alone(vm):
    # vdb: an ext4 disk (not ours), vdc: partitioned, vdd: a brick from an earlier life, vde: blank
    vm.disks("/dev/vda disk 0 0 4294967296", "/dev/vdb disk 0 0 2147483648", "/dev/vdc disk 0 0 2147483648",
             "/dev/vdd disk 0 0 2147483648", "/dev/vde disk 0 0 2147483648")
    vm.disk_fs("vdb", TYPE="ext4", UUID="2222")
    vm.disk_fs("vdc", PTTYPE="dos")
    with open(os.path.join(vm.fake, "disks", "vdc.parts"), "w") as fh:
        fh.write("vdc1\n")
    vm.disk_fs("vdd", TYPE="xfs", LABEL="xosan-brick", UUID="4444")
    vm.use_xenstore()
    res = vm.firstboot()
    assert res.returncode == 0, res.stderr
    assert not [c for c in vm.calls() if c.startswith("mkfs")]
    assert "existing brick filesystem on /dev/vdd" in res.stderr
    assert brick_lines(vm.read("etc/fstab"))[0].startswith("UUID=4444 %s xfs " % storage_vm.BRICK_ROOT)


def test_firstboot_replaces_a_brick_whose_disk_is_gone(vm):
    vm.write("etc/fstab", "UUID=1111-root / ext4 defaults 0 1\nUUID=dead %s xfs defaults 0 2\n" % storage_vm.BRICK_ROOT)
    vm.use_xenstore()
    res = vm.firstboot()
    assert res.returncode == 0, res.stderr
    assert "mkfs.xfs -q -i size=512 -L xosan-brick /dev/vdb" in vm.calls()
    lines = brick_lines(vm.read("etc/fstab"))
    assert len(lines) == 1 and "dead" not in lines[0]


def test_firstboot_reads_the_config_disk_without_xenstore(vm):
    vm.use_config_disk()
    res = vm.firstboot()
    assert res.returncode == 0, res.stderr
    assert "configuration from config disk /dev/vdc" in res.stderr
    assert vm.read("etc/hostname") == "xosan-h1\n"
    assert vm.read(KEYS_FILE) == vm.user_key + "\n"
    assert "AllowUsers root@10.0.50.0/24\n" in vm.read(SSHD_DROPIN)
    hk = os.path.join(vm.root, "etc/ssh/ssh_host_ed25519_key")
    assert run(["ssh-keygen", "-y", "-f", hk]).stdout.split()[:2] == vm.host_pub.split()[:2]
    assert "mount -o ro /dev/vdc %s/run/xosan-config" % vm.base in vm.calls()


def test_firstboot_prefers_xenstore_over_a_config_disk(vm):
    vm.use_xenstore()
    vm.use_config_disk(dict(vm.config, hostname="from-disk"))
    assert vm.firstboot().returncode == 0
    assert vm.read("etc/hostname") == "xosan-h1\n"


def test_firstboot_without_config_fails_but_leaves_sshd_startable(vm):
    res = vm.firstboot()
    assert res.returncode == 1
    assert "no configuration" in res.stderr
    assert not vm.exists("etc/systemd/network/10-xosan.network")
    assert not [c for c in vm.calls() if "glusterd" in c or c.startswith("mkfs")]
    # sshd refuses to start without a host key: one is generated; nobody can log in (no key, no one allowed)
    assert vm.exists("etc/ssh/ssh_host_ed25519_key") and vm.read(KEYS_FILE) == ""
    eff = sshd_effective(vm)
    assert eff["denyusers"] == "*" and "allowusers" not in eff
    assert eff["authenticationmethods"] == "publickey" and eff["passwordauthentication"] == "no"


def test_firstboot_without_config_keeps_the_last_configured_ssh_policy(vm):
    # a boot that finds no configuration (xenstore not answering) must not lock the deployer out
    vm.use_xenstore()
    assert vm.firstboot().returncode == 0
    policy = vm.read(SSHD_DROPIN)
    shutil.rmtree(os.path.join(vm.fake, "xenstore"))
    res = vm.firstboot()
    assert res.returncode == 1 and "no configuration" in res.stderr
    assert vm.read(SSHD_DROPIN) == policy and vm.read(KEYS_FILE) == vm.user_key + "\n"


def test_firstboot_ssh_only_the_current_deployment_key(vm):
    # a new deployment key replaces the old one; root's own authorized_keys is never read
    vm.use_xenstore()
    assert vm.firstboot().returncode == 0
    vm.write("root/.ssh/authorized_keys", vm.user_key + "\n")
    new_key = ssh.generate_key(os.path.join(vm.base, "keys", "id_new"), comment="xosan-new")
    shutil.rmtree(os.path.join(vm.fake, "xenstore"))
    vm.use_xenstore(dict(vm.config, **{"authorized-key": new_key}))
    assert vm.firstboot().returncode == 0
    assert vm.read(KEYS_FILE) == new_key + "\n"
    assert sshd_effective(vm)["authorizedkeysfile"] == "/" + KEYS_FILE


def test_firstboot_ssh_from_names_the_deployer_ranges(vm):
    vm.use_xenstore(dict(vm.config, **{"ssh-from": "192.168.7.0/24, 172.16.9.7/16,10.9.9.9"}))
    res = vm.firstboot()
    assert res.returncode == 0, res.stderr
    # host bits dropped (sshd refuses such a pattern), a bare address is a /32; not the storage network
    assert sshd_effective(vm)["allowusers"] == "root@192.168.7.0/24 root@172.16.0.0/16 root@10.9.9.9/32"


def test_firstboot_bad_ssh_from_falls_back_to_the_storage_network(vm):
    vm.use_xenstore(dict(vm.config, **{"ssh-from": "192.168.7.0/24,0.0.0.0/0"}))
    res = vm.firstboot()
    assert res.returncode == 1
    assert "ssh-from '0.0.0.0/0' is not an IPv4 address or range" in res.stderr
    assert sshd_effective(vm)["allowusers"] == "root@10.0.50.0/24"
    assert "errors=1" in vm.read("var/lib/xosan/firstboot.state")


def test_firstboot_bad_network_means_nobody_may_log_in(vm):
    vm.use_xenstore(dict(vm.config, prefix="33"))
    assert vm.firstboot().returncode == 1
    eff = sshd_effective(vm)
    assert eff["denyusers"] == "*" and "allowusers" not in eff


def test_firstboot_locks_every_password(vm):
    shadow = ("root:$6$salt$hash:19000:0:99999:7:::\n"  # a usable password
              "daemon:*:19000:0:99999:7:::\n"
              "admin::19000:0:99999:7:::\n"  # empty: a login with no password at all
              "sshd:!:19000::::::\n"
              "gluster:!$6$x$y:19000::::::\n")
    vm.write("etc/shadow", shadow)
    os.chmod(os.path.join(vm.root, "etc/shadow"), 0o640)
    vm.write("etc/passwd", "root:x:0:0:root:/root:/bin/bash\nold:$1$ab$cd:1000:1000::/home/old:/bin/sh\n")
    vm.use_xenstore()
    res = vm.firstboot()
    assert res.returncode == 0, res.stderr
    assert vm.read("etc/shadow") == shadow.replace("root:$6", "root:!$6").replace("admin::", "admin:!:")
    assert stat.S_IMODE(os.stat(os.path.join(vm.root, "etc/shadow")).st_mode) == 0o640
    assert vm.read("etc/passwd").splitlines()[1] == "old:!$1$ab$cd:1000:1000::/home/old:/bin/sh"
    assert "locked the password of root admin in /etc/shadow" in res.stderr
    # and again: nothing left to lock, nothing rewritten
    res = vm.firstboot()
    assert "locked" not in res.stderr, res.stderr


def test_firstboot_rejects_bad_values_and_says_which(vm):
    vm.use_xenstore(dict(vm.config, ip="10.0.50.300", hostname="bad_name!", gateway="", mtu="12",
                         **{"host-key": "not-base64-key"}))
    res = vm.firstboot()
    assert res.returncode == 1
    assert "ip '10.0.50.300' is not an IPv4 address" in res.stderr
    assert "hostname 'bad_name!' is not a valid host name" in res.stderr
    assert "host-key is not a base64 OpenSSH private key" in res.stderr
    assert not vm.exists("etc/hostname") and not vm.exists("etc/systemd/network/10-xosan.network")
    assert vm.exists("etc/ssh/ssh_host_ed25519_key")  # a fresh one, so sshd still starts
    assert "errors=3" in vm.read("var/lib/xosan/firstboot.state")


def test_firstboot_loads_the_saved_packet_filter_before_glusterd(vm):
    vm.use_xenstore()
    assert vm.firstboot().returncode == 0
    assert not [c for c in vm.calls() if c.startswith("nft")]  # none saved yet: nothing to load
    vm.write("var/lib/glusterd/xosan-firewall.nft", "table inet xosan {}\n")
    os.remove(os.path.join(vm.fake, "calls"))
    res = vm.firstboot()
    assert res.returncode == 0, res.stderr
    calls = vm.calls()
    load = "nft -f %s/var/lib/glusterd/xosan-firewall.nft" % vm.root
    assert calls.index(load) < calls.index("systemctl --no-block start glusterd.service")
    with open(os.path.join(vm.fake, "nft-fails"), "w"):
        pass
    res = vm.firstboot()
    assert res.returncode == 1 and "glusterd's ports are not filtered" in res.stderr


def test_firstboot_no_gateway_means_no_ntp_server(vm):
    vm.use_xenstore(dict(vm.config, gateway="", mtu=""))
    assert vm.firstboot().returncode == 0
    net = vm.read("etc/systemd/network/10-xosan.network")
    assert "Gateway" not in net and "MTUBytes" not in net
    assert "NTP=\nFallbackNTP=\n" in vm.read("etc/systemd/timesyncd.conf.d/xosan.conf")


def test_firstboot_reads_every_key_of_the_storage_vm_contract():
    with open(FIRSTBOOT) as fh:
        text = fh.read()
    keys_line = [line for line in text.splitlines() if line.startswith("KEYS=")][0]
    assert sorted(keys_line.split("=", 1)[1].strip('"').split()) == sorted(storage_vm.XS_KEYS)
    assert "BRICK_ROOT=%s\n" % storage_vm.BRICK_ROOT in text
    assert "XS_PREFIX=%s\n" % storage_vm.XS_PREFIX in text


# --------------------------------------------------------------------------- slow: boot the image

BOOT_TIMEOUT = int(os.environ.get("XOSAN_APPLIANCE_BOOT_TIMEOUT", "600"))  # TCG: minutes; KVM: seconds
QEMU = "qemu-system-x86_64"
KVM_KERNEL_DEADLINE = 60  # under KVM the kernel prints within seconds of qemu's start; else: TCG
KVM_GET_API_VERSION, KVM_CREATE_VM = 0xAE00, 0xAE01  # _IO(KVMIO=0xAE, 0x00 / 0x01), linux/kvm.h
GUEST_IP, GUEST_GW = "10.0.2.15", "10.0.2.2"  # qemu user networking's guest address and gateway
# The storage network the config disk gives (ip/prefix): it holds 10.0.2.2, where every connection
# through the forwarded port comes from, as the deployer's does on a pool.
GUEST_NET = "10.0.2.0/24"
# A second user-mode network outside it: the same sshd reached from 10.0.3.2 must refuse the
# deployment's own key. The test itself puts the address on the VM's second NIC.
OUTSIDE_IP, OUTSIDE_NET, OUTSIDE_HOST = "10.0.3.15", "10.0.3.0/24", "10.0.3.2"
MACS = ("52:54:00:12:34:56", "52:54:00:12:34:57")  # storage NIC, the outside one
GLUSTER_PROCESSES = ("glusterd", "glusterfsd")


def built_image():
    """(vhd path, manifest) of the built image, or None."""
    try:
        with open(os.path.join(BUILD_DIR, "manifest.json")) as fh:
            manifest = json.load(fh)
    except (IOError, ValueError):
        return None
    vhd = os.path.join(BUILD_DIR, manifest["vhd"]["file"])
    return (vhd, manifest) if os.path.exists(vhd) else None


def kvm_problem():
    """Why qemu cannot use KVM on this machine, or None when it can: /dev/kvm opens read-write,
    speaks KVM API 12 and makes a VM, and qemu itself starts with -accel kvm."""
    import fcntl
    modules = [m for m in ("kvm_intel", "kvm_amd", "kvm_pvm") if os.path.isdir("/sys/module/" + m)]
    if os.path.exists("/dev/kvm") and not set(modules) & {"kvm_intel", "kvm_amd"}:
        # e.g. kvm_pvm (a VM offering KVM without VMX/SVM): it runs PVM-aware guest kernels only,
        # the appliance's stock Debian kernel hangs right after GRUB loads it
        return "/dev/kvm is %s, not hardware virtualisation (kvm_intel/kvm_amd)" % (
            " + ".join(modules) or "from no known KVM module")
    try:
        fd = os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC)
    except OSError as exc:
        return "/dev/kvm: %s" % exc.strerror
    try:
        version = fcntl.ioctl(fd, KVM_GET_API_VERSION)
        if version != 12:
            return "/dev/kvm speaks KVM API %d, not 12" % version
        os.close(fcntl.ioctl(fd, KVM_CREATE_VM, 0))
    except OSError as exc:
        return "/dev/kvm cannot make a VM: %s" % exc.strerror
    finally:
        os.close(fd)
    try:
        res = subprocess.run([QEMU, "-machine", "none", "-accel", "kvm", "-nodefaults", "-display", "none",
                              "-monitor", "stdio"], input="quit\n", stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             universal_newlines=True, timeout=60)
    except subprocess.TimeoutExpired:
        return "%s -accel kvm did not start within 60 s" % QEMU
    if res.returncode != 0:
        lines = res.stderr.strip().splitlines()
        return "%s -accel kvm exited %d%s" % (QEMU, res.returncode, (": " + lines[-1]) if lines else "")
    return None


def choose_accel():
    """("kvm" or "tcg", why): KVM when it works here, else TCG; XOSAN_APPLIANCE_ACCEL=kvm|tcg forces one
    (kvm then fails the test when KVM does not work)."""
    wanted = os.environ.get("XOSAN_APPLIANCE_ACCEL", "auto").strip().lower() or "auto"
    if wanted not in ("auto", "kvm", "tcg"):
        pytest.fail("XOSAN_APPLIANCE_ACCEL=%s: use auto, kvm or tcg" % wanted)
    if wanted == "tcg":
        return "tcg", "XOSAN_APPLIANCE_ACCEL=tcg"
    problem = kvm_problem()
    if problem is None:
        return "kvm", "/dev/kvm works"
    if wanted == "kvm":
        pytest.fail("XOSAN_APPLIANCE_ACCEL=kvm, but %s" % problem)
    return "tcg", problem


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _own_session_dies_with_parent():
    # qemu in its own session (no terminal signals), and killed by the kernel if pytest dies
    # without running the fixture's cleanup (SIGKILL, SIGTERM).
    os.setsid()
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


class BootedVM(object):
    def __init__(self, workdir, vhd, accel="tcg"):
        self.dir = workdir
        self.vhd = vhd
        self.accel = accel
        self.proc = None
        self.port = free_port()
        self.outside_port = free_port()
        self.console = os.path.join(workdir, "console.log")
        self.timings = {}

    def prepare(self):
        d = self.dir
        key = ssh.generate_key(os.path.join(d, "id_ed25519"), comment="xosan-appliance-test")
        host_pub = ssh.generate_key(os.path.join(d, "hostkey"), comment="xosan-appliance-test-host")
        with open(os.path.join(d, "hostkey"), "rb") as fh:
            host_key = base64.b64encode(fh.read()).decode("ascii")
        self.key = key
        self.known_hosts = os.path.join(d, "known_hosts")
        ssh.write_known_hosts(self.known_hosts, [ssh.known_hosts_line("[127.0.0.1]:%d" % p, host_pub)
                                                 for p in (self.port, self.outside_port)])
        self.target = ssh.SSHTarget("127.0.0.1", os.path.join(d, "id_ed25519"), self.known_hosts,
                                    port=self.port, connect_timeout=10)
        # the same key from outside the storage network, and a key that is not the deployment's
        self.outside = ssh.SSHTarget("127.0.0.1", os.path.join(d, "id_ed25519"), self.known_hosts,
                                     port=self.outside_port, connect_timeout=10)
        self.other_key = ssh.generate_key(os.path.join(d, "id_other"), comment="not-the-deployment")
        self.stranger = ssh.SSHTarget("127.0.0.1", os.path.join(d, "id_other"), self.known_hosts,
                                      port=self.port, connect_timeout=10)
        self.config = {"hostname": "xosan-boot", "ip": GUEST_IP, "prefix": "24", "gateway": GUEST_GW,
                       "mtu": "1500", "authorized-key": key, "host-key": host_key, "deployment": "boot-test"}
        # the config disk: vfat labelled XOSANCFG, one file per key
        cfg = os.path.join(d, "config")
        os.makedirs(cfg)
        for k, v in self.config.items():
            with open(os.path.join(cfg, k), "w") as fh:
                fh.write(v + "\n")
        self.cfg_img = os.path.join(d, "config.img")
        run(["truncate", "-s", "2M", self.cfg_img])
        run(["mkfs.vfat", "-n", "XOSANCFG", self.cfg_img])
        run(["mcopy", "-i", self.cfg_img] + [os.path.join(cfg, k) for k in sorted(self.config)] + ["::/"])
        # the system disk: a copy-on-write overlay on the VHD (the built image stays as it is)
        self.sys_img = os.path.join(d, "system.qcow2")
        run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "vpc", "-b", self.vhd, self.sys_img])
        self.data_img = os.path.join(d, "data.qcow2")
        run(["qemu-img", "create", "-q", "-f", "qcow2", self.data_img, "2G"])

    def start(self):
        # KVM runs the guest on this machine's CPU (-cpu host); TCG emulates every instruction
        cpu = ["-cpu", "host"] if self.accel == "kvm" else []
        argv = [QEMU, "-machine", "pc,accel=%s" % self.accel] + cpu + [
            "-m", "1024", "-smp", "2", "-nographic",
            "-drive", "file=%s,format=qcow2,if=virtio" % self.sys_img,
            "-drive", "file=%s,format=qcow2,if=virtio" % self.data_img,
            "-drive", "file=%s,format=raw,if=virtio,readonly=on" % self.cfg_img,
            # user networking, restricted: the guest reaches nothing; only the forwarded local ports
            "-netdev", "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:%d-:22" % self.port,
            "-device", "virtio-net-pci,netdev=n0,mac=%s" % MACS[0],
            "-netdev", "user,id=n1,restrict=on,net=%s,host=%s,hostfwd=tcp:127.0.0.1:%d-%s:22" % (
                OUTSIDE_NET, OUTSIDE_HOST, self.outside_port, OUTSIDE_IP),
            "-device", "virtio-net-pci,netdev=n1,mac=%s" % MACS[1]]
        self.console_fh = open(self.console, "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.console_fh,
                                     stderr=subprocess.STDOUT, preexec_fn=_own_session_dies_with_parent)
        self.started = time.time()

    def console_tail(self, n=40):
        try:
            with open(self.console, "rb") as fh:
                lines = fh.read().decode("utf-8", "replace").splitlines()
        except IOError:
            return ""
        return "\n".join(lines[-n:])

    def wait_kernel(self, deadline):
        """Whether the guest kernel prints on the serial console (console=ttyS0) before ``deadline``."""
        while time.time() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with open(self.console, "rb") as fh:
                    if re.search(rb"Linux version |\[\s*\d+\.\d{6}\]", fh.read()):
                        return True
            except IOError:
                pass
            time.sleep(1)
        return False

    def wait_ssh(self, deadline, boot_id_not=None):
        """Until SSH answers (and the boot id differs from boot_id_not); returns the boot id."""
        while True:
            if self.proc.poll() is not None:
                pytest.fail("qemu exited (%s); console:\n%s" % (self.proc.returncode, self.console_tail()))
            try:
                res = self.target.run(["cat", "/proc/sys/kernel/random/boot_id"], timeout=30, check=False)
                if res.returncode == 0 and res.stdout.strip() and res.stdout.strip() != boot_id_not:
                    return res.stdout.strip()
            except ssh.SSHError:
                pass
            if time.time() > deadline:
                pytest.fail("no SSH on 127.0.0.1:%d within %d s; console:\n%s" % (
                    self.port, BOOT_TIMEOUT, self.console_tail()))
            time.sleep(5)

    def sh(self, script, timeout=120, check=True):
        res = self.target.run(["sh", "-c", script], timeout=timeout, check=False)
        if check and res.returncode != 0:
            raise AssertionError("%r failed (%d):\n%s\n%s" % (script, res.returncode, res.stdout, res.stderr))
        return res.stdout

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=20)
        self.console_fh.close()


def say(request, text):
    """A line on pytest's terminal, past its output capture (which accelerator the boot uses)."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capman = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None:
        return
    if capman is not None:
        with capman.global_and_fixture_disabled():
            reporter.write_line(text)
    else:
        reporter.write_line(text)


def start_vm(request, factory, cls, what):
    """A started ``cls`` (BootedVM or WitnessVM) on the built image: KVM when it works, else TCG, and
    TCG after all when KVM opened but the guest kernel printed nothing. Returns (vm, accel, why)."""
    image = built_image()
    if image is None:
        pytest.skip("no built image in build/appliance (manifest.json + VHD): run `make appliance` as root")
    missing = [t for t in (QEMU, "qemu-img", "mkfs.vfat", "mcopy", "ssh", "ssh-keygen", "ssh-keyscan")
               if not shutil.which(t)]
    if missing:
        pytest.fail("missing %s: run `bash appliance/install-deps`" % ", ".join(missing))
    accel, why = choose_accel()
    say(request, "%s: qemu accel=%s (%s)" % (what, accel, why))
    vm = cls(str(factory.mktemp("xap-boot")), image[0], accel)
    vm.prepare()
    vm.start()
    if accel == "kvm" and not vm.wait_kernel(time.time() + KVM_KERNEL_DEADLINE):
        why = "KVM opened but the guest kernel printed nothing within %d s (console: %s)" % (
            KVM_KERNEL_DEADLINE, vm.console)
        vm.stop()
        if os.environ.get("XOSAN_APPLIANCE_ACCEL", "auto").strip().lower() == "kvm":
            pytest.fail("XOSAN_APPLIANCE_ACCEL=kvm, but " + why)
        accel = "tcg"
        say(request, "%s: falling back to qemu accel=tcg (%s)" % (what, why))
        vm = cls(str(factory.mktemp("xap-boot")), image[0], accel)
        vm.prepare()
        vm.start()
    return vm, accel, why


def wait_first_boot(vm):
    """Until the first-boot unit has run through (it is ordered before glusterd)."""
    deadline = time.time() + 300
    while vm.sh("systemctl is-active xosan-firstboot.service || true").strip() not in ("active", "failed"):
        assert time.time() < deadline, "xosan-firstboot.service did not finish within 300 s"
        time.sleep(5)


@pytest.fixture(scope="module")
def booted(request, tmp_path_factory):
    vm, accel, why = start_vm(request, tmp_path_factory, BootedVM, "appliance boot test")
    vm.timings["accelerator"] = accel
    vm.timings["accelerator reason"] = why
    try:
        vm.boot_id = vm.wait_ssh(time.time() + BOOT_TIMEOUT)
        vm.timings["first boot to SSH (s)"] = round(time.time() - vm.started)
        wait_first_boot(vm)
        yield vm
    finally:
        vm.stop()
        report = os.path.join(BUILD_DIR, "boot-test.json")
        try:
            with open(report, "w") as fh:
                json.dump(dict(vm.timings, image=os.path.basename(vm.vhd), console=vm.console), fh, indent=2)
        except IOError:
            pass


@pytest.mark.slow
def test_boot_first_boot_unit_succeeded(booted):
    state = booted.sh("systemctl is-active xosan-firstboot.service || true").strip()
    journal = booted.sh("journalctl -b -u xosan-firstboot.service --no-pager -o cat")
    assert state == "active", journal
    assert "configuration from config disk" in journal, journal
    assert "errors=0" in booted.sh("cat /var/lib/xosan/firstboot.state")


@pytest.mark.slow
def test_boot_brick_is_xfs_at_the_brick_root(booted):
    assert booted.sh("findmnt -n -o FSTYPE %s" % storage_vm.BRICK_ROOT).strip() == "xfs"
    assert "isize=512" in booted.sh("xfs_info %s" % storage_vm.BRICK_ROOT)
    # the deployer's step: a brick directory under the brick root
    booted.sh("mkdir -p %s" % storage_vm.brick_dir("xosan", "b1"))
    fstab = booted.sh("cat /etc/fstab")
    assert [line for line in fstab.splitlines() if line.startswith("UUID=") and storage_vm.BRICK_ROOT in line]


@pytest.mark.slow
def test_boot_gluster_answers_and_glusterd_is_active(booted):
    assert booted.sh("gluster --version").startswith("glusterfs ")
    deadline = time.time() + 120
    while booted.sh("systemctl is-active glusterd.service || true").strip() != "active":
        assert time.time() < deadline, booted.sh("systemctl status glusterd.service --no-pager || true")
        time.sleep(5)
    assert "Number of Peers: 0" in booted.sh("gluster peer status", timeout=60)
    # a one-brick volume on the brick filesystem (no `force`: gluster accepts the XFS mount as a brick)
    brick = storage_vm.brick_dir("xt", "b1")
    booted.sh("mkdir -p %s && gluster --mode=script volume create xt %s:%s && gluster --mode=script volume start xt"
              % (brick, GUEST_IP, brick), timeout=180)
    assert brick_online(booted, "xt")


def brick_online(vm, volume):
    deadline = time.time() + 120
    while True:
        out = vm.sh("gluster volume status %s detail || true" % volume, timeout=60)
        if re.search(r"^Online\s*:\s*Y\s*$", out, re.M):
            return True
        if time.time() > deadline:
            raise AssertionError("the brick of %s is not online:\n%s" % (volume, out))
        time.sleep(5)


@pytest.mark.slow
def test_boot_config_applied(booted):
    assert booted.sh("hostname").strip() == "xosan-boot"
    addr = booted.sh("ip -o -4 addr show")
    assert " %s/24 " % GUEST_IP in addr
    assert "default via %s " % GUEST_GW in booted.sh("ip route")
    sshd = booted.sh("sshd -T")
    assert "permitrootlogin without-password" in sshd or "permitrootlogin prohibit-password" in sshd
    assert "passwordauthentication no" in sshd
    assert "NTP=%s" % GUEST_GW in booted.sh("cat /etc/systemd/timesyncd.conf.d/xosan.conf")


@pytest.mark.slow
def test_boot_sshd_effective_policy(booted):
    # the image's own sshd, with the image's own sshd_config and every file it includes
    eff = parse_sshd_t(booted.sh("sshd -T"))
    for k, v in SSHD_POLICY.items():
        assert eff.get(k) == v, (k, eff.get(k))
    assert eff.get("allowusers") == "root@" + GUEST_NET and "denyusers" not in eff
    assert booted.sh("cat /" + KEYS_FILE) == booted.key + "\n"
    # the storage network is the first NIC's (the config disk's ip/prefix), matched by its MAC
    assert "MACAddress=%s\n" % MACS[0] in booted.sh("cat /etc/systemd/network/10-xosan.network")


@pytest.mark.slow
def test_boot_no_password_on_any_account(booted):
    shadow = [line.split(":") for line in booted.sh("cat /etc/shadow").splitlines() if line]
    assert shadow and [f[0] for f in shadow if not f[1].startswith(("!", "*"))] == [], shadow
    assert [line for line in booted.sh("cat /etc/passwd").splitlines() if line.split(":")[1] != "x"] == []
    status = [line.split() for line in booted.sh("passwd -S -a").splitlines() if line]
    assert len(status) == len(shadow) and [s for s in status if s[1] != "L"] == [], status


def ssh_refused(res):
    return res.returncode == 255 and "Permission denied (publickey)" in res.stderr


def refusal(target):
    """The SSHError text of a login to ``target`` (None when it got in)."""
    try:
        target.run(["true"], timeout=60, check=False)
    except ssh.SSHError as exc:
        return str(exc)
    return None


@pytest.mark.slow
def test_boot_password_login_refused(booted):
    # a client that offers only a password (or keyboard-interactive) answer, from an askpass helper
    d = booted.dir
    askpass = os.path.join(d, "askpass")
    with open(askpass, "w") as fh:
        fh.write("#!/bin/sh\necho asked >>%s/askpass.calls\necho not-a-password\n" % d)
    os.chmod(askpass, 0o755)
    env = dict(os.environ, SSH_ASKPASS=askpass, SSH_ASKPASS_REQUIRE="force", DISPLAY=":0")
    argv = ["ssh", "-F", "/dev/null", "-p", str(booted.port), "-o", "PubkeyAuthentication=no",
            "-o", "PreferredAuthentications=password,keyboard-interactive", "-o", "BatchMode=no",
            "-o", "NumberOfPasswordPrompts=1", "-o", "StrictHostKeyChecking=yes",
            "-o", "UserKnownHostsFile=%s" % booted.known_hosts, "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "ConnectTimeout=30", "root@127.0.0.1", "true"]
    res = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         universal_newlines=True, env=env, start_new_session=True, timeout=120)
    # the server offers publickey alone: the client never gets to ask for a password
    assert ssh_refused(res), (res.returncode, res.stderr)
    assert not os.path.exists(os.path.join(d, "askpass.calls"))


@pytest.mark.slow
def test_boot_other_key_refused_even_in_roots_authorized_keys(booted):
    refused = refusal(booted.stranger)
    assert refused and "Permission denied (publickey)" in refused, refused
    # the place sshd reads by default: a key there is not accepted either
    booted.sh("umask 077 && mkdir -p /root/.ssh && echo '%s' >> /root/.ssh/authorized_keys" % booted.other_key)
    try:
        refused = refusal(booted.stranger)
    finally:
        booted.sh("rm -f /root/.ssh/authorized_keys")
    assert refused and "Permission denied (publickey)" in refused, refused


@pytest.mark.slow
def test_boot_deployment_key_refused_from_outside_the_storage_network(booted):
    nic = booted.sh("ip -o link | awk -F': ' '/link\\/ether %s/ {print $2}'" % MACS[1]).strip()
    assert nic, booted.sh("ip -o link")
    booted.sh("ip link set dev %s up && ip addr replace %s/24 dev %s" % (nic, OUTSIDE_IP, nic))
    refused = refusal(booted.outside)
    assert refused and "Permission denied (publickey)" in refused, refused
    # refused for where it came from (sshd got the connection from the outside network), not for the key
    log = booted.sh("journalctl -b -u ssh.service --no-pager -o cat")
    assert "User root from %s not allowed because not listed in AllowUsers" % OUTSIDE_HOST in log, log
    assert booted.target.run(["true"], timeout=60).returncode == 0  # the same key from the storage network


@pytest.mark.slow
def test_boot_only_sshd_and_gluster_listen(booted):
    out = booted.sh("ss -H -tlnp")
    bad = []
    for line in out.splitlines():
        fields = line.split()
        port = int(fields[3].rsplit(":", 1)[1])
        procs = line.split("users:", 1)[1] if "users:" in line else ""
        ok = (port == 22 and '"sshd"' in procs) or \
            (any('"%s"' % p in procs for p in GLUSTER_PROCESSES) and (port in (24007, 24008) or port >= 49152))
        if not ok:
            bad.append(line)
    assert not bad, "unexpected TCP listeners:\n%s\n(all:\n%s)" % ("\n".join(bad), out)
    assert ":22 " in out and ":24007 " in out, out


@pytest.mark.slow
def test_boot_reboot_keeps_the_brick(booted):
    marker = str(uuid.uuid4())
    path = storage_vm.BRICK_ROOT + "/xosan-marker"
    # the deployment's packet filter, loaded the way deploy loads it (allowing the test's host address)
    booted.target.run(firewall.apply_command([GUEST_GW]), timeout=60)
    assert GUEST_GW in booted.sh("nft list table inet %s" % firewall.TABLE)
    before = booted.sh("echo %s > %s && sync && blkid -o value -s UUID $(findmnt -n -o SOURCE %s)" % (
        marker, path, storage_vm.BRICK_ROOT)).strip()
    try:
        booted.target.run(["systemctl", "reboot"], timeout=30, check=False)
    except ssh.SSHError:
        pass  # the connection may drop under it
    t0 = time.time()
    booted.boot_id = booted.wait_ssh(time.time() + BOOT_TIMEOUT, boot_id_not=booted.boot_id)
    booted.timings["reboot to SSH (s)"] = round(time.time() - t0)
    assert booted.sh("findmnt -n -o FSTYPE %s" % storage_vm.BRICK_ROOT).strip() == "xfs"
    assert booted.sh("cat %s" % path).strip() == marker
    after = booted.sh("blkid -o value -s UUID $(findmnt -n -o SOURCE %s)" % storage_vm.BRICK_ROOT).strip()
    assert after == before
    journal = booted.sh("journalctl -b -u xosan-firstboot.service --no-pager -o cat")
    assert "formatting" not in journal, journal
    # the unit went through again (systemd's own mount of the brick, racing it, is no error)
    assert booted.sh("systemctl is-active xosan-firstboot.service || true").strip() == "active", journal
    assert "errors=0" in booted.sh("cat /var/lib/xosan/firstboot.state"), journal
    # the packet filter is back, loaded before glusterd
    assert "loaded the packet filter %s" % firewall.RULES_PATH in journal, journal
    table = booted.sh("nft list table inet %s" % firewall.TABLE)
    assert GUEST_GW in table and "24007" in table, table
    deadline = time.time() + 120
    while booted.sh("systemctl is-active glusterd.service || true").strip() != "active":
        assert time.time() < deadline, "glusterd not active after the reboot"
        time.sleep(5)
    # the volume's brick comes back by itself (glusterd starts after the brick is mounted)
    assert brick_online(booted, "xt")


# -- the apt method of `xosan upgrade` on the real appliance (xosan/pool/upgrade.py AptUpgrade) ------

REPO = "/srv/xosan-test-repo"
OLD, NEW = "10.3-99xosan1", "10.3-99xosan2"  # the same GlusterFS major release: --gluster may take it


def make_deb(workdir, name, version):
    """A tiny arch-all package made with dpkg-deb (it installs one file naming its version)."""
    root = os.path.join(workdir, "%s_%s" % (name, version))
    os.makedirs(os.path.join(root, "DEBIAN"))
    os.makedirs(os.path.join(root, "usr", "share", name))
    with open(os.path.join(root, "usr", "share", name, "version"), "w") as fh:
        fh.write(version + "\n")
    with open(os.path.join(root, "DEBIAN", "control"), "w") as fh:
        fh.write("Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: XOSAN tests <root@localhost>\n"
                 "Description: XOSAN upgrade test package\n" % (name, version))
    deb = root + ".deb"
    run(["dpkg-deb", "--root-owner-group", "-Zgzip", "--build", root, deb])
    return deb


def flat_repo(workdir, debs):
    """(Packages, Release) texts of a flat repository holding ``debs`` (apt's own fields)."""
    stanzas = []
    for deb in debs:
        control = run(["dpkg-deb", "-f", deb]).stdout.strip()
        with open(deb, "rb") as fh:
            data = fh.read()
        stanzas.append("%s\nFilename: ./%s\nSize: %d\nSHA256: %s\n" % (
            control, os.path.basename(deb), len(data), hashlib.sha256(data).hexdigest()))
    packages = "\n".join(stanzas)
    release = ("Origin: xosan-test\nLabel: xosan-test\nSuite: local\nCodename: local\n"
               "Date: %s\nArchitectures: all amd64\nSHA256:\n %s %d Packages\n" % (
                   time.strftime("%a, %d %b %Y %H:%M:%S UTC", time.gmtime()),
                   hashlib.sha256(packages.encode()).hexdigest(), len(packages.encode())))
    return packages, release


def copy_to(vm, local, remote):
    with open(local, "rb") as fh:
        subprocess.run(vm.target.argv(["sh", "-c", 'cat > "$0"', remote]), stdin=fh, check=True, timeout=120)


class Lines(object):
    """The progress sink AptUpgrade writes to (the CLI's Progress prints the same lines)."""

    def __init__(self):
        self.lines = []

    def info(self, text):
        self.lines.append(text)

    step = info


@pytest.mark.slow
def test_boot_apt_upgrade_runs_for_real_holding_glusterfs_back_unless_asked(booted, tmp_path):
    """The apt method's own commands on the appliance's own apt and dpkg: the node's sources are a
    local repository (the VM reaches no network here) with newer versions of two packages, one of
    them named as GlusterFS's are. Without --gluster only the other is upgraded, the GlusterFS one is
    held for the run and released after; with --gluster it is upgraded too and glusterd restarted."""
    from xosan.pool import upgrade
    d = str(tmp_path)
    canary, gl = "xosan-canary", "glusterfs-xosan-canary"
    old = [make_deb(d, canary, OLD), make_deb(d, gl, OLD)]
    new = [make_deb(d, canary, NEW), make_deb(d, gl, NEW)]
    packages, release = flat_repo(d, new)
    for name, text in (("Packages", packages), ("Release", release)):
        with open(os.path.join(d, name), "w") as fh:
            fh.write(text)
    # the node's own sources: only the local repository (Debian's stay aside, put back at the end)
    booted.sh("mkdir -p %s /root/xosan-test-old && cd /etc/apt && "
              "{ [ ! -e sources.list ] || mv sources.list sources.list.xosan-saved; } && "
              "mv sources.list.d sources.list.d.xosan-saved && mkdir sources.list.d && "
              "echo 'deb [trusted=yes] file:%s ./' > sources.list.d/xosan-test.list" % (REPO, REPO))
    for f in new + [os.path.join(d, "Packages"), os.path.join(d, "Release")]:
        copy_to(booted, f, "%s/%s" % (REPO, os.path.basename(f)))
    for f in old:
        copy_to(booted, f, "/root/xosan-test-old/%s" % os.path.basename(f))
    booted.sh("dpkg -i /root/xosan-test-old/*.deb", timeout=300)
    node = upgrade.UpgradeNode("boot-host", None, None, GUEST_IP, booted.target)

    def versions():
        v = upgrade.node_versions(booted.target)
        return v.get(canary), v.get(gl)

    def glusterd_pid():
        return booted.sh("systemctl show -p MainPID --value glusterd.service").strip()

    def glusterd_active(why):
        deadline = time.time() + 300  # under TCG on a busy machine glusterd's start takes minutes
        while booted.sh("systemctl is-active glusterd.service || true").strip() != "active":
            assert time.time() < deadline, "glusterd not active %s" % why
            time.sleep(3)

    glusterd_active("after the boot")
    step, p = upgrade.AptUpgrade(), Lines()
    # the dry run's view (no apt-get update: the lists are not fetched yet, nothing is upgradable)
    assert step.current(node)["upgradable"] == 0
    pid = glusterd_pid()
    step.prepare(node, p, None)
    said = step.apply(node, p, None)
    assert versions() == (NEW, OLD), p.lines
    assert said == "1 package(s) upgraded, no restart needed", said
    assert "1 GlusterFS held back" in " ".join(p.lines), p.lines
    assert gl not in booted.sh("apt-mark showhold").split()  # released after the run
    assert glusterd_pid() == pid  # nothing of GlusterFS changed: glusterd left alone

    step, p = upgrade.AptUpgrade(gluster=True), Lines()
    step.prepare(node, p, None)
    said = step.apply(node, p, None)
    assert versions() == (NEW, NEW), p.lines
    assert said == "1 package(s) upgraded, GlusterFS restarted", said
    glusterd_active("after the upgrade's restart")
    assert glusterd_pid() not in (pid, "0")
    # an apt run with nothing left says so, and changes nothing
    step, p = upgrade.AptUpgrade(gluster=True), Lines()
    step.prepare(node, p, None)
    assert step.apply(node, p, None) == "nothing to upgrade"
    booted.sh("dpkg -P %s %s && cd /etc/apt && rm -r sources.list.d && mv sources.list.d.xosan-saved sources.list.d && "
              "{ [ ! -e sources.list.xosan-saved ] || mv sources.list.xosan-saved sources.list; }" % (canary, gl))


# -- the witness: the appliance booted from what `xosan witness prepare` wrote, and nothing else -----------

class WitnessVM(BootedVM):
    """A machine outside the pool booting the appliance as a 2-host deployment's witness: its config
    disk is `xosan witness prepare`'s image, its SSH is checked with the deployment's key and the
    host key pinned by prepare, before the machine ever booted (docs/witness.md)."""

    def prepare(self):
        d = self.dir
        state = os.path.join(d, "state")
        res = run([sys.executable, "-m", "xosan", "witness", "prepare", "--address", GUEST_IP, "--prefix", "24",
                   "--gateway", GUEST_GW, "--ssh-from", "10.0.2.0/24", "--hostname", "xosan-witness-test",
                   "--state-dir", state, "--out", os.path.join(d, "witness"), "--json"], cwd=ROOT)
        self.prepared = json.loads(res.stdout)
        self.cfg_img = self.prepared["config_image"]
        # prepare pinned the witness's address; here that address is behind qemu's forwarded port:
        # the same pinned key, named by the port the deployer reaches it at
        address, key_type, key = self.prepared["pinned"].split()[:3]
        assert address == GUEST_IP
        self.pinned_key = (key_type, key)
        self.known_hosts = os.path.join(d, "known_hosts")
        ssh.write_known_hosts(self.known_hosts, ["[127.0.0.1]:%d %s %s" % (self.port, key_type, key)])
        private_key = self.prepared["deployment_key"][:-len(".pub")]
        self.target = ssh.SSHTarget("127.0.0.1", private_key, self.known_hosts, port=self.port, connect_timeout=10)
        self.sys_img = os.path.join(d, "system.qcow2")
        run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "vpc", "-b", self.vhd, self.sys_img])
        self.data_img = os.path.join(d, "data.qcow2")
        run(["qemu-img", "create", "-q", "-f", "qcow2", self.data_img, "2G"])


@pytest.fixture(scope="module")
def witness_booted(request, tmp_path_factory):
    vm, _, _ = start_vm(request, tmp_path_factory, WitnessVM, "witness boot test")
    try:
        vm.wait_ssh(time.time() + BOOT_TIMEOUT)
        say(request, "witness boot test: first boot to SSH in %d s" % round(time.time() - vm.started))
        wait_first_boot(vm)
        yield vm
    finally:
        vm.stop()


@pytest.mark.slow
def test_witness_boots_from_the_prepared_config_disk_alone(witness_booted):
    """What deploy needs of a witness, from `xosan witness prepare`'s disk and the stock appliance
    only: the deployment's key logs in, with the host key checked against the pin made before the
    boot (wait_ssh runs with StrictHostKeyChecking on that pin alone), the prepared network and
    name, an XFS brick file system, and glusterd answering."""
    vm = witness_booted
    journal = vm.sh("journalctl -b -u xosan-firstboot.service --no-pager -o cat")
    assert vm.sh("systemctl is-active xosan-firstboot.service || true").strip() == "active", journal
    assert "configuration from config disk" in journal, journal
    assert vm.sh("hostname").strip() == "xosan-witness-test"
    assert " %s/24 " % GUEST_IP in vm.sh("ip -o -4 addr show")
    # the key the running sshd serves is the one pinned before it booted (not merely one ssh accepted)
    scan = run(["ssh-keyscan", "-T", "20", "-t", vm.pinned_key[0], "-p", str(vm.port), "127.0.0.1"],
               check=False).stdout.split()
    assert vm.pinned_key[1] in scan, (scan, vm.pinned_key)
    assert vm.sh("findmnt -n -o FSTYPE %s" % storage_vm.BRICK_ROOT).strip() == "xfs"
    deadline = time.time() + 120
    while vm.sh("systemctl is-active glusterd.service || true").strip() != "active":
        assert time.time() < deadline, vm.sh("systemctl status glusterd.service --no-pager || true")
        time.sleep(5)
    out = vm.sh("gluster --mode=script pool list --xml", timeout=120)
    assert "<opRet>0</opRet>" in out, out
    # sshd: root by the deployment's key only, from --ssh-from only, no password
    eff = parse_sshd_t(vm.sh("sshd -T"))
    for k, v in SSHD_POLICY.items():
        assert eff.get(k) == v, (k, eff.get(k))
    assert eff.get("allowusers") == "root@10.0.2.0/24", eff.get("allowusers")
    with open(vm.prepared["deployment_key"]) as fh:
        assert vm.sh("cat /" + KEYS_FILE) == fh.read().strip() + "\n"
