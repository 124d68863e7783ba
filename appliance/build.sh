#!/usr/bin/env bash
# Builds the XOSAN storage VM's system disk from Debian 12 packages (`make appliance`).
#
#   build/appliance/xosan-storage-vm-<version>.vhd   dynamic VHD, BIOS boot (GRUB), 4 GiB virtual
#   build/appliance/manifest.json                     version, release, packages, sha256, sizes
#
# Root only: loop devices, mounts and a chroot. Everything it sets up (loop device, mounts) is
# undone on any exit by the EXIT trap. Knobs (environment):
#   APPLIANCE_OUT   output folder (default build/appliance)
#   MIRROR          Debian mirror (default: the one apt uses here, from /etc/apt/sources.list*)
#   SECURITY_MIRROR Debian security mirror (default: likewise)
#   DISK_SIZE       virtual size of the system disk (default 4G)
#   KEEP_RAW=1      keep the raw image next to the VHD
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOP="$(dirname "$HERE")"
SUITE=bookworm
DEBIAN_RELEASE=12
OUT="${APPLIANCE_OUT:-$TOP/build/appliance}"
DISK_SIZE="${DISK_SIZE:-4G}"
VERSION="$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$TOP/xosan/__init__.py")"
NAME="xosan-storage-vm-$VERSION"
# Installed on top of debootstrap's minbase, without recommends.
PACKAGES=(
    linux-image-amd64 grub-pc initramfs-tools zstd
    systemd systemd-sysv systemd-timesyncd udev dbus kmod
    iproute2 iputils-ping netbase procps less
    openssh-server glusterfs-server xfsprogs xenstore-utils nftables
)

