"""An SR as it lives on a GlusterFS volume, seen from one dom0.

Layout (the same as other mounted file SRs, so FileSR's VHD logic applies):
  <mount base>/xosan/<sr-uuid>          the volume root, FUSE-mounted
  <mount base>/xosan/<sr-uuid>/<sr-uuid> the SR directory on the volume
  <mount base>/<sr-uuid>                a symlink to it: the path xapi and tapdisk use
One volume can hold several SRs (one directory each), which is what sr-probe lists.
"""

import errno
import os
import re
import shutil
import uuid as uuidlib

from xosan import gluster
from xosan.errors import GlusterError, MountError, ServerUnreachable, SRExists, SRNotFound, VolumeNotFound, XosanError
from xosan.facts import GLUSTERD_PORT
from xosan.sr import mount
from xosan.sr.reachability import order_by_reachability

SM_CONFIG_SERVERS = "xosan-servers"
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def is_sr_uuid(name):
    return bool(_UUID.match(name))


def merge_servers(*lists):
    # type: (*list) -> list
    """Union of server lists, first occurrence wins the position."""
    out = []
    for lst in lists:
        for s in lst or []:
            s = s.strip()
            if s and s not in out:
                out.append(s)
    return out


def servers_from_sm_config(sm_config):
    # type: (dict) -> list
    raw = (sm_config or {}).get(SM_CONFIG_SERVERS) or ""
    return [s for s in raw.split(",") if s.strip()]


def gluster_cli_available():
    return shutil.which("gluster") is not None


