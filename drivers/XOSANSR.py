#!/usr/bin/env python3
#
# XOSANSR: SMAPIv1 driver for XOSAN, hyperconverged GlusterFS storage.
#
# The SR is a directory of VHD files on a GlusterFS volume served by one
# storage VM per host; every dom0 FUSE-mounts the volume. FileSR does the VHD
# work; this driver only maps SM calls onto the xosan package and maps
# xosan's errors onto SM error codes. It runs on dom0's Python 3.6.

import functools
import os
import xmlrpc.client

import cleanup
import FileSR

# FileSR imports blktap2 -> lvutil -> EXTSR -> FileSR on dom0; importing SR and
# SRCommand first is the order the other file SR drivers use to avoid the cycle.
import SR
import SRCommand
import util
import vhdutil
import xs_errors
from lock import Lock

from xosan import __version__, proc
from xosan import errors as xe
from xosan.sr import attach as xattach
from xosan.sr import devconfig, vhdscan
from xosan.sr import gc as xgc
from xosan.sr.volume_sr import SM_CONFIG_SERVERS, VolumeSR, servers_from_sm_config

# FileSR's own set (the framework's FileSR.py and NFSSR.py advertise the same file-SR calls):
# changed block tracking with cbt-util logs next to the VHDs (VDI_CONFIG_CBT), separate
# activate/deactivate around tapdisk (VDI_ACTIVATE/VDI_DEACTIVATE), thin VHD files.
CAPABILITIES = ["SR_PROBE", "SR_UPDATE",
                "VDI_CREATE", "VDI_DELETE", "VDI_ATTACH", "VDI_DETACH",
                "VDI_UPDATE", "VDI_CLONE", "VDI_SNAPSHOT", "VDI_RESIZE", "VDI_MIRROR",
                "VDI_GENERATE_CONFIG",
                "VDI_RESET_ON_BOOT/2", "ATOMIC_PAUSE", "VDI_CONFIG_CBT",
                "VDI_ACTIVATE", "VDI_DEACTIVATE", "THIN_PROVISIONING"]

DRIVER_INFO = {
    "name": "XOSAN",
    "description": "XOSAN hyperconverged storage: VHD files on a replicated or dispersed GlusterFS "
                   "volume served by one storage VM per host; shared, thin provisioned, survives the "
                   "loss of a host",
    "vendor": "XOSAN project",
    "copyright": "(C) 2026 XOSAN developers",
    "driver_version": __version__,
    "required_api_version": "1.0",
    "capabilities": CAPABILITIES,
    "configuration": devconfig.CONFIGURATION,
}

DRIVER_CONFIG = {"ATTACH_FROM_CONFIG_WITH_TAPDISK": True}

# cleanup.py, run by systemd as this SR's SMGC@ instance, for xosan SRs (see xosan/sr/gc.py).
GC_PROGRAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "xosan-gc")

# sr_delete runs the framework's GC in this process (FileSR.delete -> cleanup.gc_force).
xgc.register(cleanup)

# xosan errors -> SM error names. Config errors depend on the key (below).
_ERROR_NAMES = [
    (xe.VolumeNotFound, "ConfigServerPathBad"),
    (xe.SRExists, "SRExists"),
    (xe.SRNotFound, "SRUnavailable"),
    (xe.UnmountError, "SRInUse"),
    (xe.MountError, "SRUnavailable"),
    (xe.ServerUnreachable, "SRUnavailable"),
    (xe.QuorumTimeout, "SRUnavailable"),
    (xe.GCUnavailable, "SMGeneral"),
]
_MISSING_KEY_NAMES = {"server": "ConfigServerMissing", "volume": "ConfigServerPathMissing"}
_INVALID_KEY_NAMES = {"volume": "ConfigServerPathBad"}


