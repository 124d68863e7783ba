"""``xosan deploy``: from a manifest to a plugged XOSAN SR, through XAPI.

Every object XOSAN creates carries ``other_config:xosan-deployment=<id>`` (the
id is the volume name), which is how a re-run finds what exists and resumes,
and how a rollback removes exactly what XOSAN made, nothing else. Each step
is idempotent; a step that fails half way undoes its own half-made object
(e.g. a VM without its disk) and leaves the completed steps for the re-run.
"""

import base64
import ipaddress
import os
import sys
import time

from xosan import facts, gluster
from xosan.errors import XosanError
from xosan.gluster import GlusterCLI, health, ssh
from xosan.gluster.options import volume_set_commands
from xosan.pool import appliance, planner, storage_vm

TAG = facts.TAG_DEPLOYMENT
DEFAULT_STATE_DIR = "/var/lib/xosan"
GiB = 1024 ** 3
MiB = 1024 ** 2
FIRST_VM_HOST_PART = facts.STORAGE_VM_OFFSET
FIRST_DOM0_HOST_PART = facts.DOM0_OFFSET


class DeployError(XosanError):
    pass


class HostPlan(object):
    """What deploy does on one host."""

    def __init__(self, ref, record, local_sr, vm_address, dom0_address, brick_bytes):
        self.ref = ref
        self.record = record
        self.local_sr = local_sr
        self.vm_address = vm_address
        self.dom0_address = dom0_address
        self.brick_bytes = brick_bytes

    name = property(lambda self: self.record["name_label"])
    uuid = property(lambda self: self.record["uuid"])


class Progress(object):
    def __init__(self, total, out=None):
        self.total = total
        self.n = 0
        self.out = out or sys.stdout
        self.t0 = time.time()

    def step(self, text):
        self.n += 1
        self.out.write("[%d/%d] %s\n" % (self.n, self.total, text))
        self.out.flush()

    def info(self, text):
        self.out.write("      %s\n" % text)
        self.out.flush()


