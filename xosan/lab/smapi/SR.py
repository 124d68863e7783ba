"""Test double of dom0's ``SR`` base class (the SMAPIv1 framework's SR object).

Deviations from the real one, all for running off-host:
- MOUNT_BASE comes from $XOSAN_TEST_MOUNT_BASE (default /var/run/sr-mount), so
  several simulated hosts on one machine each get their own mounts;
- the XAPI session goes to $XOSAN_TEST_XAPI_URL (a simulator) when set, instead
  of xapi's local unix socket;
- scan's VDI synchronisation is a small version of the real ScanRecord
  (introduce new, forget gone, update existing); no multipath, no LVM env.
"""

import copy
import os
import xmlrpc.client

import XenAPI  # the real SDK from PyPI

import util
import xs_errors

MOUNT_BASE = os.environ.get("XOSAN_TEST_MOUNT_BASE", "/var/run/sr-mount")
DEFAULT_TAP = "vhd"
TAPDISK_UTIL = "/usr/sbin/td-util"

backends = []


def registerSR(SRClass):
    backends.append(SRClass)


def driver(type):
    for d in backends:
        if d.handles(type):
            return d
    raise xs_errors.XenError("SRUnknownType")


def _xapi_session():
    url = os.environ.get("XOSAN_TEST_XAPI_URL")
    if url:
        return XenAPI.Session(url)
    return XenAPI.xapi_local()


class SR(object):
    @staticmethod
    def handles(type):
        return False

    def __init__(self, srcmd, sr_uuid):
        self.other_config = {}
        self.srcmd = srcmd
        self.dconf = srcmd.dconf
        if "session_ref" in srcmd.params:
            self.session_ref = srcmd.params["session_ref"]
            self.session = _xapi_session()
            self.session._session = self.session_ref
        else:
            self.session = None
        self.host_ref = srcmd.params.get("host_ref", "")
        self.sr_ref = srcmd.params.get("sr_ref")
        self.uuid = sr_uuid
        self.label = ""
        self.description = ""
        self.cmd = srcmd.params["command"]
        self.vdis = {}
        self.physical_utilisation = 0
        self.virtual_allocation = 0
        self.physical_size = 0
        self.sr_vditype = ""
        self.passthrough = False
        self.original_srcmd = copy.deepcopy(self.srcmd)
        self.default_vdi_visibility = True
        self.direct = False
        self.ops_exclusive = []
        self.driver_config = {}
        self.mpath = "false"
        self.load(sr_uuid)

    def create(self, uuid, size):
        raise xs_errors.XenError("Unimplemented")

    def delete(self, uuid):
        raise xs_errors.XenError("Unimplemented")

    def update(self, uuid):
        return

    def attach(self, uuid):
        raise xs_errors.XenError("Unimplemented")

    def after_master_attach(self, uuid):
        try:
            self.scan(uuid)
        except Exception as e:
            util.SMlog("Error in SR.after_master_attach %s" % e)

    def detach(self, uuid):
        raise xs_errors.XenError("Unimplemented")

    def probe(self):
        raise xs_errors.XenError("Unimplemented")

    def scan(self, uuid):
        self._db_update()
        self._synchronise_vdis()

    def content_type(self, uuid):
        return xmlrpc.client.dumps((str(self.sr_vditype),), "", True)

    def load(self, sr_uuid):
        pass

    def vdi(self, uuid):
        raise xs_errors.XenError("Unimplemented")

    def forget_vdi(self, uuid):
        vdi = self.session.xenapi.VDI.get_by_uuid(uuid)
        self.session.xenapi.VDI.db_forget(vdi)

    def cleanup(self):
        pass

    def _db_update(self):
        sr = self.session.xenapi.SR.get_by_uuid(self.uuid)
        self.session.xenapi.SR.set_virtual_allocation(sr, str(self.virtual_allocation))
        self.session.xenapi.SR.set_physical_size(sr, str(self.physical_size))
        self.session.xenapi.SR.set_physical_utilisation(sr, str(self.physical_utilisation))

    def _synchronise_vdis(self):
        records = {}
        for ref, rec in self.session.xenapi.VDI.get_all_records().items():
            if rec.get("SR") == self.sr_ref:
                records[rec["location"]] = (ref, rec)
        for location, vdi in self.vdis.items():
            if location not in records:
                vdi._db_introduce()
            else:
                vdi._db_update()
        for location, (ref, rec) in records.items():
            if location not in self.vdis and rec.get("managed", True):
                self.session.xenapi.VDI.db_forget(ref)