def sm_error(exc):
    """The SM error to hand xapi for an xosan error: the right code, our sentence as opterr."""
    if isinstance(exc, xe.MissingKey):
        name = _MISSING_KEY_NAMES.get(exc.key, "ConfigParamsMissing")
    elif isinstance(exc, xe.InvalidValue):
        name = _INVALID_KEY_NAMES.get(exc.key, "InvalidArg")
    else:
        name = next((n for cls, n in _ERROR_NAMES if isinstance(exc, cls)), "SMGeneral")
    util.SMlog("XOSAN: %s: %s" % (exc.__class__.__name__, exc))
    return xs_errors.XenError(name, opterr=str(exc))


def sm_errors(method):
    """The driver's edge: an xosan error escaping ``method`` reaches xapi as its SM error."""
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except xe.XosanError as exc:
            raise sm_error(exc)
    return wrapper


class XOSANSR(FileSR.FileSR):
    """A shared file SR on a XOSAN GlusterFS volume."""

    DRIVER_TYPE = "xosan"

    @staticmethod
    def handles(sr_type):
        # FileSR asks handles("smb") to decide that the mount point and the SR
        # path differ (the SR path is a symlink into the mount), as here.
        return sr_type in (XOSANSR.DRIVER_TYPE, "smb")

    @sm_errors
    def load(self, sr_uuid):
        proc.log_to(util.SMlog)
        self.ops_exclusive = FileSR.OPS_EXCLUSIVE
        self.lock = Lock(vhdutil.LOCK_TYPE_SR, self.uuid)
        self.sr_vditype = SR.DEFAULT_TAP
        self.driver_config = DRIVER_CONFIG
        self.xconf = devconfig.parse(self.dconf, require_volume=self.cmd != "sr_probe")
        if self.sr_ref and self.session is not None:
            self.sm_config = self.session.xenapi.SR.get_sm_config(self.sr_ref)
        else:
            self.sm_config = self.srcmd.params.get("sr_sm_config") or {}
        self.volume_sr = VolumeSR(self.xconf, SR.MOUNT_BASE, sr_uuid,
                                  known_servers=servers_from_sm_config(self.sm_config))
        self.mountpoint = self.volume_sr.mountpoint
        self.linkpath = self.volume_sr.linkpath
        self.path = self.volume_sr.path
        self.remotepath = self.linkpath
        self.attached = False
        self._check_o_direct()

    @sm_errors
    def create(self, sr_uuid, size):
        self.volume_sr.precheck()
        self.volume_sr.create()

    @sm_errors
    def delete(self, sr_uuid):
        # FileSR.delete attaches, refuses while VDIs remain, removes the rest, detaches.
        super(XOSANSR, self).delete(sr_uuid)
        self.volume_sr.remove_dir()

    @sm_errors
    def attach(self, sr_uuid):
        # One call (xosan/sr/attach.py): GC check, this host's storage VM, quorum, the mount.
        servers = xattach.attach(self.volume_sr, self.session.xenapi if self.session is not None else None,
                                 self.host_ref, self.xconf.attach_timeout, util.SMlog, cleanup=cleanup)
        if servers is not None:
            self._remember_servers(servers)
        self.attached = True

    def _remember_servers(self, servers):
        """Keep the cluster's own server list in sm-config: device-config cannot change later."""
        servers = ",".join(servers)
        if not (self.sr_ref and self.session is not None) or self.sm_config.get(SM_CONFIG_SERVERS) == servers:
            return
        try:
            self.session.xenapi.SR.remove_from_sm_config(self.sr_ref, SM_CONFIG_SERVERS)
            self.session.xenapi.SR.add_to_sm_config(self.sr_ref, SM_CONFIG_SERVERS, servers)
            self.sm_config[SM_CONFIG_SERVERS] = servers
        except Exception as exc:  # a stale list is a degraded, not a failed, attach
            util.SMlog("XOSAN: could not store %s in sm-config: %s" % (SM_CONFIG_SERVERS, exc))

    @sm_errors
    def detach(self, sr_uuid):
        if self.volume_sr.is_attached():
            util.SMlog("Aborting GC/coalesce")
            cleanup.abort(self.uuid)
            os.chdir(SR.MOUNT_BASE)
        self.volume_sr.detach()
        xgc.remove_dropin(self.uuid)
        self.attached = False

    def _loadvdis(self):
        # FileSR's own loading, with its vhd-util calls made in one parallel pass (xosan/sr/vhdscan.py:
        # one key-hash process per VHD made a scan of 1,000 VDIs take 22 s on the volume).
        with vhdscan.one_pass(vhdutil, util.SMlog):
            super(XOSANSR, self)._loadvdis()

    @sm_errors
    def _kickGC(self):
        # Where the framework starts GC (after attach's scan, scan, vdi_delete): first make
        # sure systemd will run it with xosan known to cleanup (xosan/sr/gc.py).
        xgc.install_dropin(self.uuid, GC_PROGRAM)
        super(XOSANSR, self)._kickGC()

    @sm_errors
    def probe(self):
        if self.xconf.volume is None:
            names = self.volume_sr.list_volumes()
            raise xs_errors.XenError(
                "ConfigServerPathMissing",
                opterr="device-config:volume is missing; volumes on %s: %s" % (
                    self.xconf.servers[0], ", ".join(names) if names else "(none)"))
        return util.SRtoXML(dict((u, {}) for u in self.volume_sr.probe()))

    def vdi(self, uuid):
        return XOSANFileVDI(self, uuid)


