"""The lab's XAPI: a simulated pool whose storage VMs are real lab nodes.

On top of XapiSim's object store it behaves like xapi where XOSAN depends on it:
- the pool starts with no XOSAN template: deploy uploads the appliance VHD
  (PUT /import_raw_vdi, stored as a file) and makes the template with VM.create
  and VBD.create, which check the fields xapi requires;
- VM.clone / VM.copy copy the VM's disks (clone on their SR, copy onto the SR
  given) with their content;
- VM.start / start_on refuses, as xapi does, a VM whose disks are on another
  host's local SR (VM_REQUIRES_SR); a VM whose boot disk holds an uploaded VHD
  and boots it through the BIOS "boots the appliance": a lab node (netns +
  glusterd + sshd) configured from the VM's xenstore_data exactly as the
  appliance's first-boot script reads it (xosan.pool.storage_vm). The lab never runs
  the image itself: a storage VM is a network namespace (`make appliance-test`
  boots the real image in qemu). Clean/hard shutdown stop the node, destroy
  removes it with its brick;
- SR.create, SR.probe, SR.scan, SR.destroy, PBD.plug/unplug, VDI.create/destroy/
  snapshot/clone on an SR of type xosan run drivers/XOSANSR.py as xapi runs a
  SMAPIv1 driver, as the host concerned: in that host's lab dom0 (xosan_lab/dom0.py:
  the REAL SM framework at /opt/xensource/sm, this host's network namespace, its
  own mounts, locks, SMlog and xapi socket); the driver's faults become
  SR_BACKEND_FAILURE_<code>; host.call_plugin runs the host plugin there too;
- PIF.reconfigure_ip on a host's storage PIF gives that host's dom0 its address
  on the lab bridge (a LabHost namespace). A host without one cannot reach the
  storage VMs: the driver is not run for it, its SR calls fail with
  SR_BACKEND_FAILURE_47 (SRUnavailable) naming the missing address;
- pool.create_VLAN_from_PIF, VLAN.create, VLAN.destroy and PIF.destroy keep xapi's VLAN
  objects (a VLAN record per host, its tagged PIF on the new network, VLAN_master_of /
  VLAN_slave_of) and its refusals (VLAN_TAG_INVALID, PIF_IS_VLAN, NETWORK_ALREADY_CONNECTED,
  PIF_VLAN_EXISTS, PIF_IS_PHYSICAL). The tag itself is not simulated: every storage network,
  tagged or not, is the lab bridge.
"""

import base64
import ipaddress
import os
import shutil
import uuid as uuidlib

from xosan.pool.storage_vm import from_xenstore_data
from xosan_lab.dom0 import Dom0
from xosan_lab.host import LabHost
from xosan_lab.node import LabNode
from xosan_lab.smrunner import Driver, SMFault, sm_record
from xosan_lab.xapi_sim import XapiFailure, XapiSim, XapiSimUnixServer

GiB = 1024 ** 3
SM_SESSION = "OpaqueRef:lab-sm-session"
NULL = "OpaqueRef:NULL"

# Fields of VM/VBD/VDI.create that have no default in xapi's datamodel (ocaml/idl/datamodel_*.ml):
# a record without one of them is refused, so the records XOSAN sends are held to xapi's rules.
VM_REQUIRED = ("user_version", "is_a_template", "affinity", "memory_static_max", "memory_dynamic_max",
               "memory_dynamic_min", "memory_static_min",
               "VCPUs_params", "VCPUs_max", "VCPUs_at_startup", "actions_after_shutdown",
               "actions_after_reboot", "actions_after_crash", "PV_bootloader", "PV_kernel", "PV_ramdisk",
               "PV_args", "PV_bootloader_args", "PV_legacy_args", "HVM_boot_policy", "HVM_boot_params",
               "platform", "PCI_bus", "other_config", "recommendations")
VBD_REQUIRED = ("VM", "VDI", "userdevice", "bootable", "mode", "type", "empty", "other_config",
                "qos_algorithm_type", "qos_algorithm_params")
VDI_REQUIRED = ("SR", "virtual_size", "type", "sharable", "read_only", "other_config")


def _require(fields, record):
    """xapi's server stubs look every constructor field up and fail on the first one missing."""
    for f in fields:
        if f not in record:
            raise XapiFailure("INTERNAL_ERROR", "Dispatcher_FieldNotFound(\"%s\")" % f)


def _bool(v):
    return v in (True, "true", "True", 1, "1")


