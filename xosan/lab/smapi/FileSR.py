"""Test double of dom0's ``FileSR``: an SR of VHD files in a directory.

Keeps the real contract that XOSANSR relies on: attributes (path, linkpath,
mountpoint, remotepath, vdis, lock, ops_exclusive, driver_config), the
``handles("smb")`` convention that makes scan and size checks look at
``mountpoint``/``linkpath`` instead of ``path``, OPS_EXCLUSIVE, and VDI files
named ``<uuid>.vhd``. Leaves out: the replay log, CBT, raw VDIs' edge cases,
tapdisk pause/unpause, hardlink-based snapshots and GC (see vhdutil: a
snapshot here is a full copy).
"""

import errno
import os
import xmlrpc.client

import SR
import VDI
import cleanup
import util
import vhdutil
import xs_errors
from lock import Lock

OPS_EXCLUSIVE = [
    "sr_create", "sr_delete", "sr_probe", "sr_attach", "sr_detach",
    "sr_scan", "vdi_init", "vdi_create", "vdi_delete", "vdi_attach",
    "vdi_detach", "vdi_resize_online", "vdi_snapshot", "vdi_clone"]

DRIVER_CONFIG = {"ATTACH_FROM_CONFIG_WITH_TAPDISK": True}


class FileSR(SR.SR):
    SR_TYPE = "file"

    @staticmethod
    def handles(srtype):
        return srtype == "file"

    def _check_o_direct(self):
        if self.sr_ref and self.session is not None:
            other_config = self.session.xenapi.SR.get_other_config(self.sr_ref)
            self.o_direct = other_config.get("o_direct") == "true"
        else:
            self.o_direct = True

    def __init__(self, srcmd, sr_uuid):
        SR.SR.__init__(self, srcmd, sr_uuid)
        self._check_o_direct()

    def load(self, sr_uuid):
        self.ops_exclusive = OPS_EXCLUSIVE
        self.lock = Lock(vhdutil.LOCK_TYPE_SR, self.uuid)
        self.sr_vditype = vhdutil.VDI_TYPE_VHD
        if not self.dconf.get("location"):
            raise xs_errors.XenError("ConfigLocationMissing")
        self.remotepath = self.dconf["location"]
        self.path = os.path.join(SR.MOUNT_BASE, sr_uuid)
        self.linkpath = self.path
        self.mountpoint = self.path
        self.attached = False
        self.driver_config = DRIVER_CONFIG

    def create(self, sr_uuid, size):
        if util.pathexists(self.remotepath) and util.listdir(self.remotepath):
            raise xs_errors.XenError("SRExists")
        util.makedirs(self.remotepath)

    def delete(self, sr_uuid):
        self.attach(sr_uuid)
        cleanup.gc_force(self.session, self.uuid)
        try:
            if util.ioretry(lambda: util.pathexists(self.path)):
                self._loadvdis()
                for uuid in self.vdis:
                    if not self.vdis[uuid].deleted:
                        raise xs_errors.XenError("SRNotEmpty", opterr="VDIs still exist in SR")
                for name in util.ioretry(lambda: util.listdir(self.path)):
                    fullpath = os.path.join(self.path, name)
                    try:
                        util.ioretry(lambda p=fullpath: os.unlink(p))
                    except util.CommandException as inst:
                        if inst.code not in (errno.ENOENT, errno.EISDIR):
                            raise xs_errors.XenError("FileSRDelete", opterr="failed to remove %s error %d"
                                                     % (fullpath, inst.code))
            self.detach(sr_uuid)
        except util.CommandException as inst:
            self.detach(sr_uuid)
            raise xs_errors.XenError("FileSRDelete", opterr="error %d" % inst.code)

    def attach(self, sr_uuid):
        if not self._checkmount():
            util.makedirs(self.path, mode=0o700)
            util.pread(["mount", "--bind", self.remotepath, self.path])
        self.attached = True

    def detach(self, sr_uuid):
        if self._checkmount():
            cleanup.abort(self.uuid)
            os.chdir(SR.MOUNT_BASE)
            util.pread(["umount", self.path])
            os.rmdir(self.path)
        self.attached = False

    def scan(self, sr_uuid):
        if not self._checkmount():
            raise xs_errors.XenError("SRUnavailable", opterr="no such directory %s" % self.path)
        if not self.vdis:
            self._loadvdis()
        if not self.passthrough:
            self.physical_size = self._getsize()
            self.physical_utilisation = self._getutilisation()
        for uuid in list(self.vdis.keys()):
            if self.vdis[uuid].deleted:
                del self.vdis[uuid]
        mount_path = self.mountpoint if self.handles("smb") else self.path
        if not self.handles("file") and not os.path.ismount(mount_path):
            raise xs_errors.XenError("SRUnavailable", opterr="not mounted %s" % mount_path)
        self._kickGC()
        super(FileSR, self).scan(sr_uuid)

    def update(self, sr_uuid):
        if not self._checkmount():
            raise xs_errors.XenError("SRUnavailable", opterr="no such directory %s" % self.path)
        self._update(sr_uuid, 0)

    def _update(self, sr_uuid, virt_alloc_delta):
        valloc = int(self.session.xenapi.SR.get_virtual_allocation(self.sr_ref))
        self.virtual_allocation = valloc + virt_alloc_delta
        self.physical_size = self._getsize()
        self.physical_utilisation = self._getutilisation()
        self._db_update()

    def vdi(self, uuid):
        return FileVDI(self, uuid)

    def added_vdi(self, vdi):
        self.vdis[vdi.uuid] = vdi

    def deleted_vdi(self, uuid):
        self.vdis.pop(uuid, None)

    def _loadvdis(self):
        if self.vdis:
            return
        pattern = os.path.join(self.path, "*%s" % vhdutil.FILE_EXTN_VHD)
        self.vhds = vhdutil.getAllVHDs(pattern, FileVDI.extractUuid)
        for uuid, info in self.vhds.items():
            if info.error:
                raise xs_errors.XenError("SRScan", opterr="uuid=%s" % uuid)
            self.vdis[uuid] = self.vdi(uuid)
        self.virtual_allocation = sum(v.size for v in self.vdis.values() if not v.hidden)

    def _getsize(self):
        return util.get_fs_size(self.linkpath if self.handles("smb") else self.path)

    def _getutilisation(self):
        return util.get_fs_utilisation(self.path)

    def _kickGC(self):
        cleanup.start_gc_service(self.uuid)

    def _checkmount(self):
        mount_path = self.mountpoint if self.handles("smb") else self.path
        return util.pathexists(mount_path) and util.ismount(mount_path)