class VolumeSR(object):
    """Mount, create, find and remove one SR directory on a GlusterFS volume.

    ``cli_factory``: host -> GlusterCLI asking that host's glusterd (default: the read-only
    --remote-host CLI); ``port``: glusterd's port, probed to tell answering servers from the
    others; ``cli_available``: whether dom0 has a gluster CLI (default: look for it on PATH)."""

    def __init__(self, dconf, mount_base, sr_uuid, known_servers=None, cli_factory=None,
                 port=GLUSTERD_PORT, cli_available=None):
        self.dconf = dconf
        self.sr_uuid = sr_uuid or ""
        self.mount_base = mount_base
        self.mountpoint = os.path.join(mount_base, "xosan", self.sr_uuid)
        self.linkpath = os.path.join(self.mountpoint, self.sr_uuid)
        self.path = os.path.join(mount_base, self.sr_uuid)
        # device-config first (the admin's choice), then what the cluster told us last time.
        self.servers = merge_servers(dconf.servers, known_servers)
        self.port = port
        self._ordered = None
        self._answering = []
        self._cli_factory = cli_factory or gluster.remote_cli
        self._cli_available = cli_available

    def probe_reachability(self):
        # type: () -> tuple
        """Ask every server now which answer: (answering, the others), each in the given order.
        The mounts and glusterd queries that follow use this answer (no second probe)."""
        up, down = order_by_reachability(self.servers, port=self.port)
        self._ordered = up + down
        self._answering = up
        return up, down

    def ordered_servers(self):
        """Servers that answer first (checked once per operation), then the others."""
        if self._ordered is None:
            self.probe_reachability()
        return self._ordered

    def answering_servers(self):
        self.ordered_servers()
        return list(self._answering)

    def has_gluster_cli(self):
        if self._cli_available is None:
            return gluster_cli_available()
        return self._cli_available

    def cli(self, host):
        """The gluster CLI asking ``host``'s glusterd."""
        return self._cli_factory(host)

    # -- queries to glusterd -------------------------------------------------------------

    def volume_info(self):
        """Ask each server in turn; the first that answers wins. None if gluster CLI is absent."""
        if not self.has_gluster_cli():
            return None
        last = None
        for host in self.ordered_servers():
            try:
                vols = self.cli(host).volume_info(self.dconf.volume)
            except VolumeNotFound:
                raise
            except GlusterError as exc:
                last = exc
                continue
            return vols[0] if vols else None
        raise last

    def list_volumes(self):
        last = None
        for host in self.ordered_servers():
            try:
                return self.cli(host).volume_list()
            except GlusterError as exc:
                last = exc
        raise last

    def refreshed_servers(self, info):
        """Servers to remember for the next attach: the volume's brick hosts, then ours."""
        if info is None:
            return list(self.servers)
        return merge_servers(info.hosts(), self.servers)

    # -- mounts ------------------------------------------------------------------------------

    def is_attached(self):
        return mount.is_mounted(self.mountpoint) and os.path.isdir(self.linkpath)

    def _mount(self, mountpoint, readonly=False):
        """Mount from each answering server in turn (the others as backups) until one works."""
        servers = self.ordered_servers()
        primaries = self.answering_servers()
        if not primaries:
            raise ServerUnreachable(
                "no storage node of volume %s answers on TCP port 24007 (tried %s)"
                % (self.dconf.volume, ", ".join(servers)),
                hint="Start the storage VMs and check this host's link to the storage network")
        last = None
        for primary in primaries:
            rest = [s for s in servers if s != primary]
            try:
                mount.mount_volume([primary] + rest, self.dconf.volume, mountpoint, readonly=readonly)
                return
            except MountError as exc:
                last = exc
        raise last

    def precheck(self):
        """Fail early with the precise reason (volume missing / not started) before mounting."""
        info = self.volume_info()
        if info is not None and not info.started:
            raise MountError("GlusterFS volume %s is %s, not started" % (info.name, info.status.lower()),
                             hint="Start it: gluster volume start %s" % info.name)
        return info

    def attach(self):
        """Mount the volume and link the SR path; idempotent."""
        if not self.is_attached():
            if not mount.is_mounted(self.mountpoint):
                self._mount(self.mountpoint)
            if not os.path.isdir(self.linkpath):
                mount.unmount(self.mountpoint)
                raise SRNotFound("the SR directory %s is not on volume %s" % (self.sr_uuid, self.dconf.volume),
                                 hint="Check device-config:volume; xe sr-probe lists the SRs on a volume")
        self._link()

    def _link(self):
        if os.path.islink(self.path):
            if os.readlink(self.path) == self.linkpath:
                return
            os.unlink(self.path)
        elif os.path.exists(self.path):
            raise XosanError("%s exists and is not the SR link" % self.path,
                             hint="Move it away; the SR is reached through this path")
        os.symlink(self.linkpath, self.path)

    def detach(self):
        """Unmount and unlink; idempotent. Busy mounts raise UnmountError and stay."""
        mount.unmount(self.mountpoint)
        if os.path.islink(self.path):
            os.unlink(self.path)

    # -- the SR directory on the volume --------------------------------------------------------

    def create(self):
        """Make the SR directory; refuse one that already holds anything. Leaves nothing mounted."""
        if mount.is_mounted(self.mountpoint):
            raise SRExists("SR %s is already attached on this host" % self.sr_uuid)
        self._mount(self.mountpoint)
        try:
            if os.path.isdir(self.linkpath) and os.listdir(self.linkpath):
                raise SRExists("the volume %s already holds SR %s with content" % (self.dconf.volume, self.sr_uuid),
                               hint="Use xe sr-introduce / sr-probe to reuse it, or a new SR uuid")
            if not os.path.isdir(self.linkpath):
                os.mkdir(self.linkpath, 0o755)
        finally:
            mount.unmount(self.mountpoint)

    def remove_dir(self):
        """Remove the (by now emptied) SR directory from the volume; idempotent."""
        was_mounted = mount.is_mounted(self.mountpoint)
        if not was_mounted:
            self._mount(self.mountpoint)
        try:
            try:
                os.rmdir(self.linkpath)
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    raise XosanError("cannot remove SR directory %s: %s" % (self.linkpath, exc.strerror))
        finally:
            if not was_mounted:
                mount.unmount(self.mountpoint)

    def probe(self):
        # type: () -> list
        """SR uuids found on the volume, through a private read-only mount.

        A volume that does not exist or is not started gets the same answer as sr_create
        gives (precheck), not a raw mount error."""
        self.precheck()
        point = os.path.join(self.mount_base, "xosan-probe", str(uuidlib.uuid4()))
        self._mount(point, readonly=True)
        try:
            return sorted(n for n in os.listdir(point)
                          if is_sr_uuid(n) and os.path.isdir(os.path.join(point, n)))
        finally:
            mount.unmount(point)
            try:
                os.rmdir(os.path.dirname(point))
            except OSError:
                pass
