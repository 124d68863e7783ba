"""Test double of dom0's ``SRCommand``: one XML-RPC call in argv[1], the answer on stdout.

Same calling shape as xapi uses with SMAPIv1 drivers: ``driver <xml>``, where
the method name is the command and the single struct parameter carries
device_config, sr_uuid, vdi_uuid, args, session_ref, ... The answer is an
XML-RPC response, or a fault whose code is the SM error code.
Leaves out: blktap2 (vdi_attach/activate call the VDI object directly instead
of going through tapdisk), resetvdis on attach, CBT commands, vdi_compose.
"""

import os
import sys
import xmlrpc.client

import XenAPI

import util
import xs_errors

NEEDS_VDI_OBJECT = [
    "vdi_update", "vdi_create", "vdi_delete", "vdi_snapshot", "vdi_clone",
    "vdi_resize", "vdi_resize_online", "vdi_attach", "vdi_detach",
    "vdi_activate", "vdi_deactivate", "vdi_attach_from_config", "vdi_detach_from_config",
    "vdi_generate_config", "vdi_compose", "vdi_epoch_begin",
    "vdi_epoch_end", "vdi_enable_cbt", "vdi_disable_cbt", "vdi_data_destroy",
    "vdi_list_changed_blocks"]

EXCEPTION_TYPE = {
    "sr_scan": "SRScan",
    "vdi_init": "VDILoad",
    "vdi_create": "VDICreate",
    "vdi_delete": "VDIDelete",
    "vdi_attach": "VDIUnavailable",
    "vdi_detach": "VDIUnavailable",
    "vdi_activate": "VDIUnavailable",
    "vdi_deactivate": "VDIUnavailable",
    "vdi_resize": "VDIResize",
    "vdi_resize_online": "VDIResize",
    "vdi_snapshot": "VDISnapshot",
    "vdi_clone": "VDIClone",
}