class FileVDI(VDI.VDI):
    PARAM_VHD = "vhd"

    def load(self, vdi_uuid):
        self.lock = self.sr.lock
        self.vdi_type = vhdutil.VDI_TYPE_VHD
        self.path = os.path.join(self.sr.path, "%s%s" % (vdi_uuid, vhdutil.FILE_EXTN_VHD))
        self.exists = False
        if self.sr.srcmd.cmd == "vdi_create":
            return
        if not util.pathexists(self.path):
            if self.sr.srcmd.cmd in ("vdi_delete", "vdi_attach_from_config"):
                return
            raise xs_errors.XenError("VDIUnavailable", opterr="VDI %s not found" % vdi_uuid)
        info = self.sr.__dict__.get("vhds", {}).get(vdi_uuid)
        try:
            self.size = info.sizeVirt if info else vhdutil.getSizeVirt(self.path)
        except util.CommandException:
            raise xs_errors.XenError("VDILoad", opterr="Failed load VDI information %s" % self.path)
        self.utilisation = os.stat(self.path).st_size
        self.sm_config_override = {"vhd-parent": None}
        self.exists = True

    def create(self, sr_uuid, vdi_uuid, size):
        if util.pathexists(self.path):
            raise xs_errors.XenError("VDIExists")
        try:
            size = vhdutil.validate_and_round_vhd_size(int(size))
            vhdutil.create(self.path, size)
            self.size = vhdutil.getSizeVirt(self.path)
        except util.CommandException as inst:
            raise xs_errors.XenError("VDICreate", opterr="error %d" % inst.code)
        self.sr.added_vdi(self)
        self.utilisation = os.stat(self.path).st_size
        self._db_introduce()
        self.sr._update(self.sr.uuid, self.size)
        return super(FileVDI, self).get_params()

    def delete(self, sr_uuid, vdi_uuid, data_only=False):
        if not util.pathexists(self.path):
            return super(FileVDI, self).delete(sr_uuid, vdi_uuid, data_only)
        if self.attached:
            raise xs_errors.XenError("VDIInUse")
        try:
            util.force_unlink(self.path)
        except Exception as e:
            raise xs_errors.XenError("VDIDelete", opterr="Failed to unlink file during deleting VDI: %s" % e)
        self.sr.deleted_vdi(vdi_uuid)
        if not data_only:
            self._db_forget()
        self.sr._update(self.sr.uuid, -self.size)
        self.sr._kickGC()
        return super(FileVDI, self).delete(sr_uuid, vdi_uuid, data_only)

    def attach(self, sr_uuid, vdi_uuid):
        if not util.pathexists(self.path):
            raise xs_errors.XenError("VDIUnavailable", opterr="VDI %s unavailable %s" % (vdi_uuid, self.path))
        self.attached = True
        return super(FileVDI, self).attach(sr_uuid, vdi_uuid)

    def detach(self, sr_uuid, vdi_uuid):
        self.attached = False

    def resize(self, sr_uuid, vdi_uuid, size):
        if not self.exists:
            raise xs_errors.XenError("VDIUnavailable", opterr="VDI %s unavailable %s" % (vdi_uuid, self.path))
        if size < self.size:
            raise xs_errors.XenError("VDISize", opterr="shrinking not allowed")
        if size == self.size:
            return VDI.VDI.get_params(self)
        size = vhdutil.validate_and_round_vhd_size(int(size))
        vhdutil.setSizeVirt(self.path, size, None)
        old_size = self.size
        self.size = vhdutil.getSizeVirt(self.path)
        self.utilisation = os.stat(self.path).st_size
        self._db_update()
        self.sr._update(self.sr.uuid, self.size - old_size)
        return VDI.VDI.get_params(self)

    def clone(self, sr_uuid, vdi_uuid):
        return self._do_snapshot(sr_uuid, vdi_uuid, VDI.SNAPSHOT_DOUBLE)

    def _do_snapshot(self, sr_uuid, vdi_uuid, snapType, cloneOp=False, secondary=None, cbtlog=None):
        dest = util.gen_uuid()
        dst = os.path.join(self.sr.path, "%s%s" % (dest, vhdutil.FILE_EXTN_VHD))
        try:
            vhdutil.copy(self.path, dst)
        except Exception as e:
            raise xs_errors.XenError("VDIClone", opterr="copy failed: %s" % e)
        leaf = VDI.VDI(self.sr, dest)
        leaf.location = dest
        leaf.size = self.size
        leaf.utilisation = os.stat(dst).st_size
        leaf.sm_config = {}
        leaf._db_introduce()
        if snapType != VDI.SNAPSHOT_INTERNAL:
            self.sr._update(self.sr.uuid, self.size)
        return leaf.get_params()

    def get_params(self):
        if not util.pathexists(self.path):
            raise xs_errors.XenError("VDIUnavailable", opterr="VDI %s unavailable %s" % (self.uuid, self.path))
        return super(FileVDI, self).get_params()

    @staticmethod
    def extractUuid(path):
        return os.path.basename(path).replace(vhdutil.FILE_EXTN_VHD, "")

    def generate_config(self, sr_uuid, vdi_uuid):
        if not util.pathexists(self.path):
            raise xs_errors.XenError("VDIUnavailable")
        resp = {"device_config": self.sr.dconf, "sr_uuid": sr_uuid, "vdi_uuid": vdi_uuid,
                "command": "vdi_attach_from_config"}
        config = xmlrpc.client.dumps(tuple([resp]), "vdi_attach_from_config")
        return xmlrpc.client.dumps((config,), "", True)

    def attach_from_config(self, sr_uuid, vdi_uuid):
        try:
            if not util.pathexists(self.sr.path):
                return self.sr.attach(sr_uuid)
        except Exception:
            util.logException("FileVDI.attach_from_config")
            raise xs_errors.XenError("SRUnavailable", opterr="Unable to attach from config")
        return ""
