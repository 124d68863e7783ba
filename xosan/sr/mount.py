"""FUSE mounts of a GlusterFS volume in dom0.

Mounting goes through ``mount -t glusterfs`` with every other storage node as
a backup volfile server, so that one storage VM down never blocks an attach.
"""

import errno
import os

from xosan import proc
from xosan.errors import CommandFailed, MountError, UnmountError

MOUNT_TIMEOUT = 90
UMOUNT_TIMEOUT = 60


def _unescape(field):
    # /proc/mounts escapes space, tab, newline and backslash as octal.
    out, i = [], 0
    while i < len(field):
        code = field[i + 1:i + 4]
        if field[i] == "\\" and len(code) == 3 and code.isdigit():
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mounts(proc_mounts="/proc/mounts"):
    # type: (str) -> list
    """(source, mountpoint, fstype, options) for every mount."""
    result = []
    with open(proc_mounts) as fh:
        for line in fh:
            parts = line.split()
            if len(parts) >= 4:
                result.append((_unescape(parts[0]), _unescape(parts[1]), parts[2], parts[3]))
    return result


def is_mounted(path):
    # type: (str) -> bool
    path = os.path.realpath(path)
    return any(mp == path for _, mp, _, _ in mounts())


def mount_options(servers, readonly=False, extra=None):
    # type: (list, bool, list) -> list
    opts = []
    if len(servers) > 1:
        opts.append("backup-volfile-servers=" + ":".join(servers[1:]))
    if readonly:
        opts.append("ro")
    opts += list(extra or [])
    return opts


def mount_volume(servers, volume, mountpoint, readonly=False, timeout=MOUNT_TIMEOUT, extra_options=None):
    # type: (list, str, str, bool, float, list) -> None
    """Mount ``volume`` at ``mountpoint``; on any failure leave no mount and no new directory."""
    if not servers:
        raise MountError("no storage node address to mount %s from" % volume)
    created = False
    if not os.path.isdir(mountpoint):
        os.makedirs(mountpoint, 0o700)
        created = True
    cmd = ["mount", "-t", "glusterfs"]
    opts = mount_options(servers, readonly, extra_options)
    if opts:
        cmd += ["-o", ",".join(opts)]
    cmd += ["%s:/%s" % (_bracket(servers[0]), volume), mountpoint]
    try:
        proc.run(cmd, timeout=timeout)
        # mount.glusterfs can return 0 while no brick answers; the first
        # access is what proves the volume usable.
        os.listdir(mountpoint)
    except (CommandFailed, OSError) as exc:
        _cleanup_failed_mount(mountpoint, created)
        detail = exc.message if isinstance(exc, CommandFailed) else (exc.strerror or str(exc))
        raise MountError("cannot mount GlusterFS volume %s from %s: %s" % (
            volume, ", ".join(servers), detail),
            hint="Check that the storage nodes are running, reachable from this host, and that "
                 "the volume is started (the client log is under /var/log/glusterfs/)")


def _bracket(host):
    return "[%s]" % host if ":" in host else host


def _cleanup_failed_mount(mountpoint, remove_dir):
    if is_mounted(mountpoint):
        try:
            proc.run(["umount", "-l", mountpoint], timeout=UMOUNT_TIMEOUT)
        except CommandFailed:
            pass
    if remove_dir:
        try:
            os.rmdir(mountpoint)
        except OSError:
            pass


def unmount(mountpoint, remove_dir=True, timeout=UMOUNT_TIMEOUT):
    # type: (str, bool, float) -> None
    """Unmount (idempotent); a busy mount raises UnmountError and stays mounted."""
    if is_mounted(mountpoint):
        try:
            proc.run(["umount", mountpoint], timeout=timeout)
        except CommandFailed as exc:
            raise UnmountError("cannot unmount %s: %s" % (mountpoint, exc.message),
                               hint="Something still uses the SR (a VDI attached, a shell in the "
                                    "directory); detach it first")
    if remove_dir:
        try:
            os.rmdir(mountpoint)
        except OSError as exc:
            if exc.errno not in (errno.ENOENT, errno.ENOTEMPTY, errno.EBUSY):
                raise UnmountError("cannot remove mount point %s: %s" % (mountpoint, exc.strerror))