class XOSANFileVDI(FileSR.FileVDI):
    def attach(self, sr_uuid, vdi_uuid):
        if not hasattr(self, "xenstore_data"):
            self.xenstore_data = {}
        self.xenstore_data["storage-type"] = XOSANSR.DRIVER_TYPE
        return super(XOSANFileVDI, self).attach(sr_uuid, vdi_uuid)

    def activate(self, sr_uuid, vdi_uuid):
        # Attach from config (HA statefile, redo log) runs with no XAPI session: the
        # framework's activate first asks xapi whether the SR does CBT, which fails then
        # ("Failed to initialize XMLRPC connection") before tapdisk is even asked. Those VDIs
        # never carry a CBT log (xapi refuses CBT on statefile and redo-log VDIs), so there is
        # nothing for activate to do without a session.
        if self.sr.session is None:
            util.SMlog("XOSANFileVDI.activate: no XAPI session (attach from config): no CBT to activate")
            return None
        return super(XOSANFileVDI, self).activate(sr_uuid, vdi_uuid)

    def generate_config(self, sr_uuid, vdi_uuid):
        """Config for HA statefile / redo log: attach must work with xapi down, so it
        carries the last known server list too, not only device-config."""
        util.SMlog("XOSANFileVDI.generate_config")
        if not util.pathexists(self.path):
            raise xs_errors.XenError("VDIUnavailable", opterr="no VHD file for VDI %s" % vdi_uuid)
        resp = {"device_config": self.sr.dconf,
                "sr_uuid": sr_uuid,
                "vdi_uuid": vdi_uuid,
                "sr_sm_config": self.sr.sm_config,
                "command": "vdi_attach_from_config"}
        config = xmlrpc.client.dumps(tuple([resp]), "vdi_attach_from_config")
        return xmlrpc.client.dumps((config,), "", True)

    def attach_from_config(self, sr_uuid, vdi_uuid):
        util.SMlog("XOSANFileVDI.attach_from_config")
        try:
            self.sr.attach(sr_uuid)
        except xs_errors.SRException:
            raise
        except Exception as exc:
            util.logException("XOSANFileVDI.attach_from_config")
            raise xs_errors.XenError("SRUnavailable", opterr="attach from config failed: %s" % exc)
        return ""


if __name__ == "__main__":
    SRCommand.run(XOSANSR, DRIVER_INFO)
else:
    SR.registerSR(XOSANSR)
