"""The storage VMs as XAPI objects: their template, creating, starting, stopping, destroying.

Each VM is tagged (deployment, and the host it belongs on) only once it is whole, so a
re-run recognises the ones to keep and a half-made one never counts as done; what
XOSAN expects inside the VM is in storage_vm.
"""

import time

from xosan import facts
from xosan.errors import DeployError, XosanError
from xosan.pool import appliance, planner, storage_vm, xo
from xosan.pool.inventory import address_of


class Placement(object):
    """Where one storage VM goes: its host (ref, record), the host's local SR that takes both its
    disks, its storage address and the size of its data disk."""

    def __init__(self, ref, record, local_sr, vm_address, brick_bytes):
        self.ref = ref
        self.record = record
        self.local_sr = local_sr
        self.vm_address = vm_address
        self.brick_bytes = brick_bytes

    name = property(lambda self: self.record["name_label"])
    uuid = property(lambda self: self.record["uuid"])


class StorageVMs(object):
    def __init__(self, xapi, inventory, access, manifest, network, ssh_timeout=180):
        self.x = xapi
        self.api = xapi.api
        self.inventory = inventory
        self.access = access
        self.m = manifest
        self.network = network
        self.ssh_timeout = ssh_timeout
        self.id = inventory.id
        self._template_ref = None  # asked for once per VM made: found (or imported) once per command

    # -- the template ----------------------------------------------------------------------------

    def template(self, p=None, import_host=None):
        """The storage VM template: the one made from vm.image (imported now if the pool lacks it),
        else the newest imported appliance, else a template named vm.template."""
        if self._template_ref:
            return self._template_ref
        say = p.info if p else (lambda text: None)
        vm = self.m.vm
        if vm.image:
            try:
                image = appliance.load_image(vm.image)
            except appliance.ApplianceError as exc:
                raise self.m.error("vm.image", exc.message, exc.hint)
            ref = appliance.find_template(self.x, sha256=image.sha256)
            if ref:
                say("%s: imported earlier" % image.describe())
            else:
                sr_ref, sr = self._image_sr(import_host)
                say("importing %s into SR %r" % (image.describe(), sr["name_label"]))
                ref = appliance.import_template(self.x, image, sr_ref, vm.template, self.id, progress=say)
                say("template %r made (HVM, BIOS boot)" % vm.template)
        else:
            ref = appliance.find_template(self.x, name=vm.template)
            if not ref:
                raise DeployError("the pool has no XOSAN storage VM template (imported appliance or one "
                                  "named %r)" % vm.template,
                                  hint="Give the appliance built by `make appliance`: vm.image in the manifest "
                                       "or --image build/appliance/manifest.json; it is imported once per pool")
            say("using template %r" % self.x.call(self.api.VM.get_name_label, ref))
        self._template_ref = ref
        return ref

    def _image_sr(self, host):
        """Where the image goes: vm.image-sr by name, else the master's local SR (the one deploy would
        use there; the master takes the upload itself), else the first host's."""
        if self.m.vm.image_sr != "auto":
            found = [(r, rec) for r, rec in self.x.call(self.api.SR.get_all_records).items()
                     if rec["name_label"] == self.m.vm.image_sr and rec.get("content_type") != "iso"]
            if not found:
                raise self.m.error("vm.image-sr", "no SR named %r in the pool" % self.m.vm.image_sr,
                                   "Name an SR from xe sr-list, or auto (the master's local SR)")
            return found[0]
        master = self.inventory.master()
        try:
            return self.inventory.local_sr(master, self.x.call(self.api.host.get_record, master), self.m.storage.sr)
        except DeployError:
            if host is None:
                ref, rec = self.inventory.chosen_hosts(self.m.hosts)[0]
                return self.inventory.local_sr(ref, rec, self.m.storage.sr)
            return host.local_sr, self.x.call(self.api.SR.get_record, host.local_sr)

    def remove_imported_template(self, p):
        """The template this deployment imported (one another deployment imported stays)."""
        for ref, rec in appliance.templates(self.x):
            if rec["other_config"].get(appliance.IMPORTED_BY_KEY) == self.id:
                appliance.remove_template(self.x, ref)
                p.info("destroyed %r (imported by this deployment) and its disk" % rec["name_label"])

    # -- making them -----------------------------------------------------------------------------

    def provision(self, p, placements, net):
        """A running storage VM for each Placement (made unless an earlier run made it), their host
        keys pinned for SSH."""
        keys = self.access.ensure_keys(placements)
        vms = [self.ensure(p, pl, net, keys) for pl in placements]
        self.pin_host_keys()
        return vms

    def pin_host_keys(self):
        self.access.pin([(address_of(rec), rec["other_config"].get(facts.TAG_HOST))
                         for _, rec in self.inventory.mine("VM")])

    def ensure(self, p, pl, net, keys):
        found = [(r, rec) for r, rec in self.inventory.mine("VM")
                 if rec["other_config"].get(facts.TAG_HOST) == pl.uuid]
        if found:
            vm, rec = found[0]
            p.info("%s: storage VM exists (%s)" % (pl.name, rec["power_state"].lower()))
        else:
            vm = self._create(p, pl, net, keys)
            rec = self.x.call(self.api.VM.get_record, vm)
        if xo.NO_BACKUP_TAG not in rec.get("tags", []):  # also on VMs of a deployment made before it existed
            self.x.call(self.api.VM.add_tags, vm, xo.NO_BACKUP_TAG)
        if rec["power_state"] != "Running":
            p.info("%s: starting the storage VM" % pl.name)
            self.start(vm, pl.ref)
        return vm

    def _system_disks_on(self, template, sr):
        """Whether every disk of ``template`` is on ``sr`` (then a clone is a local, fast copy-on-write)."""
        for vbd in self.x.call(self.api.VM.get_VBDs, template):
            vdi = self.x.call(self.api.VBD.get_VDI, vbd)
            if vdi not in ("", "OpaqueRef:NULL") and self.x.call(self.api.VDI.get_SR, vdi) != sr:
                return False
        return True

    def _create(self, p, pl, net, keys):
        name = "XOSAN storage VM (%s)" % pl.name
        p.info("%s: creating %r, %s data disk on the local SR" % (pl.name, name, planner.format_bytes(pl.brick_bytes)))
        template = self.template()
        # The system disk must live on the host's own local SR: a storage VM has to boot with
        # every other host down. VM.copy puts full disks there; a clone stays on the template's SR.
        if self._system_disks_on(template, pl.local_sr):
            vm = self.x.run_async("VM.clone", template, name)
        else:
            p.info("%s: copying the template's system disk to the local SR" % pl.name)
            vm = self.x.run_async("VM.copy", template, name, pl.local_sr)
        vdi = None
        api = self.api
        n = self.m.network
        try:
            self.x.call(api.VM.set_is_a_template, vm, False)
            self.x.call(api.VM.set_affinity, vm, pl.ref)
            mem = str(self.m.vm.memory)
            self.x.call(api.VM.set_memory_limits, vm, mem, mem, mem, mem)
            self.x.call(api.VM.set_VCPUs_max, vm, str(self.m.vm.vcpus))
            self.x.call(api.VM.set_VCPUs_at_startup, vm, str(self.m.vm.vcpus))
            self.x.call(api.VM.set_xenstore_data, vm, storage_vm.xenstore_data({
                "hostname": "xosan-%s" % pl.name, "ip": pl.vm_address, "prefix": self.network.net.prefixlen,
                "gateway": n.gateway, "mtu": n.mtu,
                "authorized-key": keys["authorized"], "host-key": keys["hosts"][pl.uuid], "deployment": self.id}))
            vdi = self.x.call(api.VDI.create, {
                "name_label": "XOSAN data (%s)" % pl.name, "name_description": "brick of the XOSAN volume %s" % self.id,
                "SR": pl.local_sr, "virtual_size": str(pl.brick_bytes), "type": "user", "sharable": False,
                "read_only": False, "other_config": {facts.TAG_DEPLOYMENT: self.id}, "xenstore_data": {},
                "sm_config": {}, "tags": []})
            self.x.call(api.VBD.create, {
                "VM": vm, "VDI": vdi, "userdevice": "1", "bootable": False, "mode": "RW", "type": "Disk",
                "empty": False, "other_config": {}, "qos_algorithm_type": "", "qos_algorithm_params": {}})
            self.x.call(api.VIF.create, {
                "device": "0", "network": net, "VM": vm, "MAC": "", "MTU": str(n.mtu),
                "other_config": {}, "qos_algorithm_type": "", "qos_algorithm_params": {}})
            # marked last: an object carries the tag only once it is whole
            self.x.call(api.VM.add_to_other_config, vm, facts.TAG_HOST, pl.uuid)
            self.x.call(api.VM.add_to_other_config, vm, facts.TAG_DEPLOYMENT, self.id)
        except XosanError:
            try:  # with its copied system disk and, once attached, the data disk
                self.destroy(vm, self.x.call(api.VM.get_record, vm))
            except XosanError:
                pass
            if vdi:
                try:
                    self.x.call(api.VDI.destroy, vdi)
                except XosanError:
                    pass
            raise
        return vm

    # -- running them ----------------------------------------------------------------------------

    def start(self, vm, host_ref):
        self.x.run_async("VM.start_on", vm, host_ref, False, False)

    def shutdown(self, vm):
        """A clean shutdown: glusterd and the brick say goodbye, so clients fail over at once."""
        self.x.run_async("VM.clean_shutdown", vm)

    def wait_reachable(self, p, named_addresses):
        """Wait until every (name, address) answers over SSH; return their SSHTargets."""
        targets = [self.access.target(a) for _, a in named_addresses]
        deadline = time.time() + self.ssh_timeout
        waiting = list(zip(named_addresses, targets))
        while waiting and time.time() < deadline:
            waiting = [(na, t) for na, t in waiting if not t.reachable(timeout=10)]
            if waiting:
                time.sleep(2)
        if waiting:
            raise DeployError("storage VM(s) not reachable over SSH after %d s: %s" % (
                self.ssh_timeout, ", ".join("%s (%s)" % na for na, _ in waiting)),
                hint="Check the VM console and its VIF on network %r; re-run deploy to resume, "
                     "or xosan deploy --rollback to undo" % self.m.network.name)
        for name, address in named_addresses:
            p.info("%s: %s answers" % (name, address))
        return targets

    # -- undo ------------------------------------------------------------------------------------

    def destroy(self, vm, rec):
        """Stop (hard: it is being thrown away) and destroy a storage VM and its disks."""
        if rec["power_state"] != "Halted":
            self.x.run_async("VM.hard_shutdown", vm)
        vdis = [self.x.call(self.api.VBD.get_VDI, vbd) for vbd in rec["VBDs"]]
        self.x.run_async("VM.destroy", vm)
        for vdi in vdis:
            if vdi and vdi != "OpaqueRef:NULL":
                self.x.call(self.api.VDI.destroy, vdi)

    def destroy_all(self, p):
        for vm, rec in self.inventory.mine("VM"):
            self.destroy(vm, rec)
            p.info("destroyed %r" % rec["name_label"])
        for vdi, _ in self.inventory.mine("VDI"):  # disks of VMs that never got whole
            self.x.call(self.api.VDI.destroy, vdi)