log() { echo "== $(date +%H:%M:%S) $*" >&2; }
die() { echo "appliance/build.sh: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (loop devices, mounts, chroot): sudo make appliance"
# In a private mount namespace: the image's mounts must not propagate into other namespaces on this
# machine (there they would outlive our umount and leave the filesystem dirty), and whatever
# happens they all vanish with the namespace.
if [ -z "${XAP_PRIVATE_NS:-}" ]; then
    exec env XAP_PRIVATE_NS=1 unshare --mount --propagation private bash "${BASH_SOURCE[0]}" "$@"
fi
[ -n "$VERSION" ] || die "no __version__ in xosan/__init__.py"
for tool in debootstrap qemu-img sfdisk losetup partx unshare mkfs.ext4 e2fsck chattr blkid fstrim python3; do
    command -v "$tool" >/dev/null || die "$tool is missing: run appliance/install-deps"
done

# ------------------------------------------------------------------ the mirror apt uses here
# deb822 (.sources) and one-line (.list) formats; the first URI serving the suite wins.
apt_mirror() {
    local suite="$1"
    python3 - "$suite" <<'EOF'
import glob, sys
suite = sys.argv[1]
files = ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list")) + \
        sorted(glob.glob("/etc/apt/sources.list.d/*.sources"))
for path in files:
    try:
        text = open(path).read()
    except OSError:
        continue
    if path.endswith(".sources"):
        for stanza in text.split("\n\n"):
            fields = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line or line[:1].isspace():
                    continue
                k, v = line.split(":", 1)
                fields[k.strip().lower()] = v.split()
            if fields.get("enabled", ["yes"])[0].lower() == "no":
                continue
            if "deb" in fields.get("types", []) and suite in fields.get("suites", []):
                print(fields["uris"][0].rstrip("/"))
                sys.exit(0)
    else:
        for line in text.splitlines():
            line = line.split("#", 1)[0]
            if "[" in line:  # deb [options] uri suite components
                head, _, rest = line.partition("[")
                line = head + rest.partition("]")[2]
            words = line.split()
            if len(words) >= 3 and words[0] == "deb" and words[2] == suite:
                print(words[1].rstrip("/"))
                sys.exit(0)
sys.exit(1)
EOF
}
MIRROR="${MIRROR:-$(apt_mirror "$SUITE")}" || die "no mirror for $SUITE in /etc/apt/sources.list(.d); set MIRROR="
SECURITY_MIRROR="${SECURITY_MIRROR:-$(apt_mirror "$SUITE-security" || true)}"
log "mirror $MIRROR, security ${SECURITY_MIRROR:-none}"

# ------------------------------------------------------------------ work area and cleanup
mkdir -p "$OUT"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/xap-build.XXXXXX")"
RAW="$WORK/disk.raw"
ROOTFS="$WORK/rootfs"   # the system is installed here first (a plain folder) ...
MNT="$WORK/mnt"         # ... then packed into the image's partition, mounted here for GRUB
LOOP=""
MOUNTS=()

cleanup() {
    local rc=$?
    set +e
    if [ -n "$LOOP" ] || [ "${#MOUNTS[@]}" -gt 0 ]; then
        log "cleaning up (exit $rc)"
    fi
    local i
    for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
        umount "${MOUNTS[$i]}" 2>/dev/null || umount -l "${MOUNTS[$i]}"
    done
    if [ -n "$LOOP" ]; then
        partx -d "$LOOP" 2>/dev/null
        losetup -d "$LOOP"
    fi
    rm -rf --one-file-system "$WORK"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mnt() { # mnt ARGS... TARGET: mount and remember TARGET for the trap
    mount "$@"
    MOUNTS+=("${!#}")
}
CHROOT="$ROOTFS"
in_root() { chroot "$CHROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive DEBCONF_NONINTERACTIVE_SEEN=true "$@"; }

START=$(date +%s)

ROOT_UUID="$(cat /proc/sys/kernel/random/uuid)"

# ------------------------------------------------------------------ Debian
log "debootstrap $SUITE (minbase) from $MIRROR"
debootstrap --variant=minbase --arch=amd64 --components=main \
    --keyring=/usr/share/keyrings/debian-archive-keyring.gpg "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
    { tail -n 30 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }

# chroot_mounts DIR [DEVICES...]: proc, sys, run and a private /dev with the few nodes apt and GRUB
# need plus DEVICES (the image's loop devices), never the machine's whole /dev.
chroot_mounts() {
    local dir="$1"
    shift
    mnt -t proc proc "$dir/proc"
    mnt -t sysfs sysfs "$dir/sys"
    mnt -t tmpfs -o mode=755,size=1M xap-dev "$dir/dev"
    cp -a /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty /dev/console /dev/ptmx "$@" "$dir/dev/"
    mkdir -p "$dir/dev/pts" "$dir/dev/shm" "$dir/dev/disk/by-uuid"
    ln -s /proc/self/fd "$dir/dev/fd"
    mnt --bind /dev/pts "$dir/dev/pts"
    mnt -t tmpfs tmpfs "$dir/run"
}
chroot_umounts() { # everything mounted since the first N mounts
    local keep="$1" i
    for ((i = ${#MOUNTS[@]} - 1; i >= keep; i--)); do umount "${MOUNTS[$i]}"; done
    MOUNTS=("${MOUNTS[@]:0:$keep}")
}
chroot_mounts "$ROOTFS"

# No daemon starts in the chroot.
printf '#!/bin/sh\nexit 101\n' >"$ROOTFS/usr/sbin/policy-rc.d"
chmod 755 "$ROOTFS/usr/sbin/policy-rc.d"
# No documentation, manual pages or translations in the image (copyright files stay).
cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/01-xosan-nodoc" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
path-exclude /usr/share/lintian/*
EOF
# Kernel modules a VM on XCP-ng / XenServer (or qemu) never loads: graphics, sound, media, wireless,
# Bluetooth, InfiniBand, physical NICs but the ones Xen and qemu emulate (e1000, rtl8139), ...
# Xen's (xen-blkfront, xen-netfront, xen-platform-pci), virtio, ATA/SCSI, filesystems stay.
cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/02-xosan-vm-kernel" <<'MODS'
path-exclude /lib/modules/*/kernel/drivers/gpu/*
path-exclude /lib/modules/*/kernel/drivers/media/*
path-exclude /lib/modules/*/kernel/sound/*
path-exclude /lib/modules/*/kernel/drivers/infiniband/*
path-exclude /lib/modules/*/kernel/drivers/net/wireless/*
path-exclude /lib/modules/*/kernel/drivers/net/ethernet/*
path-include /lib/modules/*/kernel/drivers/net/ethernet/intel/e1000/*
path-include /lib/modules/*/kernel/drivers/net/ethernet/intel/e1000e/*
path-include /lib/modules/*/kernel/drivers/net/ethernet/realtek/8139*
path-exclude /lib/modules/*/kernel/drivers/net/usb/*
path-exclude /lib/modules/*/kernel/drivers/net/can/*
path-exclude /lib/modules/*/kernel/net/wireless/*
path-exclude /lib/modules/*/kernel/net/mac80211/*
path-exclude /lib/modules/*/kernel/net/bluetooth/*
path-exclude /lib/modules/*/kernel/drivers/bluetooth/*
path-exclude /lib/modules/*/kernel/drivers/staging/*
path-exclude /lib/modules/*/kernel/drivers/iio/*
path-exclude /lib/modules/*/kernel/drivers/comedi/*
path-exclude /lib/modules/*/kernel/drivers/mtd/*
path-exclude /lib/modules/*/kernel/drivers/isdn/*
path-exclude /lib/modules/*/kernel/drivers/hwmon/*
path-exclude /lib/modules/*/kernel/lib/test_*
MODS
{
    echo "deb $MIRROR $SUITE main"
    echo "deb $MIRROR $SUITE-updates main"
    [ -z "$SECURITY_MIRROR" ] || echo "deb $SECURITY_MIRROR $SUITE-security main"
} >"$ROOTFS/etc/apt/sources.list"
cat >"$ROOTFS/etc/apt/apt.conf.d/90xosan" <<'EOF'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Acquire::Languages "none";
EOF
echo xosan >"$ROOTFS/etc/hostname"
echo "LANG=C.UTF-8" >"$ROOTFS/etc/default/locale"
printf '127.0.0.1\tlocalhost\n127.0.1.1\txosan\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$ROOTFS/etc/hosts"
printf 'UUID=%s / ext4 defaults,errors=remount-ro 0 1\n' "$ROOT_UUID" >"$ROOTFS/etc/fstab"
# GRUB: BIOS boot, console on the serial port (xl console, qemu -nographic) and the screen.
echo "grub-pc grub-pc/install_devices multiselect" | in_root debconf-set-selections
echo "grub-pc grub-pc/install_devices_empty boolean true" | in_root debconf-set-selections
mkdir -p "$ROOTFS/etc/default/grub.d"
cat >"$ROOTFS/etc/default/grub.d/xosan.cfg" <<'EOF'
GRUB_TIMEOUT=1
GRUB_CMDLINE_LINUX_DEFAULT=""
GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200n8"
GRUB_TERMINAL="console serial"
GRUB_SERIAL_COMMAND="serial --unit=0 --speed=115200"
GRUB_DISABLE_OS_PROBER=true
EOF
# Xen HVM: the disks are xen-blkfront, the NIC xen-netfront; qemu: virtio. Keep them all.
mkdir -p "$ROOTFS/etc/initramfs-tools/conf.d"
echo "MODULES=most" >"$ROOTFS/etc/initramfs-tools/conf.d/xosan"

log "apt: updates and ${#PACKAGES[@]} packages"
in_root apt-get -q update >"$WORK/apt.log" 2>&1 || { tail -n 30 "$WORK/apt.log" >&2; die "apt-get update failed"; }
in_root apt-get -q -y dist-upgrade >>"$WORK/apt.log" 2>&1 || { tail -n 30 "$WORK/apt.log" >&2; die "apt-get dist-upgrade failed"; }
in_root apt-get -q -y install "${PACKAGES[@]}" >>"$WORK/apt.log" 2>&1 ||
    { tail -n 30 "$WORK/apt.log" >&2; die "apt-get install failed"; }
# Installed before dpkg's excludes took effect (debootstrap's own packages).
find "$ROOTFS/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
find "$ROOTFS/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
rm -rf "$ROOTFS/usr/share/man" "$ROOTFS/usr/share/info" "$ROOTFS/usr/share/lintian"
find "$ROOTFS/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} + 2>/dev/null || true

# ------------------------------------------------------------------ XOSAN's own files
log "XOSAN first-boot unit and settings"
install -m 755 "$HERE/rootfs/usr/local/sbin/xosan-firstboot" "$ROOTFS/usr/local/sbin/xosan-firstboot"
install -m 644 "$HERE/rootfs/etc/systemd/system/xosan-firstboot.service" "$ROOTFS/etc/systemd/system/"
install -D -m 644 "$HERE/rootfs/etc/systemd/system/glusterd.service.d/xosan.conf" \
    "$ROOTFS/etc/systemd/system/glusterd.service.d/xosan.conf"
# glusterd's own options for storage VMs (xosan/pool/storage_vm.py: GLUSTERD_VOL_OPTIONS, and why)
PYTHONPATH="$HERE/.." python3 -c 'import sys; from xosan.pool.storage_vm import glusterd_vol; \
sys.stdout.write(glusterd_vol(open(sys.argv[1]).read()))' "$ROOTFS/etc/glusterfs/glusterd.vol" \
    > "$WORK/glusterd.vol" && install -m 644 "$WORK/glusterd.vol" "$ROOTFS/etc/glusterfs/glusterd.vol"
mkdir -p "$ROOTFS/srv/xosan/brick" "$ROOTFS/var/lib/xosan"
# Services: networkd + timesyncd, sshd, xosan-firstboot; glusterd is enabled by xosan-firstboot once
# the brick is mounted. No unattended network access (apt timers), no gluster event daemon.
in_root systemctl enable xosan-firstboot.service systemd-networkd.service systemd-timesyncd.service ssh.service >/dev/null 2>&1
in_root systemctl disable glusterd.service >/dev/null 2>&1 || true
for unit in apt-daily.timer apt-daily-upgrade.timer glustereventsd.service systemd-networkd-wait-online.service \
    e2scrub_all.timer e2scrub_reap.service; do
    if [ -e "$ROOTFS/lib/systemd/system/$unit" ]; then in_root systemctl mask "$unit" >/dev/null 2>&1; fi
done
# No floppy drive to probe (qemu and Xen's device model emulate a controller).
echo "blacklist floppy" >"$ROOTFS/etc/modprobe.d/xosan.conf"
# No usable password on any account (root's locked, the system accounts' are '*' or '!'):
# login by the deployment's key only (xosan-firstboot writes sshd's policy). Checked here so that a
# package that ever ships an account with a password fails the build rather than the VM.
in_root passwd -l root >/dev/null
open_accounts="$(awk -F: '$2 !~ /^[!*]/ { print $1 }' "$ROOTFS/etc/shadow")"
[ -z "$open_accounts" ] || die "accounts with a usable or empty password in the image: $open_accounts"
[ -z "$(awk -F: '$2 != "x" { print $1 }' "$ROOTFS/etc/passwd")" ] || die "/etc/passwd holds a password field other than x"

# ------------------------------------------------------------------ kernel, initramfs
log "initramfs"
in_root update-initramfs -u -k all >>"$WORK/apt.log" 2>&1 || { tail -n 30 "$WORK/apt.log" >&2; die "update-initramfs failed"; }

# ------------------------------------------------------------------ manifest data, then clean
in_root dpkg-query -W -f '${Package}\t${Version}\t${Architecture}\n' >"$WORK/packages.tsv"
KERNEL="$(cd "$ROOTFS/boot" && ls vmlinuz-* | sed 's/^vmlinuz-//' | sort -V | tail -n 1)"
in_root apt-get -q clean
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/debconf/*-old \
    "$ROOTFS"/var/lib/dpkg/*-old "$ROOTFS/usr/sbin/policy-rc.d"
# Per-VM identity is made at first boot: machine id, SSH host keys, glusterd's UUID.
rm -f "$ROOTFS"/etc/ssh/ssh_host_* "$ROOTFS/var/lib/glusterd/glusterd.info" "$ROOTFS/var/lib/dbus/machine-id"
: >"$ROOTFS/etc/machine-id"
find "$ROOTFS/var/log" -type f -exec truncate -s 0 {} +
rm -rf "$ROOTFS"/tmp/* "$ROOTFS"/var/tmp/* "$ROOTFS/root/.bash_history"
chroot_umounts 0

# ------------------------------------------------------------------ disk: MBR, one ext4 partition
log "system disk $DISK_SIZE: MBR, one bootable ext4 partition"
truncate -s "$DISK_SIZE" "$RAW"
printf 'label: dos\nstart=2048, type=83, bootable\n' | sfdisk -q "$RAW"
LOOP="$(losetup -f --show -P "$RAW")"
PART="${LOOP}p1"
for _ in $(seq 20); do [ -b "$PART" ] && break; sleep 0.1; done
# Some kernels (containers, e.g.) do not scan a loop device's partition table at attach: add it.
[ -b "$PART" ] || partx -a "$LOOP"
for _ in $(seq 50); do [ -b "$PART" ] && break; sleep 0.1; done
[ -b "$PART" ] || die "$PART did not appear"
# The filesystem is made from the folder (mkfs.ext4 -d): files packed at the start of the disk, the
# rest never written, so the dynamic VHD holds little more than the files themselves.
# GRUB 2.06 (bookworm) reads neither orphan_file nor metadata_csum_seed: keep them off.
log "ext4 from the installed system (mkfs.ext4 -d)"
mkfs.ext4 -q -L xosan-root -U "$ROOT_UUID" -O ^orphan_file,^metadata_csum_seed \
    -E lazy_itable_init=0,lazy_journal_init=0 -d "$ROOTFS" "$PART"
mkdir -p "$MNT"
mnt "$PART" "$MNT"

# Nothing is ever written into the brick mount point itself while the data disk is not mounted.
chattr +i "$MNT/srv/xosan/brick"

# ------------------------------------------------------------------ GRUB, BIOS boot from the MBR
log "GRUB (i386-pc) on $LOOP"
CHROOT="$MNT"
chroot_mounts "$MNT" "$LOOP" "$PART"
# The /dev/disk/by-uuid link udev would make: grub-mkconfig writes root=UUID= only when it exists.
ln -s "../../$(basename "$PART")" "$MNT/dev/disk/by-uuid/$ROOT_UUID"
mkdir -p "$MNT/boot/grub"
echo "(hd0) $LOOP" >"$MNT/boot/grub/device.map"
in_root grub-install --target=i386-pc --boot-directory=/boot --modules="part_msdos ext2" "$LOOP" >>"$WORK/apt.log" 2>&1 ||
    { tail -n 30 "$WORK/apt.log" >&2; die "grub-install failed"; }
in_root update-grub >>"$WORK/apt.log" 2>&1 || { tail -n 30 "$WORK/apt.log" >&2; die "update-grub failed"; }
rm -f "$MNT/boot/grub/device.map"
grep -q "root=UUID=$ROOT_UUID" "$MNT/boot/grub/grub.cfg" ||
    { grep -E '^\s*linux' "$MNT/boot/grub/grub.cfg" >&2; die "grub.cfg does not boot root=UUID=$ROOT_UUID"; }
chroot_umounts 1
USED_BYTES="$(df -B1 --output=used "$MNT" | tail -n 1 | tr -d ' ')"

# ------------------------------------------------------------------ unmount, VHD
sync -f "$MNT"
# Freed blocks back to the raw file (loop discard punches holes): the VHD stores only used blocks.
fstrim "$MNT"
umount "$MNT"
MOUNTS=()
e2fsck -f -n "$PART" >"$WORK/fsck.log" 2>&1 || { cat "$WORK/fsck.log" >&2; die "the root filesystem is not clean after umount"; }
partx -d "$LOOP" 2>/dev/null || true
losetup -d "$LOOP"
LOOP=""

VHD="$OUT/$NAME.vhd"
log "qemu-img convert -O vpc -o subformat=dynamic -> $VHD"
rm -f "$VHD" "$OUT/manifest.json"
qemu-img convert -O vpc -o subformat=dynamic "$RAW" "$VHD"
SHA256="$(sha256sum "$VHD" | cut -d' ' -f1)"
if [ "${KEEP_RAW:-0}" = 1 ]; then cp --sparse=always "$RAW" "$OUT/$NAME.raw"; fi
BUILD_SECONDS=$(($(date +%s) - START))

python3 - "$OUT/manifest.json" "$WORK/packages.tsv" <<EOF
import json, os, subprocess, sys, time
out, pkgs = sys.argv[1], sys.argv[2]
info = json.loads(subprocess.check_output(["qemu-img", "info", "--output=json", "$VHD"]).decode())
packages = []
for line in open(pkgs):
    name, version, arch = line.rstrip("\n").split("\t")
    packages.append({"name": name, "version": version, "arch": arch})
try:
    commit = subprocess.check_output(["git", "-C", "$TOP", "rev-parse", "HEAD"], stderr=subprocess.DEVNULL).decode().strip()
except Exception:
    commit = None
manifest = {
    "name": "XOSAN storage VM",
    "version": "$VERSION",
    "debian_release": "$DEBIAN_RELEASE",
    "debian_suite": "$SUITE",
    "mirror": "$MIRROR",
    "security_mirror": "$SECURITY_MIRROR" or None,
    "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "build_seconds": $BUILD_SECONDS,
    "source_commit": commit,
    "kernel": "$KERNEL",
    "boot": "BIOS (GRUB i386-pc on the MBR)",
    "root_fs_uuid": "$ROOT_UUID",
    "vhd": {
        "file": os.path.basename("$VHD"),
        "format": "vpc (VHD), dynamic",
        "sha256": "$SHA256",
        "file_bytes": os.path.getsize("$VHD"),
        "virtual_bytes": info["virtual-size"],
    },
    "root_fs_used_bytes": $USED_BYTES,
    "packages": packages,
}
with open(out + ".tmp", "w") as fh:
    json.dump(manifest, fh, indent=2, sort_keys=True)
    fh.write("\n")
os.rename(out + ".tmp", out)
EOF
log "done in ${BUILD_SECONDS}s: $VHD ($(du -h --apparent-size "$VHD" | cut -f1), $(wc -l <"$WORK/packages.tsv") packages), $OUT/manifest.json"
