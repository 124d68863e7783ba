"""Test double of dom0's ``VDI`` base class.

Leaves out: changed block tracking (CBT), encryption keys, mirroring.
"""

import xmlrpc.client

import util
import xs_errors

SNAPSHOT_SINGLE = 1
SNAPSHOT_DOUBLE = 2
SNAPSHOT_INTERNAL = 3


class VDI(object):
    def __init__(self, sr, uuid):
        self.sr = sr
        if uuid is not None:
            self.uuid = uuid
            self.location = uuid
            self.path = None
        self.label = ""
        self.description = ""
        self.vbds = []
        self.size = 0
        self.utilisation = 0
        self.vdi_type = ""
        self.has_child = 0
        self.parent = None
        self.shareable = False
        self.attached = False
        self.status = 0
        self.read_only = False
        self.xenstore_data = {}
        self.deleted = False
        self.session = sr.session
        self.managed = True
        self.sm_config_override = {}
        self.sm_config_keep = ["key_hash"]
        self.ty = "user"
        self.cbt_enabled = False
        self.hidden = 0
        self.load(uuid)

    def load(self, vdi_uuid):
        pass

    def create(self, sr_uuid, vdi_uuid, size):
        raise xs_errors.XenError("Unimplemented")

    def update(self, sr_uuid, vdi_uuid):
        return

    def attach(self, sr_uuid, vdi_uuid):
        struct = {"params": self.path, "xenstore_data": (self.xenstore_data or {})}
        return xmlrpc.client.dumps((struct,), "", True)

    def detach(self, sr_uuid, vdi_uuid):
        raise xs_errors.XenError("Unimplemented")

    def clone(self, sr_uuid, vdi_uuid):
        raise xs_errors.XenError("Unimplemented")

    def snapshot(self, sr_uuid, vdi_uuid):
        return self._do_snapshot(sr_uuid, vdi_uuid, SNAPSHOT_DOUBLE)

    def _do_snapshot(self, sr_uuid, vdi_uuid, snapType, cloneOp=False, secondary=None, cbtlog=None):
        raise xs_errors.XenError("Unimplemented")

    def resize(self, sr_uuid, vdi_uuid, size):
        raise xs_errors.XenError("Unimplemented")

    def resize_cbt(self, sr_uuid, vdi_uuid, size):
        pass

    def delete(self, sr_uuid, vdi_uuid, data_only=False):
        pass

    def generate_config(self, sr_uuid, vdi_uuid):
        raise xs_errors.XenError("Unimplemented")

    def attach_from_config(self, sr_uuid, vdi_uuid):
        raise xs_errors.XenError("Unimplemented")

    def get_params(self):
        struct = {"location": self.location, "uuid": self.uuid}
        return xmlrpc.client.dumps((struct,), "", True)

    def _get_blocktracking_status(self, uuid=None):
        return False

    def _db_introduce(self):
        uuid = util.default(self, "uuid", lambda: util.gen_uuid())
        sm_config = util.default(self, "sm_config", lambda: {})
        ty = util.default(self, "ty", lambda: "user")
        is_a_snapshot = util.default(self, "is_a_snapshot", lambda: False)
        metadata_of_pool = util.default(self, "metadata_of_pool", lambda: "OpaqueRef:NULL")
        snapshot_time = util.default(self, "snapshot_time", lambda: "19700101T00:00:00Z")
        snapshot_of = util.default(self, "snapshot_of", lambda: "OpaqueRef:NULL")
        return self.sr.session.xenapi.VDI.db_introduce(
            uuid, self.label, self.description, self.sr.sr_ref, ty, self.shareable, self.read_only, {},
            self.location, {}, sm_config, self.managed, str(self.size), str(self.utilisation),
            metadata_of_pool, is_a_snapshot, xmlrpc.client.DateTime(snapshot_time), snapshot_of,
            self.cbt_enabled)

    def _db_forget(self):
        self.sr.forget_vdi(self.uuid)

    def _db_update(self):
        vdi = self.sr.session.xenapi.VDI.get_by_uuid(self.uuid)
        self.sr.session.xenapi.VDI.set_virtual_size(vdi, str(self.size))
        self.sr.session.xenapi.VDI.set_physical_utilisation(vdi, str(self.utilisation))
        self.sr.session.xenapi.VDI.set_read_only(vdi, self.read_only)