class SRCommand(object):
    def __init__(self, driver_info):
        self.dconf = ""
        self.type = ""
        self.sr_uuid = ""
        self.cmdname = ""
        self.cmdtype = ""
        self.cmd = None
        self.args = None
        self.driver_info = driver_info

    def parse(self):
        if len(sys.argv) != 2:
            util.SMlog("Failed to parse commandline; wrong number of arguments; argv = %r" % sys.argv)
            raise xs_errors.XenError("BadRequest")
        try:
            params, methodname = xmlrpc.client.loads(os.fsencode(sys.argv[1]))
            self.cmd = methodname
            params = params[0]
            self.params = params
            self.dconf = params["device_config"]
            if "sr_uuid" in params:
                self.sr_uuid = params["sr_uuid"]
            if "vdi_uuid" in params:
                self.vdi_uuid = params["vdi_uuid"]
            elif self.cmd == "vdi_create":
                self.vdi_uuid = util.gen_uuid()
        except Exception as e:
            util.SMlog("Failed to parse commandline; exception = %s argv = %r" % (e, sys.argv))
            raise xs_errors.XenError("BadRequest")

    def run_statics(self):
        if self.params["command"] == "sr_get_driver_info":
            print(util.sr_get_driver_info(self.driver_info))
            sys.exit(0)

    def run(self, sr):
        try:
            return self._run_locked(sr)
        except (util.CommandException, util.SMException, XenAPI.Failure) as e:
            util.logException(self.cmd)
            msg = str(e)
            if isinstance(e, util.CommandException):
                msg = "Command %s failed (%s): %s" % (e.cmd, e.reason, os.strerror(abs(e.code)))
            raise xs_errors.XenError(EXCEPTION_TYPE.get(self.cmd, "SMGeneral"), opterr=msg)

    def _run_locked(self, sr):
        lockSR = self.cmd in sr.ops_exclusive
        lockInitOnly = not lockSR and self.cmd in NEEDS_VDI_OBJECT and "vdi_init" in sr.ops_exclusive
        acquired = False
        if lockSR or lockInitOnly:
            sr.lock.acquire()
            acquired = True
        try:
            target = None
            try:
                if self.cmd in NEEDS_VDI_OBJECT:
                    target = sr.vdi(self.vdi_uuid)
            finally:
                if acquired and lockInitOnly:
                    sr.lock.release()
                    acquired = False
            return self._run(sr, target)
        finally:
            if acquired:
                sr.lock.release()
            sr.cleanup()

    def _run(self, sr, target):
        util.SMlog("%s %r" % (self.cmd, dict(self.params, session_ref="******")))
        p = self.params
        if self.cmd == "vdi_create":
            target.label = p["args"][1]
            target.description = p["args"][2]
            if not util.isLegalXMLString(target.label) or not util.isLegalXMLString(target.description):
                raise xs_errors.XenError("IllegalXMLChar", opterr="name or description")
            target.ty = p["vdi_type"]
            target.metadata_of_pool = p["args"][3]
            target.is_a_snapshot = p["args"][4] == "true"
            target.snapshot_time = p["args"][5]
            target.snapshot_of = p["args"][6]
            target.read_only = p["args"][7] == "true"
            return target.create(p["sr_uuid"], self.vdi_uuid, int(p["args"][0]))
        elif self.cmd == "vdi_update":
            return target.update(p["sr_uuid"], self.vdi_uuid)
        elif self.cmd == "vdi_delete":
            return target.delete(p["sr_uuid"], self.vdi_uuid)
        elif self.cmd == "vdi_attach":
            return target.attach(p["sr_uuid"], self.vdi_uuid)
        elif self.cmd == "vdi_detach":
            return target.detach(p["sr_uuid"], self.vdi_uuid)
        elif self.cmd == "vdi_snapshot":
            return target.snapshot(p["sr_uuid"], self.vdi_uuid)
        elif self.cmd == "vdi_clone":
            return target.clone(p["sr_uuid"], self.vdi_uuid)
        elif self.cmd == "vdi_resize":
            return target.resize(p["sr_uuid"], self.vdi_uuid, int(p["args"][0]))
        elif self.cmd in ("vdi_activate", "vdi_deactivate", "vdi_epoch_begin", "vdi_epoch_end"):
            return None
        elif self.cmd == "vdi_generate_config":
            return target.generate_config(p["sr_uuid"], self.vdi_uuid)
        elif self.cmd == "vdi_attach_from_config":
            ret = target.attach_from_config(p["sr_uuid"], self.vdi_uuid)
            if not target.sr.driver_config.get("ATTACH_FROM_CONFIG_WITH_TAPDISK"):
                return ret
            return target.attach(p["sr_uuid"], self.vdi_uuid)
        elif self.cmd == "vdi_detach_from_config":
            target.detach(p["sr_uuid"], self.vdi_uuid)
            return None
        elif self.cmd == "sr_create":
            return sr.create(p["sr_uuid"], int(p["args"][0]))
        elif self.cmd == "sr_delete":
            return sr.delete(p["sr_uuid"])
        elif self.cmd == "sr_update":
            return sr.update(p["sr_uuid"])
        elif self.cmd == "sr_probe":
            txt = sr.probe()
            return xmlrpc.client.dumps((txt,), "", True)
        elif self.cmd == "sr_attach":
            is_master = sr.dconf.get("SRmaster") == "true"
            try:
                return sr.attach(p["sr_uuid"])
            finally:
                if is_master:
                    sr.after_master_attach(p["sr_uuid"])
        elif self.cmd == "sr_detach":
            return sr.detach(p["sr_uuid"])
        elif self.cmd == "sr_content_type":
            return sr.content_type(p["sr_uuid"])
        elif self.cmd == "sr_scan":
            return sr.scan(p["sr_uuid"])
        util.SMlog("Unknown command: %s" % self.cmd)
        raise xs_errors.XenError("BadRequest")


def run(driver, driver_info):
    cmd = SRCommand(driver_info)
    try:
        cmd.parse()
        cmd.run_statics()
        sr = driver(cmd, cmd.sr_uuid)
        sr.direct = True
        ret = cmd.run(sr)
        print(util.return_nil() if ret is None else ret)
    except (Exception, xs_errors.SRException) as e:
        try:
            util.logException(driver_info["name"])
        except Exception:
            pass
        if isinstance(e, xs_errors.SRException):
            print(e.toxml())
        else:
            print(xmlrpc.client.dumps(xmlrpc.client.Fault(1200, str(e)), "", True))
    sys.exit(0)