class Deployment(object):
    STEPS = 9

    def __init__(self, xapi, manifest, state_dir=DEFAULT_STATE_DIR, out=None, ssh_timeout=180):
        self.x = xapi
        self.api = xapi.api
        self.m = manifest
        self.id = manifest.volume
        self.state_dir = os.path.join(state_dir, self.id)
        self.out = out or sys.stdout
        self.ssh_timeout = ssh_timeout
        self.network = ipaddress.IPv4Network(manifest.network.addresses, strict=False)
        self._template_ref = None

    # -- what is there ---------------------------------------------------------------------------

    def mine(self, cls):
        """(ref, record) of this deployment's objects of class ``cls``."""
        recs = self.x.call(getattr(self.api, cls).get_all_records)
        return [(r, rec) for r, rec in recs.items() if rec.get("other_config", {}).get(TAG) == self.id]

    def _hosts(self):
        recs = self.x.call(self.api.host.get_all_records)
        by_name = dict((rec["name_label"], (ref, rec)) for ref, rec in recs.items())
        if self.m.hosts == "all":
            chosen = sorted(by_name.values(), key=lambda rr: rr[1]["name_label"])
        else:
            missing = [h for h in self.m.hosts if h not in by_name]
            if missing:
                raise DeployError("hosts not in the pool: %s" % ", ".join(missing),
                                  hint="Pool hosts: %s" % ", ".join(sorted(by_name)))
            chosen = [by_name[h] for h in self.m.hosts]
        if len(chosen) < 2:
            raise DeployError("XOSAN needs at least 2 hosts, the pool has %d" % len(chosen))
        return chosen

    def local_sr(self, host_ref, host_rec):
        srs = self.x.call(self.api.SR.get_all_records)
        pbds = self.x.call(self.api.PBD.get_all_records)
        local = []
        for pbd in pbds.values():
            sr = srs.get(pbd["SR"])
            if pbd["host"] == host_ref and sr and not sr["shared"] and sr.get("content_type") == "user" \
                    and sr["type"] in ("lvm", "ext", "xfs", "file", "zfs", "largeblock"):
                local.append((pbd["SR"], sr))
        if self.m.storage.sr != "auto":
            local = [(r, s) for r, s in local if s["name_label"] == self.m.storage.sr]
        if not local:
            raise DeployError("host %s has no local SR%s to carve a data disk from" % (
                host_rec["name_label"], "" if self.m.storage.sr == "auto" else " named %r" % self.m.storage.sr),
                hint="Give storage.sr the name of the host's local SR, or add a local disk SR")
        return max(local, key=lambda rs: int(rs[1]["physical_size"]) - int(rs[1]["physical_utilisation"]))

    def address(self, host_part):
        return str(self.network.network_address + host_part)

    def plan(self):
        """HostPlans and the volume layout; raises DeployError/PlanError for impossible plans."""
        hosts = []
        for i, (ref, rec) in enumerate(self._hosts()):
            sr_ref, sr = self.local_sr(ref, rec)
            free = int(sr["physical_size"]) - int(sr["physical_utilisation"])
            existing = [v for v in self.mine("VDI") if v[1].get("SR") == sr_ref]
            free += sum(int(v[1]["virtual_size"]) for v in existing)  # a re-run counts its own disk as free
            if self.m.storage.brick_size == "all":
                size = (free - self.m.storage.reserve) // MiB * MiB
            else:
                size = self.m.storage.brick_size
                if size > free:
                    raise DeployError("host %s: brick size %s does not fit on SR %r (%s free)" % (
                        rec["name_label"], planner.format_bytes(size), sr["name_label"], planner.format_bytes(free)),
                        hint="Lower storage.brick-size or use brick-size: all")
            if size < GiB:
                raise DeployError("host %s: only %s free on SR %r after the %s reserve" % (
                    rec["name_label"], planner.format_bytes(max(size, 0)), sr["name_label"],
                    planner.format_bytes(self.m.storage.reserve)), hint="Free space on the local SR")
            for host_part in (FIRST_VM_HOST_PART + i, FIRST_DOM0_HOST_PART + i):
                if self.network.network_address + host_part not in self.network:
                    raise DeployError("network.addresses %s has no room for %d hosts" % (self.network, i + 1))
            hosts.append(HostPlan(ref, rec, sr_ref, self.address(FIRST_VM_HOST_PART + i),
                                  self.address(FIRST_DOM0_HOST_PART + i), size))
        nodes = [planner.NodeSpec(h.name, h.vm_address, h.brick_bytes) for h in hosts]
        if self.m.witness:
            nodes.append(planner.NodeSpec("witness", self.m.witness, 10 * GiB, witness=True))
        d = self.m.disperse
        layout = planner.plan_layout(nodes, self.m.layout, d.data if d else None, d.redundancy if d else None)
        return hosts, layout

    def describe_plan(self, hosts, layout):
        lines = ["XOSAN deployment %r on %s" % (self.id, self.x.url),
                 "Storage network %r (%s, %s), MTU %s" % (self.m.network.name, self.m.network.mode,
                                                          self.network, self.m.network.mtu)]
        for h in hosts:
            lines.append("  %-20s storage VM %-15s dom0 %-15s data disk %s" % (
                h.name, h.vm_address, h.dom0_address, planner.format_bytes(h.brick_bytes)))
        if self.m.witness:
            lines.append("  %-20s witness    %-15s (arbiter bricks only)" % ("witness", self.m.witness))
        lines.append(layout.describe())
        if self.m.vm.image:
            lines.append("Storage VM template %r from %s (imported once per pool)" % (self.m.vm.template,
                                                                                   self.m.vm.image))
        else:
            lines.append("Storage VM template: the pool's imported appliance, or %r" % self.m.vm.template)
        lines.append("SR %r of type xosan, shared, on volume %r" % (self.m.sr_name, self.m.volume))
        return "\n".join(lines)

    # -- the steps -----------------------------------------------------------------------------------

    def run(self):
        hosts, layout = self.plan()
        p = Progress(self.STEPS, self.out)
        p.step("plan")
        for line in self.describe_plan(hosts, layout).splitlines():
            p.info(line)
        p.step("storage VM template")
        self.template(p, hosts[0])
        p.step("storage network")
        net = self.network_ref(p)
        p.step("storage VMs on %d hosts" % len(hosts))
        keys = self.ssh_keys(hosts)
        for h in hosts:
            self.storage_vm(p, h, net, keys)
        self.refresh_known_hosts()
        p.step("waiting for the storage VMs over SSH")
        targets = self.wait_reachable(p, [(h.name, h.vm_address) for h in hosts])
        if self.m.witness and not self.ssh_target(self.m.witness).reachable(timeout=10):
            raise DeployError("the witness %s is not reachable over SSH" % self.m.witness,
                              hint="Install the deployment key %s.pub on it" % os.path.join(
                                  self.state_dir, "ssh", "id_ed25519"))
        p.step("trusted storage pool")
        nodes = [t.address for t in targets] + ([self.m.witness] if self.m.witness else [])
        clis = self.node_clis(nodes)
        first = clis[nodes[0]]
        self.wait_glusterd(p, nodes, clis)
        self._peer_probe(p, first, nodes[1:], clis)
        p.step("volume %s" % self.m.volume)
        self._volume(p, first, targets, layout)
        p.step("dom0 addresses on the storage network")
        self.dom0_addresses(p, net, dict((h.ref, h.dom0_address) for h in hosts))
        p.step("SR %r" % self.m.sr_name)
        sr = self._sr(p, hosts, layout)
        return sr, first

    def network_ref(self, p):
        n = self.m.network
        nets = self.x.call(self.api.network.get_all_records)
        if n.mode == "existing":
            found = [r for r, rec in nets.items() if rec["name_label"] == n.name]
            if not found:
                raise DeployError("no network named %r in the pool" % n.name,
                                  hint="Name an existing network (xe network-list) or use network.mode: vlan")
            p.info("using network %r" % n.name)
            return found[0]
        mine = [r for r, rec in nets.items() if rec.get("other_config", {}).get(TAG) == self.id]
        if mine:
            p.info("network %r exists (made by an earlier run)" % n.name)
            return mine[0]
        pifs = self.x.call(self.api.PIF.get_all_records)
        master = self.x.call(self.api.pool.get_master, self.x.call(self.api.pool.get_all)[0])
        base = [r for r, rec in pifs.items() if rec["host"] == master and rec["device"] == n.pif
                and rec.get("VLAN", "-1") in ("-1", -1)]
        if not base:
            raise DeployError("the pool master has no physical interface %r for the VLAN" % n.pif,
                              hint="Set network.pif to a device shown by xe pif-list")
        net = self.x.call(self.api.network.create, {
            "name_label": n.name, "name_description": "XOSAN storage network", "MTU": str(n.mtu),
            "other_config": {TAG: self.id}, "tags": []})
        self.x.call(self.api.pool.create_VLAN_from_PIF, base[0], net, str(n.vlan))
        p.info("created VLAN %s on %s: network %r" % (n.vlan, n.pif, n.name))
        return net

    def ssh_keys(self, hosts):
        """The deployment key and one host key per host (kept in the state dir for re-runs)."""
        d = os.path.join(self.state_dir, "ssh")
        pub = ssh.generate_key(os.path.join(d, "id_ed25519"), comment="xosan-%s" % self.id)
        host_keys = {}
        for h in hosts:
            path = os.path.join(d, "hostkeys", h.uuid)
            ssh.generate_key(path, comment="xosan-%s-%s" % (self.id, h.name))
            with open(path, "rb") as fh:
                host_keys[h.uuid] = base64.b64encode(fh.read()).decode("ascii")
        return {"authorized": pub, "hosts": host_keys}

    def refresh_known_hosts(self):
        """Pin each storage VM's address to the host key deploy gave it."""
        d = os.path.join(self.state_dir, "ssh")
        lines = []
        for _, rec in self.mine("VM"):
            ip = storage_vm.from_xenstore_data(rec.get("xenstore_data")).get("ip")
            pub = os.path.join(d, "hostkeys", rec["other_config"].get(facts.TAG_HOST, "") + ".pub")
            if ip and os.path.exists(pub):
                with open(pub) as fh:
                    lines.append(ssh.known_hosts_line(ip, fh.read().strip()))
        ssh.write_known_hosts(os.path.join(d, "known_hosts"), lines)

    def ssh_target(self, address):
        d = os.path.join(self.state_dir, "ssh")
        return ssh.SSHTarget(address, os.path.join(d, "id_ed25519"), os.path.join(d, "known_hosts"))

    def template(self, p=None, import_host=None):
        """The storage VM template: the one made from vm.image (imported now if the pool lacks it),
        else the newest imported appliance, else a template named vm.template."""
        if self._template_ref:
            return self._template_ref
        say = p.info if p else (lambda text: None)
        if self.m.vm.image:
            try:
                image = appliance.load_image(self.m.vm.image)
            except appliance.ApplianceError as exc:
                raise self.m.error("vm.image", exc.message, exc.hint)
            ref = appliance.find_template(self.x, sha256=image.sha256)
            if ref:
                say("%s: imported earlier" % image.describe())
            else:
                sr_ref, sr = self._image_sr(import_host)
                say("importing %s into SR %r" % (image.describe(), sr["name_label"]))
                ref = appliance.import_template(self.x, image, sr_ref, self.m.vm.template, self.id, progress=say)
                say("template %r made (HVM, BIOS boot)" % self.m.vm.template)
        else:
            ref = appliance.find_template(self.x, name=self.m.vm.template)
            if not ref:
                raise DeployError("the pool has no XOSAN storage VM template (imported appliance or one "
                                  "named %r)" % self.m.vm.template,
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
        master = self.x.call(self.api.pool.get_master, self.x.call(self.api.pool.get_all)[0])
        try:
            return self.local_sr(master, self.x.call(self.api.host.get_record, master))
        except DeployError:
            if host is None:
                ref, rec = self._hosts()[0]
                return self.local_sr(ref, rec)
            return host.local_sr, self.x.call(self.api.SR.get_record, host.local_sr)

    def _system_disks_on(self, template, sr):
        """Whether every disk of ``template`` is on ``sr`` (then a clone is a local, fast copy-on-write)."""
        for vbd in self.x.call(self.api.VM.get_VBDs, template):
            vdi = self.x.call(self.api.VBD.get_VDI, vbd)
            if vdi not in ("", "OpaqueRef:NULL") and self.x.call(self.api.VDI.get_SR, vdi) != sr:
                return False
        return True

    def storage_vm(self, p, h, net, keys):
        found = [(r, rec) for r, rec in self.mine("VM") if rec["other_config"].get(facts.TAG_HOST) == h.uuid]
        if found:
            vm, rec = found[0]
            p.info("%s: storage VM exists (%s)" % (h.name, rec["power_state"].lower()))
        else:
            vm = self._create_vm(p, h, net, keys)
            rec = self.x.call(self.api.VM.get_record, vm)
        if rec["power_state"] != "Running":
            p.info("%s: starting the storage VM" % h.name)
            self.x.run_async("VM.start_on", vm, h.ref, False, False)
        return vm

    def _create_vm(self, p, h, net, keys):
        name = "XOSAN storage VM (%s)" % h.name
        p.info("%s: creating %r, %s data disk on the local SR" % (h.name, name, planner.format_bytes(h.brick_bytes)))
        template = self.template()
        # The system disk must live on the host's own local SR: a storage VM has to boot with
        # every other host down. VM.copy puts full disks there; a clone stays on the template's SR.
        if self._system_disks_on(template, h.local_sr):
            vm = self.x.run_async("VM.clone", template, name)
        else:
            p.info("%s: copying the template's system disk to the local SR" % h.name)
            vm = self.x.run_async("VM.copy", template, name, h.local_sr)
        vdi = None
        try:
            api = self.api
            self.x.call(api.VM.set_is_a_template, vm, False)
            self.x.call(api.VM.set_affinity, vm, h.ref)
            mem = str(self.m.vm.memory)
            self.x.call(api.VM.set_memory_limits, vm, mem, mem, mem, mem)
            self.x.call(api.VM.set_VCPUs_max, vm, str(self.m.vm.vcpus))
            self.x.call(api.VM.set_VCPUs_at_startup, vm, str(self.m.vm.vcpus))
            self.x.call(api.VM.set_xenstore_data, vm, storage_vm.xenstore_data({
                "hostname": "xosan-%s" % h.name, "ip": h.vm_address, "prefix": self.network.prefixlen,
                "gateway": self.m.network.gateway, "mtu": self.m.network.mtu,
                "authorized-key": keys["authorized"], "host-key": keys["hosts"][h.uuid], "deployment": self.id}))
            vdi = self.x.call(api.VDI.create, {
                "name_label": "XOSAN data (%s)" % h.name, "name_description": "brick of the XOSAN volume %s" % self.id,
                "SR": h.local_sr, "virtual_size": str(h.brick_bytes), "type": "user", "sharable": False,
                "read_only": False, "other_config": {TAG: self.id}, "xenstore_data": {}, "sm_config": {},
                "tags": []})
            self.x.call(api.VBD.create, {
                "VM": vm, "VDI": vdi, "userdevice": "1", "bootable": False, "mode": "RW", "type": "Disk",
                "empty": False, "other_config": {}, "qos_algorithm_type": "", "qos_algorithm_params": {}})
            self.x.call(api.VIF.create, {
                "device": "0", "network": net, "VM": vm, "MAC": "", "MTU": str(self.m.network.mtu),
                "other_config": {}, "qos_algorithm_type": "", "qos_algorithm_params": {}})
            # marked last: an object carries the tag only once it is whole
            self.x.call(api.VM.add_to_other_config, vm, facts.TAG_HOST, h.uuid)
            self.x.call(api.VM.add_to_other_config, vm, TAG, self.id)
        except XosanError:
            try:  # with its copied system disk and, once attached, the data disk
                self.destroy_vm(vm, self.x.call(api.VM.get_record, vm))
            except XosanError:
                pass
            if vdi:
                try:
                    self.x.call(api.VDI.destroy, vdi)
                except XosanError:
                    pass
            raise
        return vm

    def wait_reachable(self, p, named_addresses):
        """Wait until every (name, address) answers over SSH; return their SSHTargets."""
        targets = [self.ssh_target(a) for _, a in named_addresses]
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

    def node_cli(self, address, timeout=60):
        """A GlusterCLI over SSH on the storage node (or witness) at ``address``."""
        target = self.ssh_target(address)
        return GlusterCLI(runner=target.run, where=address, timeout=timeout)

    def node_clis(self, addresses):
        return dict((a, self.node_cli(a)) for a in addresses)

    def wait_glusterd(self, p, addresses, clis=None, timeout=gluster.GLUSTERD_TIMEOUT):
        """After a storage VM (re)started: SSH answering does not mean its glusterd does yet."""
        clis = clis or self.node_clis(addresses)
        gluster.wait_for_glusterd(dict((a, clis[a]) for a in addresses), timeout)
        p.info("glusterd answers on %s" % ", ".join(addresses))

    def wait_peers(self, p, clis, members=None, timeout=gluster.PEER_TIMEOUT):
        """Until glusterd on every node of ``clis`` sees each member as 'Peer in Cluster'."""
        gluster.wait_for_peers(clis, members, timeout)
        p.info("%s: '%s' on %s" % (", ".join(members if members is not None else sorted(clis)),
                                   gluster.PEER_IN_CLUSTER, ", ".join(sorted(clis))))

    def wait_bricks(self, p, cli, bricks=None, timeout=gluster.BRICKS_TIMEOUT):
        gluster.wait_for_bricks(cli, self.id, bricks, timeout)
        p.info("%s online" % ("%d brick(s)" % len(bricks) if bricks else "every brick"))

    def gluster_cli(self, exclude=()):
        """A GlusterCLI over SSH on the first storage VM that answers."""
        for _, rec in self.mine("VM"):
            ip = storage_vm.from_xenstore_data(rec.get("xenstore_data")).get("ip")
            if ip and ip not in exclude and rec["power_state"] == "Running":
                target = self.ssh_target(ip)
                if target.reachable(timeout=10):
                    return GlusterCLI(runner=target.run, where=ip, timeout=120)
        raise DeployError("no storage VM of deployment %r answers over SSH" % self.id)

    def brick_bytes_for(self, sr, wanted=None):
        """Data disk size on a local SR: ``wanted`` if it fits, else what the manifest says."""
        free = int(sr["physical_size"]) - int(sr["physical_utilisation"])
        if wanted:
            if wanted > free:
                raise DeployError("a %s data disk does not fit on SR %r (%s free)" % (
                    planner.format_bytes(wanted), sr["name_label"], planner.format_bytes(free)))
            return wanted
        if self.m.storage.brick_size == "all":
            return (free - self.m.storage.reserve) // MiB * MiB
        return self.m.storage.brick_size

    def _peer_probe(self, p, cli, others, clis):
        """Probe ``others`` from ``cli``'s node, then wait until every node sees every other one as
        'Peer in Cluster' (volume create names them all)."""
        for addr in others:
            cli.command(["peer", "probe", addr], "peer probe")
        self.wait_peers(p, clis)

    def _volume(self, p, first, targets, layout):
        names = first.volume_list()
        by_addr = dict((t.address, t) for t in targets)
        if self.m.witness:
            by_addr[self.m.witness] = self.ssh_target(self.m.witness)
        if self.m.volume not in names:
            for b in layout.bricks:
                by_addr[b.node.address].run(["mkdir", "-p", storage_vm.brick_dir(self.m.volume, b.subdir)])
            first.command(layout.volume_create_args(self.m.volume,
                                                    lambda b: storage_vm.brick_dir(self.m.volume, b.subdir)),
                          "volume create")
            p.info("created: %s" % " ".join(layout.create_args))
        for cmd in volume_set_commands(self.m.volume):
            first.command(cmd, "volume set")
        for name, value, _ in layout.volume_options:
            first.command(["volume", "set", self.m.volume, name, value], "volume set")
        [info] = first.volume_info(self.m.volume)
        if not info.started:
            first.command(["volume", "start", self.m.volume], "volume start")
        p.info("started, VM-image options applied")
        # "volume start" returns before the brick processes listen: the SR needs them
        self.wait_bricks(p, first, [b.name for b in info.bricks])

    def dom0_addresses(self, p, net, preferred=None):
        """Give every pool host's dom0 an address on the storage network, not only the storage hosts':
        a VM on any host needs the SR, and the SR is a mount of the volume in that host's dom0.
        ``preferred``: {host ref: address} (the plan's .101, .102, ...); other hosts (compute-only
        ones, hosts that joined later) get the lowest free address from .101 up."""
        preferred = preferred or {}
        pifs = self.x.call(self.api.PIF.get_all_records)
        hosts = self.x.call(self.api.host.get_all_records)
        on_net = dict((rec["host"], (r, rec)) for r, rec in pifs.items() if rec["network"] == net)
        missing = sorted(set(hosts) - set(on_net), key=lambda h: hosts[h]["name_label"])
        if missing:
            raise DeployError("host(s) %s have no interface on the storage network" % ", ".join(
                hosts[h]["name_label"] for h in missing),
                hint="Plug a NIC of every host into network %r: every host mounts the volume" % self.m.network.name)
        used = set(rec["IP"] for _, rec in on_net.values() if rec["IP"])
        used.update(preferred.values())
        order = sorted(on_net, key=lambda h: (h not in preferred, hosts[h]["name_label"]))
        for host in order:
            pif, rec = on_net[host]
            name = hosts[host]["name_label"]
            if rec["ip_configuration_mode"] != "None":
                p.info("%s: dom0 already has %s" % (name, rec["IP"] or rec["ip_configuration_mode"]))
                continue
            address = preferred.get(host) or self._free_dom0_address(used)
            used.add(address)
            self.x.call(self.api.PIF.reconfigure_ip, pif, "Static", address, str(self.network.netmask),
                        self.m.network.gateway or "", "")
            self.x.call(self.api.PIF.add_to_other_config, pif, TAG, self.id)
            p.info("%s: dom0 %s%s" % (name, address, "" if host in preferred else " (no storage VM)"))

    def _free_dom0_address(self, used):
        for host_part in range(FIRST_DOM0_HOST_PART, self.network.num_addresses - 1):
            address = self.address(host_part)
            if address not in used and address != self.m.network.gateway and address != self.m.witness:
                return address
        raise DeployError("network.addresses %s has no free address for another dom0" % self.network)

    def _sr(self, p, hosts, layout):
        found = self.mine("SR")
        if found:
            sr = found[0][0]
            p.info("SR exists")
        else:
            master = self.x.call(self.api.pool.get_master, self.x.call(self.api.pool.get_all)[0])
            dconf = {"server": ",".join(n.address for n in layout.all_nodes), "volume": self.m.volume}
            sr = self.x.run_async("SR.create", master, dconf, "0", self.m.sr_name,
                                  "XOSAN hyperconverged storage (volume %s)" % self.m.volume, "xosan", "user",
                                  True, {})
            self.x.call(self.api.SR.add_to_other_config, sr, TAG, self.id)
            p.info("created and plugged on every host")
        for pbd in self.x.call(self.api.SR.get_PBDs, sr):
            if not self.x.call(self.api.PBD.get_currently_attached, pbd):
                self.x.run_async("PBD.plug", pbd)
        return sr

    # -- undo ----------------------------------------------------------------------------------------

    def destroy_vm(self, vm, rec):
        """Stop (hard: it is being thrown away) and destroy a storage VM and its disks."""
        if rec["power_state"] != "Halted":
            self.x.run_async("VM.hard_shutdown", vm)
        vdis = [self.x.call(self.api.VBD.get_VDI, vbd) for vbd in rec["VBDs"]]
        self.x.run_async("VM.destroy", vm)
        for vdi in vdis:
            if vdi and vdi != "OpaqueRef:NULL":
                self.x.call(self.api.VDI.destroy, vdi)

    def rollback(self, force=False):
        """Remove what this deployment made, newest first. Refuses while the SR holds VDIs."""
        p = Progress(5, self.out)
        p.step("SR")
        for sr, rec in self.mine("SR"):
            vdis = [v for v in self.x.call(self.api.SR.get_VDIs, sr)]
            if vdis and not force:
                raise DeployError("SR %r still holds %d VDI(s)" % (rec["name_label"], len(vdis)),
                                  hint="Move or delete them first, or add --force to destroy them too")
            for pbd in rec["PBDs"]:
                if self.x.call(self.api.PBD.get_currently_attached, pbd):
                    self.x.run_async("PBD.unplug", pbd)
            self.x.run_async("SR.destroy", sr)
            p.info("destroyed SR %r" % rec["name_label"])
        p.step("dom0 addresses")
        for pif, rec in self.mine("PIF"):
            self.x.call(self.api.PIF.reconfigure_ip, pif, "None", "", "", "", "")
            self.x.call(self.api.PIF.remove_from_other_config, pif, TAG)
            p.info("cleared %s" % rec.get("IP"))
        p.step("storage VMs and their disks")
        for vm, rec in self.mine("VM"):
            self.destroy_vm(vm, rec)
            p.info("destroyed %r" % rec["name_label"])
        for vdi, _ in self.mine("VDI"):  # disks of VMs that never got whole
            self.x.call(self.api.VDI.destroy, vdi)
        p.step("storage VM template")
        for ref, rec in appliance.templates(self.x):
            if rec["other_config"].get(appliance.IMPORTED_BY_KEY) == self.id:
                appliance.remove_template(self.x, ref)
                p.info("destroyed %r (imported by this deployment) and its disk" % rec["name_label"])
        p.step("storage network")
        for net, rec in self.mine("network"):
            for pif in rec["PIFs"]:
                self.x.call(self.api.PIF.destroy, pif)
            self.x.call(self.api.network.destroy, net)
            p.info("destroyed network %r" % rec["name_label"])

    # -- status ---------------------------------------------------------------------------------------

    def status(self):
        """(VolumeHealth or None, error text, [(host name, attached)]) for the summary."""
        attached = []
        for _, rec in self.mine("SR"):
            for pbd in rec["PBDs"]:
                host = self.x.call(self.api.PBD.get_host, pbd)
                attached.append((self.x.call(self.api.host.get_name_label, host),
                                 self.x.call(self.api.PBD.get_currently_attached, pbd)))
        vms = [rec for _, rec in self.mine("VM")]
        cfgs = [storage_vm.from_xenstore_data(rec.get("xenstore_data")) for rec in vms]
        err = None
        for cfg in cfgs:
            target = self.ssh_target(cfg.get("ip", ""))
            try:
                cli = GlusterCLI(runner=target.run, where=target.address)
                return health.collect(cli, self.m.volume), None, attached, vms
            except XosanError as exc:
                err = str(exc)
        return None, err or "no storage VM found", attached, vms