class LabXapi(XapiSim):
    def __init__(self, lab, url=None, hosts=3, local_sr_size=40 * GiB, password="xosan"):
        XapiSim.__init__(self, password=password, store_dir=os.path.join(lab.state["workdir"], "xapi-vdis"))
        self.lab = lab
        self.url = url
        self.faults = {"unreachable": set()}  # VM name labels whose node starts cut off
        self.sessions[SM_SESSION] = "sm"
        self.dom0s = {}  # host ref -> (Dom0, its xapi socket server)
        self._build(hosts, local_sr_size)

    def close(self):
        """Stop every host's dom0 (their FUSE clients, GC runs) and xapi socket."""
        for dom0, server in self.dom0s.values():
            dom0.down()
            server.stop()
        self.dom0s = {}

    # -- the pool -----------------------------------------------------------------------------

    def _build(self, count, local_sr_size):
        mgmt = self.add("network", {"name_label": "Pool-wide network associated with eth0", "bridge": "xenbr0",
                                    "PIFs": [], "VIFs": [], "MTU": "1500", "other_config": {}, "tags": []})
        storage = self.add("network", {"name_label": "Pool-wide network associated with eth1", "bridge": "xenbr1",
                                       "PIFs": [], "VIFs": [], "MTU": "1500", "other_config": {}, "tags": []})
        self.hosts = []
        for i in range(1, count + 1):
            metrics = self.add("host_metrics", {"live": True, "memory_total": str(64 * GiB)})
            host = self.add("host", {"name_label": "lab-host-%d" % i, "hostname": "lab-host-%d" % i, "metrics": metrics,
                                     "address": "127.0.1.%d" % i, "enabled": True, "PIFs": [], "PBDs": [],
                                     "API_version_major": "2", "API_version_minor": "21", "other_config": {},
                                     "resident_VMs": [], "software_version": {"product_brand": "XCP-ng lab"}})
            self.hosts.append(host)
            for dev, net, mgmt_ip in (("eth0", mgmt, "127.0.1.%d" % i), ("eth1", storage, "")):
                pif = self.add("PIF", {"device": dev, "host": host, "network": net, "VLAN": "-1",
                                       "management": dev == "eth0", "physical": True, "MTU": "1500",
                                       "ip_configuration_mode": "Static" if mgmt_ip else "None", "IP": mgmt_ip,
                                       "netmask": "255.255.255.0" if mgmt_ip else "", "gateway": "",
                                       "other_config": {}, "currently_attached": True,
                                       "VLAN_master_of": NULL, "VLAN_slave_of": []})
                self.db["host"][host]["PIFs"].append(pif)
                self.db["network"][net]["PIFs"].append(pif)
            sr = self.add("SR", {"name_label": "Local storage", "type": "lvm", "shared": False,
                                 "content_type": "user", "physical_size": str(local_sr_size),
                                 "physical_utilisation": str(4 * GiB), "virtual_allocation": str(4 * GiB),
                                 "PBDs": [], "VDIs": [], "sm_config": {"allocation": "thick", "use_vhd": "true"},
                                 "other_config": {}, "tags": []})
            pbd = self.add("PBD", {"host": host, "SR": sr, "device_config": {"device": "/dev/sda3"},
                                   "currently_attached": True, "other_config": {}})
            self.db["SR"][sr]["PBDs"].append(pbd)
            self.db["host"][host]["PBDs"].append(pbd)
        self.pool = self.add("pool", {"name_label": "XOSAN lab pool", "master": self.hosts[0],
                                      "other_config": {}, "default_SR": "OpaqueRef:NULL", "ha_enabled": False})
        self.add("SM", sm_record())  # the framework reads the driver's capabilities there

    # -- running the driver as a host ------------------------------------------------------------

    def host_dir(self, host):
        return os.path.join(self.lab.state["workdir"], "hosts", self.db["host"][host]["name_label"])

    def lab_host(self, host):
        name = self.db["host"][host]["name_label"]
        for h in self.lab.hosts:
            if h.state.get("xapi_host") == name:
                return h
        return None

    def dom0(self, host, storage=True):
        """``host``'s lab dom0, made on first use. ``storage=False`` (host plugins): a host without a
        storage address still runs code, from the machine's own network, as a dom0 runs a plugin that
        then finds the storage VMs unreachable; once it has an address its dom0 is made anew there."""
        lh = self.lab_host(host)
        if lh is None and storage:
            raise XapiFailure("SR_BACKEND_FAILURE_47", "", "host %s has no address on the storage network: its "
                              "dom0 cannot reach the storage VMs" % self.db["host"][host]["name_label"], "")
        netns = lh.state["netns"] if lh else None
        if host in self.dom0s and self.dom0s[host][0].netns != netns:
            old, server = self.dom0s.pop(host)
            old.down()
            server.stop()
        if host not in self.dom0s:
            d = self.host_dir(host)
            os.makedirs(d, exist_ok=True)
            server = XapiSimUnixServer(self, os.path.join(d, "xapi.sock")).start()
            dom0 = Dom0(os.path.join(d, "dom0"), self.db["host"][host]["uuid"], server.path, netns=netns,
                        name=self.db["host"][host]["name_label"])
            try:
                dom0.up()
            except Exception:
                server.stop()
                raise
            self.dom0s[host] = (dom0, server)
        return self.dom0s[host][0]

    def dom0_path(self, host_name, inside):
        """This machine's path to ``inside`` as host ``host_name``'s dom0 sees it."""
        [(host, _)] = self.find("host", name_label=host_name)
        return self.dom0(host, storage=False).path(inside)

    def driver_for(self, host, storage=True):
        return Driver(self.dom0(host, storage), session_ref=SM_SESSION, host_ref=host)

    def sm_call(self, host, command, dconf, **kw):
        try:
            return self.driver_for(host).call(command, dconf, **kw)
        except SMFault as f:
            raise XapiFailure("SR_BACKEND_FAILURE_%d" % f.code, "", f.message, "")

    def _sr_master(self, sr):
        for pbd in self.db["SR"][sr]["PBDs"]:
            if self.db["PBD"][pbd]["device_config"].get("SRmaster") == "true":
                return pbd
        return self.db["SR"][sr]["PBDs"][0]

    def _sr_call(self, sr, command, **kw):
        rec = self.record("SR", sr)
        pbd = self.db["PBD"][self._sr_master(sr)]
        return self.sm_call(pbd["host"], command, pbd["device_config"], sr_uuid=rec["uuid"], sr_ref=sr, **kw)

    # -- SR / PBD ---------------------------------------------------------------------------------

    def _SR_create(self, host, device_config, physical_size, name_label, name_description, type_,
                   content_type, shared, sm_config):
        self.record("host", host)
        if type_ != "xosan":
            raise XapiFailure("SR_UNKNOWN_DRIVER", type_)
        with self.lock:
            sr = self.add("SR", {"name_label": name_label, "name_description": name_description, "type": type_,
                                 "content_type": content_type, "shared": _bool(shared),
                                 "sm_config": dict(sm_config), "other_config": {}, "PBDs": [], "VDIs": [],
                                 "physical_size": "0", "physical_utilisation": "0", "virtual_allocation": "0",
                                 "tags": []})
        uuid = self.db["SR"][sr]["uuid"]
        try:
            self.sm_call(host, "sr_create", dict(device_config, SRmaster="true"), sr_uuid=uuid, sr_ref=sr,
                         args=[str(physical_size)])
        except XapiFailure:
            with self.lock:
                del self.db["SR"][sr]
            raise
        for h in (self.hosts if _bool(shared) else [host]):
            dconf = dict(device_config)
            if h == host:
                dconf["SRmaster"] = "true"
            with self.lock:
                pbd = self.add("PBD", {"host": h, "SR": sr, "device_config": dconf, "currently_attached": False,
                                       "other_config": {}})
                self.db["SR"][sr]["PBDs"].append(pbd)
                self.db["host"][h]["PBDs"].append(pbd)
        for pbd in list(self.db["SR"][sr]["PBDs"]):
            self._PBD_plug(pbd)
        return sr

    def _PBD_plug(self, pbd):
        rec = self.record("PBD", pbd)
        if rec["currently_attached"]:
            return ""
        sr = rec["SR"]
        self.sm_call(rec["host"], "sr_attach", rec["device_config"], sr_uuid=self.db["SR"][sr]["uuid"], sr_ref=sr)
        rec["currently_attached"] = True
        return ""

    def _PBD_unplug(self, pbd):
        rec = self.record("PBD", pbd)
        if not rec["currently_attached"]:
            return ""
        sr = rec["SR"]
        self.sm_call(rec["host"], "sr_detach", rec["device_config"], sr_uuid=self.db["SR"][sr]["uuid"], sr_ref=sr)
        rec["currently_attached"] = False
        return ""

    def _SR_scan(self, sr):
        self._sr_call(sr, "sr_scan")
        return ""

    def _SR_update(self, sr):
        """The framework's GC asks for it (Async.SR.update) after it changed the SR."""
        self._sr_call(sr, "sr_update")
        return ""

    def _SR_probe(self, host, device_config, type_, sm_config):
        if type_ != "xosan":
            raise XapiFailure("SR_UNKNOWN_DRIVER", type_)
        return self.sm_call(host, "sr_probe", device_config)

    def _SR_destroy(self, sr):
        rec = self.record("SR", sr)
        if any(self.db["PBD"][p]["currently_attached"] for p in rec["PBDs"]):
            raise XapiFailure("SR_HAS_PBD", sr)
        if rec["type"] == "xosan":
            self._sr_call(sr, "sr_delete")
        return self._SR_forget(sr)

    def _SR_forget(self, sr):
        with self.lock:
            rec = self.record("SR", sr)
            for pbd in rec["PBDs"]:
                host = self.db["PBD"][pbd]["host"]
                self.db["host"][host]["PBDs"].remove(pbd)
                del self.db["PBD"][pbd]
            for ref, vdi in list(self.db["VDI"].items()):
                if vdi.get("SR") == sr:
                    del self.db["VDI"][ref]
            del self.db["SR"][sr]
        return ""

    # -- VDI ---------------------------------------------------------------------------------------

    def _VDI_create(self, record):
        _require(VDI_REQUIRED, record)
        sr = record["SR"]
        srrec = self.record("SR", sr)
        if srrec["type"] != "xosan":
            with self.lock:
                rec = {"name_label": "", "name_description": "", "type": "user", "sharable": False,
                       "read_only": False, "other_config": {}, "sm_config": {}, "xenstore_data": {},
                       "managed": True, "location": str(uuidlib.uuid4()), "VBDs": [], "tags": [],
                       "physical_utilisation": "0"}
                rec.update(record)
                return self.add("VDI", rec)
        params = self._sr_call(sr, "vdi_create", vdi_type=record.get("type", "user"),
                               vdi_sm_config=record.get("sm_config", {}),
                               args=[str(record["virtual_size"]), record.get("name_label", ""),
                                     record.get("name_description", ""), "OpaqueRef:NULL", "false",
                                     "19700101T00:00:00Z", "OpaqueRef:NULL",
                                     "true" if _bool(record.get("read_only")) else "false"])
        [(ref, rec)] = self.find("VDI", uuid=params["uuid"])
        with self.lock:
            rec.setdefault("VBDs", [])
            rec["other_config"] = dict(record.get("other_config", {}))
        return ref

    def _VDI_destroy(self, vdi):
        rec = self.record("VDI", vdi)
        if self.db["SR"][rec["SR"]]["type"] == "xosan":
            self._sr_call(rec["SR"], "vdi_delete", vdi_uuid=rec["uuid"], vdi_ref=vdi)
        else:
            with self.lock:
                if any(self.db["VBD"].get(v, {}).get("currently_attached") for v in rec.get("VBDs", [])):
                    raise XapiFailure("VDI_IN_USE", vdi, "destroy")
                del self.db["VDI"][vdi]
                path = self.content.pop(rec["uuid"], None)
            if path and os.path.exists(path):
                os.unlink(path)
        return ""

    def _vdi_copy(self, vdi, command):
        rec = self.record("VDI", vdi)
        params = self._sr_call(rec["SR"], command, vdi_uuid=rec["uuid"], vdi_ref=vdi, driver_params={})
        [(ref, _)] = self.find("VDI", uuid=params["uuid"])
        return ref

    def _VDI_snapshot(self, vdi, driver_params=None):
        return self._vdi_copy(vdi, "vdi_snapshot")

    def _VDI_clone(self, vdi, driver_params=None):
        return self._vdi_copy(vdi, "vdi_clone")

    # -- VM, VBD, VIF ------------------------------------------------------------------------------

    def _VM_create(self, record):
        _require(VM_REQUIRED, record)
        with self.lock:
            rec = dict({"name_description": "", "xenstore_data": {}, "tags": [], "is_control_domain": False,
                        "resident_on": NULL, "blocked_operations": {}}, **record)
            rec.update({"power_state": "Halted", "VBDs": [], "VIFs": []})
            return self.add("VM", rec)

    def _VM_clone(self, vm, new_name):
        return self._vm_copy(vm, new_name, None)

    def _VM_copy(self, vm, new_name, sr):
        """A full copy; its disks go to ``sr`` (OpaqueRef:NULL: next to the originals)."""
        return self._vm_copy(vm, new_name, None if sr in ("", NULL) else sr)

    def _vm_copy(self, vm, new_name, sr):
        """What clone and copy share here: a new VM (still a template if the original is one, as in
        xapi) with copies of the original's disks and their content; the VIFs are not copied."""
        with self.lock:
            orig = self.record("VM", vm)
            if orig["power_state"] != "Halted":
                raise XapiFailure("VM_BAD_POWER_STATE", vm, "halted", orig["power_state"].lower())
            if sr is not None:
                self.record("SR", sr)
            rec = dict(orig)
            rec.update({"name_label": new_name, "power_state": "Halted", "VBDs": [], "VIFs": [],
                        "other_config": dict(orig.get("other_config", {})), "resident_on": NULL,
                        "xenstore_data": dict(orig.get("xenstore_data", {})), "tags": list(orig.get("tags", []))})
            rec.pop("uuid", None)
            new = self.add("VM", rec)
            for vbd in orig["VBDs"]:
                vbd_rec = dict(self.db["VBD"][vbd])
                vdi = vbd_rec.get("VDI")
                if vdi in self.db["VDI"]:
                    vbd_rec["VDI"] = self._copy_vdi(vdi, sr or self.db["VDI"][vdi]["SR"])
                vbd_rec["VM"] = new
                vbd_rec["currently_attached"] = False
                vbd_rec.pop("uuid", None)
                self._VBD_create(vbd_rec)
            return new

    def _copy_vdi(self, vdi, sr):
        src = self.db["VDI"][vdi]
        if self.db["SR"][src["SR"]]["type"] == "xosan" or self.db["SR"][sr]["type"] == "xosan":
            raise XapiFailure("INTERNAL_ERROR", "the lab copies VM disks between local SRs only")
        rec = dict(src)
        rec.update({"SR": sr, "VBDs": [], "location": str(uuidlib.uuid4()), "other_config": {},
                    "sm_config": {}, "tags": [], "uuid": str(uuidlib.uuid4())})
        ref = self.add("VDI", rec)
        path = self.content.get(src["uuid"])
        if path:
            copy = os.path.join(self.store_dir, rec["uuid"] + os.path.splitext(path)[1])
            try:  # nothing writes an uploaded image here: a hard link is a copy that costs nothing
                os.link(path, copy)
            except OSError:
                shutil.copyfile(path, copy)
            self.content[rec["uuid"]] = copy
        return ref

    def _VM_provision(self, vm):
        self.record("VM", vm)
        return ""

    def _VBD_create(self, record):
        _require(VBD_REQUIRED, record)
        with self.lock:
            self.record("VM", record["VM"])
            if record["VDI"] not in ("", NULL):
                self.record("VDI", record["VDI"])
            rec = dict({"other_config": {}, "currently_attached": False, "mode": "RW", "type": "Disk",
                        "bootable": False, "empty": False}, **record)
            ref = self.add("VBD", rec)
            self.db["VM"][record["VM"]]["VBDs"].append(ref)
            if record.get("VDI") in self.db["VDI"]:
                self.db["VDI"][record["VDI"]].setdefault("VBDs", []).append(ref)
            return ref

    def _VIF_create(self, record):
        with self.lock:
            self.record("VM", record["VM"])
            self.record("network", record["network"])
            ref = self.add("VIF", dict({"other_config": {}, "currently_attached": False, "MAC": ""}, **record))
            self.db["VM"][record["VM"]]["VIFs"].append(ref)
            self.db["network"][record["network"]].setdefault("VIFs", []).append(ref)
            return ref

    def _node_for(self, vm):
        uuid = self.db["VM"][vm]["uuid"]
        for n in self.lab.nodes:
            if n.state.get("vm_uuid") == uuid:
                return n
        return None

    def _VM_start(self, vm, start_paused=False, force=False):
        rec = self.record("VM", vm)
        host = rec.get("affinity") if rec.get("affinity") in self.db["host"] else self.hosts[0]
        return self._VM_start_on(vm, host, start_paused, force)

    def _VM_start_on(self, vm, host, start_paused=False, force=False):
        rec = self.record("VM", vm)
        self.record("host", host)
        if rec.get("is_a_template"):
            raise XapiFailure("VM_IS_TEMPLATE", vm)
        if rec["power_state"] == "Running":
            raise XapiFailure("VM_BAD_POWER_STATE", vm, "halted", "running")
        self._check_disks_reachable(vm, rec, host)
        if self._boots_an_image(rec):
            self._boot_appliance(vm, rec)
        with self.lock:
            rec["power_state"] = "Running"
            rec["resident_on"] = host
        return ""

    def _check_disks_reachable(self, vm, rec, host):
        for vbd in rec["VBDs"]:
            vdi = self.db["VBD"][vbd].get("VDI")
            if vdi not in self.db["VDI"]:
                continue
            sr = self.db["VDI"][vdi]["SR"]
            srrec = self.db["SR"][sr]
            if not srrec["shared"] and not any(self.db["PBD"][p]["host"] == host for p in srrec["PBDs"]):
                raise XapiFailure("VM_REQUIRES_SR", vm, sr)

    def _boots_an_image(self, rec):
        """An HVM guest whose bootable disk 0 holds an uploaded VHD."""
        if rec.get("HVM_boot_policy") != "BIOS order" or "c" not in rec.get("HVM_boot_params", {}).get("order", ""):
            return False
        for vbd in rec["VBDs"]:
            v = self.db["VBD"][vbd]
            if v.get("userdevice") == "0" and _bool(v.get("bootable")) and v.get("VDI") in self.db["VDI"]:
                path = self.content.get(self.db["VDI"][v["VDI"]]["uuid"], "")
                return path.endswith(".vhd") and os.path.exists(path)
        return False

    def _boot_appliance(self, vm, rec):
        """What the appliance does at boot, done by the lab: read vm-data, bring up a node."""
        cfg = from_xenstore_data(rec.get("xenstore_data"))
        for key in ("ip", "prefix", "authorized-key", "host-key"):
            if not cfg.get(key):
                raise XapiFailure("INTERNAL_ERROR", "lab appliance %s: no vm-data/xosan/%s" % (rec["name_label"], key))
        data = [self.db["VDI"][self.db["VBD"][v]["VDI"]] for v in rec["VBDs"]
                if self.db["VBD"][v].get("VDI") in self.db["VDI"] and self.db["VBD"][v].get("userdevice") != "0"]
        if not data:
            raise XapiFailure("INTERNAL_ERROR", "lab appliance %s has no data disk" % rec["name_label"])
        brick_size = max(int(d["virtual_size"]) for d in data)
        node = self._node_for(vm)
        if node is None:
            index = max([n.state["index"] for n in self.lab.nodes] + [0]) + 1
            node = LabNode.new(self.lab.state["lab_id"], index, cfg["ip"], int(cfg["prefix"]),
                               self.lab.state["workdir"], self.lab.state["bridge"], brick_size=brick_size,
                               use_loop=self.lab.state["use_loop"])
            node.state["vm_uuid"] = rec["uuid"]
            node.state["vm_name"] = rec["name_label"]
            self.lab.nodes.append(node)
        os.makedirs(node.ssh_dir, exist_ok=True)
        key = os.path.join(node.ssh_dir, "ssh_host_ed25519_key")
        with open(key, "wb") as fh:
            fh.write(base64.b64decode(cfg["host-key"]))
        os.chmod(key, 0o600)
        if os.path.exists(key + ".pub"):
            os.unlink(key + ".pub")
        node.start(authorized_keys=[cfg["authorized-key"]])
        if rec["name_label"] in self.faults["unreachable"]:
            node.cut()
        self.lab.save()

    def _VM_clean_shutdown(self, vm):
        return self._VM_hard_shutdown(vm)

    def _VM_hard_shutdown(self, vm):
        rec = self.record("VM", vm)
        if rec["power_state"] != "Running":
            raise XapiFailure("VM_BAD_POWER_STATE", vm, "running", rec["power_state"].lower())
        node = self._node_for(vm)
        if node is not None:
            node.kill()
            self.lab.save()
        with self.lock:
            rec["power_state"] = "Halted"
            rec["resident_on"] = "OpaqueRef:NULL"
        return ""

    def _VM_destroy(self, vm):
        rec = self.record("VM", vm)
        if rec["power_state"] != "Halted":
            raise XapiFailure("VM_BAD_POWER_STATE", vm, "halted", rec["power_state"].lower())
        node = self._node_for(vm)
        if node is not None:
            node.destroy()
            self.lab.nodes.remove(node)
            self.lab.save()
        with self.lock:
            for vbd in rec["VBDs"]:
                gone = self.db["VBD"].pop(vbd, None) or {}
                vdi = self.db["VDI"].get(gone.get("VDI"))
                if vdi and vbd in vdi.get("VBDs", []):
                    vdi["VBDs"].remove(vbd)
            for vif in rec["VIFs"]:
                net = self.db["VIF"].get(vif, {}).get("network")
                if net in self.db["network"] and vif in self.db["network"][net].get("VIFs", []):
                    self.db["network"][net]["VIFs"].remove(vif)
                self.db["VIF"].pop(vif, None)
            del self.db["VM"][vm]
        return ""

    # -- network --------------------------------------------------------------------------------

    def _network_create(self, record):
        with self.lock:
            rec = dict({"PIFs": [], "VIFs": [], "MTU": "1500", "other_config": {}, "tags": [],
                        "name_description": ""}, **record)
            rec["bridge"] = "xapi%d" % len(self.db["network"])
            return self.add("network", rec)

    def _network_destroy(self, net):
        with self.lock:
            rec = self.record("network", net)
            if rec.get("VIFs"):
                raise XapiFailure("NETWORK_CONTAINS_VIF", net)
            if rec.get("PIFs"):
                raise XapiFailure("NETWORK_CONTAINS_PIF", net)
            del self.db["network"][net]
        return ""

    def _pool_create_VLAN_from_PIF(self, pif, network, vlan):
        """xapi (xapi_pool.ml): one VLAN on every host whose PIF is on the network of ``pif`` (the same
        NIC across the pool), all of them or none; returns the new (tagged) PIFs."""
        with self.lock:
            base = self.record("PIF", pif)
            self.record("network", network)
            untagged = [r for r, rec in self.db["PIF"].items()
                        if rec["network"] == base["network"] and str(rec.get("VLAN", "-1")) == "-1"]
            self._check_vlan(pif, network, vlan, untagged)
            return [self._make_vlan(u, network, vlan) for u in sorted(untagged, key=self._host_order)]

    def _VLAN_create(self, tagged_pif, tag, network):
        """xapi's VLAN.create: a VLAN on one host's PIF (its argument is the untagged PIF); returns the
        VLAN object."""
        with self.lock:
            self._check_vlan(tagged_pif, network, tag, [tagged_pif])
            return self.db["PIF"][self._make_vlan(tagged_pif, network, tag)]["VLAN_master_of"]

    def _host_order(self, pif):
        host = self.db["PIF"][pif]["host"]
        return self.hosts.index(host) if host in self.hosts else len(self.hosts)

    def _check_vlan(self, pif, network, vlan, untagged):
        """xapi's refusals (xapi_vlan.ml, xapi_pool.ml), before anything is made."""
        try:
            tag = int(vlan)
        except (TypeError, ValueError):
            raise XapiFailure("VLAN_TAG_INVALID", str(vlan))
        if not 0 <= tag <= 4094:
            raise XapiFailure("VLAN_TAG_INVALID", str(vlan))
        if str(self.db["PIF"][pif].get("VLAN", "-1")) != "-1":
            raise XapiFailure("PIF_IS_VLAN", pif)
        net = self.db["network"][network]
        if net.get("PIFs"):
            raise XapiFailure("NETWORK_ALREADY_CONNECTED", network, net["PIFs"][0])
        for u in untagged:
            for v in self.db["PIF"][u].get("VLAN_slave_of", []):
                if str(self.db["VLAN"][v]["tag"]) == str(tag):
                    raise XapiFailure("PIF_VLAN_EXISTS", u)

    def _make_vlan(self, untagged, network, vlan):
        base = self.db["PIF"][untagged]
        net = self.db["network"][network]
        host = base["host"]
        ref = self.add("PIF", {"device": base["device"], "host": host, "network": network, "VLAN": str(int(vlan)),
                               "management": False, "physical": False, "MTU": net.get("MTU", "1500"),
                               "ip_configuration_mode": "None", "IP": "", "netmask": "", "gateway": "",
                               "other_config": {}, "currently_attached": True, "VLAN_master_of": NULL,
                               "VLAN_slave_of": []})
        obj = self.add("VLAN", {"tagged_PIF": ref, "untagged_PIF": untagged, "tag": str(int(vlan)),
                                "other_config": {}})
        self.db["PIF"][ref]["VLAN_master_of"] = obj
        base.setdefault("VLAN_slave_of", []).append(obj)
        net.setdefault("PIFs", []).append(ref)
        self.db["host"][host]["PIFs"].append(ref)
        return ref

    def _VLAN_destroy(self, vlan):
        """xapi's VLAN.destroy: the VLAN and its tagged PIF (unplugged first)."""
        with self.lock:
            rec = self.record("VLAN", vlan)
            pif = rec["tagged_PIF"]
            prec = self.db["PIF"].get(pif)
            if prec is not None and prec.get("management"):
                raise XapiFailure("PIF_IS_MANAGEMENT_INTERFACE", pif)
            base = self.db["PIF"].get(rec["untagged_PIF"])
            if base is not None and vlan in base.get("VLAN_slave_of", []):
                base["VLAN_slave_of"].remove(vlan)
            del self.db["VLAN"][vlan]
            if prec is None:
                return ""
            self.db["network"][prec["network"]]["PIFs"].remove(pif)
            self.db["host"][prec["host"]]["PIFs"].remove(pif)
            del self.db["PIF"][pif]
        self._forget_dom0_address(prec)
        return ""

    def _PIF_destroy(self, pif):
        """Deprecated in xapi for VLAN.destroy, which it calls: only a VLAN's PIF can go."""
        with self.lock:
            rec = self.record("PIF", pif)
            if rec.get("physical"):
                raise XapiFailure("PIF_IS_PHYSICAL", pif)
            vlan = rec.get("VLAN_master_of", NULL)
            if vlan in self.db["VLAN"]:
                return self._VLAN_destroy(vlan)
            self.db["network"][rec["network"]]["PIFs"].remove(pif)
            self.db["host"][rec["host"]]["PIFs"].remove(pif)
            del self.db["PIF"][pif]
        self._forget_dom0_address(rec)
        return ""

    def _forget_dom0_address(self, rec):
        """A PIF that carried its host's storage address took the address with it."""
        current = self.lab_host(rec["host"])
        if rec.get("ip_configuration_mode") == "Static" and not rec.get("management") and current is not None \
                and current.ip == rec.get("IP"):
            self._set_dom0_address(rec["host"], None, None)

    def _PIF_reconfigure_ip(self, pif, mode, ip, netmask, gateway, dns):
        rec = self.record("PIF", pif)
        with self.lock:
            rec.update({"ip_configuration_mode": mode, "IP": ip if mode == "Static" else "",
                        "netmask": netmask if mode == "Static" else "", "gateway": gateway})
        if not rec.get("management"):
            prefix = ipaddress.IPv4Network("0.0.0.0/%s" % netmask).prefixlen if mode == "Static" else None
            self._set_dom0_address(rec["host"], ip if mode == "Static" else None, prefix)
        return ""

    def _set_dom0_address(self, host, ip, prefix):
        """A host's dom0 on the storage network = a LabHost namespace with that address."""
        name = self.db["host"][host]["name_label"]
        current = self.lab_host(host)
        if current is not None and (ip is None or current.ip != ip):
            current.destroy()
            self.lab.hosts.remove(current)
            current = None
        if ip is not None and current is None:
            h = LabHost.new(self.lab.state["lab_id"], self.hosts.index(host) + 1, ip, prefix,
                            self.lab.state["bridge"])
            h.state["xapi_host"] = name
            self.lab.hosts.append(h)
            h.create()
        self.lab.save()

    # -- host -----------------------------------------------------------------------------------------

    def _host_get_by_name_label(self, label):
        return [r for r, h in self.db["host"].items() if h["name_label"] == label]

    # -- host plugins ---------------------------------------------------------------------------------

    def _host_call_plugin(self, host, plugin, fn, args):
        """host.call_plugin as xapi runs it (ocaml/xapi/xapi_plugins.ml): plugins/<plugin> (the file
        installed as /etc/xapi.d/plugins/<plugin>) is exec'd with one argument, an XML-RPC call
        ``fn(session, {args})``, as the host concerned (its network namespace, the SM driver's
        environment); the result struct it prints is the answer (a string) or the XAPI failure.
        The plugin gets the lab's SM session, not the caller's."""
        import subprocess
        import xmlrpc.client

        from xosan_lab.smrunner import ROOT
        self.record("host", host)
        path = os.path.join(ROOT, "plugins", plugin)
        if not plugin or "/" in plugin or plugin.startswith(".") or not os.path.isfile(path):
            raise XapiFailure("XENAPI_MISSING_PLUGIN", plugin)
        args = dict((str(k), str(v)) for k, v in (args or {}).items())
        dom0 = self.dom0(host, storage=False)
        try:
            request = xmlrpc.client.dumps((SM_SESSION, args), fn)
            res = subprocess.run(dom0.argv(["/etc/xapi.d/plugins/" + plugin, request]),
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=dom0.env(), timeout=300,
                                 universal_newlines=True)
        except subprocess.TimeoutExpired as exc:
            raise XapiFailure("XENAPI_PLUGIN_FAILURE", "timeout", exc.stdout or "", exc.stderr or "")
        if res.returncode != 0:
            raise XapiFailure("XENAPI_PLUGIN_FAILURE", "non-zero exit", res.stdout, res.stderr)
        try:
            (answer,), _ = xmlrpc.client.loads(res.stdout)
        except xmlrpc.client.Fault as f:
            raise XapiFailure("XENAPI_PLUGIN_FAILURE", "fault", f.faultCode, f.faultString)
        except Exception as exc:
            raise XapiFailure("XENAPI_PLUGIN_FAILURE", "failed to parse plugin output", res.stdout, str(exc))
        if isinstance(answer, dict) and answer.get("Status") == "Success" and isinstance(answer.get("Value"), str):
            return answer["Value"]
        if isinstance(answer, dict) and answer.get("Status") == "Failure" and answer.get("ErrorDescription"):
            raise XapiFailure(*answer["ErrorDescription"])
        raise XapiFailure("XENAPI_PLUGIN_FAILURE", "unexpected XMLRPC result", res.stdout)
