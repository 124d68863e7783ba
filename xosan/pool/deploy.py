"""``xosan deploy``: from a manifest to a plugged XOSAN SR, through XAPI.

Every object XOSAN creates carries ``other_config:xosan-deployment=<id>`` (the
id is the volume name), which is how a re-run finds what exists and resumes,
and how a rollback removes exactly what XOSAN made, nothing else. Each step
is idempotent; a step that fails half way undoes its own half-made object
(e.g. a VM without its disk) and leaves the completed steps for the re-run.

The steps act through one piece each (inventory, network, storage_vms, cluster,
pool_sr); this module only orders them, so the day-2 operations can order the
same pieces differently.
"""

import os
import sys

from xosan.errors import DeployError, XosanError  # noqa: F401  (DeployError: raised by deploy's steps)
from xosan.gluster import health
from xosan.gluster import tls as gluster_tls
from xosan.pool import certs, planner, xo
from xosan.pool.access import NodeAccess
from xosan.pool.allow import AccessList, allowed
from xosan.pool.cluster import Cluster
from xosan.pool.inventory import GiB, Inventory, address_of, brick_bytes
from xosan.pool.network import StorageNetwork
from xosan.pool.pool_sr import PoolSR
from xosan.pool.progress import Progress
from xosan.pool.storage_vms import Placement, StorageVMs

DEFAULT_STATE_DIR = "/var/lib/xosan"
# What the plan assumes of a witness's brick file system: it only holds arbiter bricks.
WITNESS_BRICK_BYTES = 10 * GiB


class HostPlan(Placement):
    """A storage VM's Placement plus the address deploy gives the host's dom0."""

    def __init__(self, ref, record, local_sr, vm_address, dom0_address, brick_bytes):
        Placement.__init__(self, ref, record, local_sr, vm_address, brick_bytes)
        self.dom0_address = dom0_address


class Deployment(object):
    STEPS = 9

    def __init__(self, xapi, manifest, state_dir=DEFAULT_STATE_DIR, out=None, ssh_timeout=180):
        self.x = xapi
        self.m = manifest
        self.id = manifest.volume
        self.out = out or sys.stdout
        self.inventory = Inventory(xapi, self.id)
        self.network = StorageNetwork(xapi, self.inventory, manifest.network, witness=manifest.witness)
        self.access = NodeAccess(os.path.join(state_dir, self.id, "ssh"), self.id)
        self.vms = StorageVMs(xapi, self.inventory, self.access, manifest, self.network, ssh_timeout)
        self.cluster = Cluster(self.access, self.inventory, self.id)
        self.sr = PoolSR(xapi, self.inventory, manifest.sr_name, manifest.volume)
        self.allow = AccessList(xapi, self.inventory, self.id, witness=manifest.witness)

    def mine(self, cls):
        return self.inventory.mine(cls)

    def template(self):
        return self.vms.template()

    # -- the plan --------------------------------------------------------------------------------

    def plan(self):
        """HostPlans and the volume layout; raises DeployError/PlanError for impossible plans."""
        hosts = []
        for i, (ref, rec) in enumerate(self.inventory.chosen_hosts(self.m.hosts)):
            sr_ref, sr = self.inventory.local_sr(ref, rec, self.m.storage.sr)
            size = brick_bytes(self.m.storage, rec["name_label"], sr, own_bytes=self.inventory.own_bytes_on(sr_ref))
            vm_address, dom0_address = self.network.host_addresses(i)
            hosts.append(HostPlan(ref, rec, sr_ref, vm_address, dom0_address, size))
        nodes = [planner.NodeSpec(h.name, h.vm_address, h.brick_bytes) for h in hosts]
        if self.m.witness:
            nodes.append(planner.NodeSpec("witness", self.m.witness, WITNESS_BRICK_BYTES, witness=True))
        d = self.m.disperse
        layout = planner.plan_layout(nodes, self.m.layout, d.data if d else None, d.redundancy if d else None)
        return hosts, layout

    def describe_plan(self, hosts, layout):
        tls = self.m.tls
        n = self.m.network
        lines = ["XOSAN deployment %r on %s" % (self.id, self.x.url),
                 "Storage network %r (%s, %s), MTU %s" % (n.name, n.mode, self.network, n.mtu)]
        for h in hosts:
            lines.append("  %-20s storage VM %-15s dom0 %-15s data disk %s" % (
                h.name, h.vm_address, h.dom0_address, planner.format_bytes(h.brick_bytes)))
        if self.m.witness:
            lines.append("  %-20s witness    %-15s (arbiter bricks only)" % ("witness", self.m.witness))
        lines.append(layout.describe())
        lines.append(self._access_plan(hosts))
        if tls == "off":
            lines.append("GlusterFS TLS: off (tls: off): glusterd's management port and the bricks take plain TCP")
        else:
            lines.append("GlusterFS TLS on the management path (glusterd, CLI, volfile fetches): on, the "
                         "deployment's own CA, a certificate for every storage VM%s and every pool host's dom0"
                         % (" and the witness" if self.m.witness else ""))
        if tls == "io":
            lines.append("GlusterFS TLS on the I/O path (tls: io): costs %s" % gluster_tls.IO_COST)
        else:
            lines.append("GlusterFS TLS on the I/O path: off (tls: io turns it on; costs %s)" % gluster_tls.IO_COST)
        if self.m.vm.image:
            lines.append("Storage VM template %r from %s (imported once per pool)" % (self.m.vm.template,
                                                                                   self.m.vm.image))
        else:
            lines.append("Storage VM template: the pool's imported appliance, or %r" % self.m.vm.template)
        lines.append("SR %r of type xosan, shared, on volume %r" % (self.m.sr_name, self.m.volume))
        return "\n".join(lines)

    # -- the steps -------------------------------------------------------------------------------

    def run(self):
        """Returns (SR ref, the GlusterCLI that ran the volume commands: see Cluster.form)."""
        hosts, layout = self.plan()
        p = Progress(self.STEPS, self.out)
        p.step("plan")
        for line in self.describe_plan(hosts, layout).splitlines():
            p.info(line)
        p.step("storage VM template")
        self.vms.template(p, hosts[0])
        p.step("storage network")
        net = self.network.ensure(p)
        # before the storage VMs: the storage VMs' sshd takes logins only from the storage network, so
        # this dom0 (the deployer) needs its address there; and the volume's access list names every dom0
        p.step("dom0 addresses on the storage network")
        self.network.dom0_addresses(p, net, dict((h.ref, h.dom0_address) for h in hosts))
        p.step("storage VMs on %d hosts" % len(hosts))
        self.vms.provision(p, hosts, net)
        p.step("waiting for the storage VMs over SSH")
        self.vms.wait_reachable(p, [(h.name, h.vm_address) for h in hosts])
        self._witness_reachable()
        p.step("trusted storage pool")
        fresh = not self.mine("SR")  # no SR yet: no dom0 mounts the volume, it may be stopped
        # the nodes without management TLS's switch file, read once (None: nothing mounts the volume yet)
        plain = None if fresh else [a for a in self._pool_nodes(hosts)
                                    if not certs.management_on(self.access.target(a))]
        tls = self._tls_mode(p, hosts, plain)
        tls_names = self._tls_certificates(p, hosts, plain) if tls != "off" else None
        first = self.cluster.form(p, self._pool_nodes(hosts))
        p.step("volume %s" % self.m.volume)
        self.cluster.create_volume(p, first, layout, self.allow, self.allow.wanted(net))
        if tls == "io":
            self._io_tls(p, first, tls_names, fresh)
        p.step("SR %r" % self.m.sr_name)
        sr = self.sr.ensure(p, [node.address for node in layout.all_nodes])
        # what Xen Orchestra 5 reads for a type-xosan SR, so that its Remove removes this deployment
        xo.sync(self.x, self.id)
        return sr, first

    def _access_plan(self, hosts):
        vms = self.allow.vm_addresses()
        planned = allowed([h.vm_address for h in hosts] + vms,
                          [h.dom0_address for h in hosts] + [rec.get("IP") for _, rec in self.mine("PIF")],
                          self.m.witness)
        if not vms:
            return self.allow.plan_line(planned)
        try:  # a re-run: say what the existing volume allows now
            return self.allow.plan_line(planned, self.cluster.any_cli())
        except XosanError as exc:
            return self.allow.plan_line(planned) + " (the existing volume's list is unknown: %s)" % exc

    def _pool_nodes(self, hosts):
        """Every machine of the trusted pool: the storage VMs and the witness."""
        return [h.vm_address for h in hosts] + ([self.m.witness] if self.m.witness else [])

    def _tls_mode(self, p, hosts, plain):
        """The TLS mode this run applies: the manifest's when it was written or nothing mounts the
        volume yet (``plain`` None); otherwise (a re-run with ``tls`` left to its default) what the
        cluster runs, so a deployment made before the default changed, or with ``tls: off``, is kept
        as it runs rather than refused (turning management TLS on under running mounts is, see
        _tls_certificates). ``plain``: the nodes without management TLS's switch file."""
        if plain is None or self.m.tls_written:
            return self.m.tls
        if len(plain) == len(self._pool_nodes(hosts)):
            mode = "off"
        else:
            [info] = self.cluster.any_cli().volume_info(self.m.volume)
            mode = "io" if gluster_tls.io_on(info.options or {}) else "management"
        if mode != self.m.tls:
            p.info("GlusterFS TLS kept as the volume runs (%s; tls not written, default %s): write `tls: %s` "
                   "to change it" % (mode, self.m.tls, self.m.tls))
        return mode

    def _tls_certificates(self, p, hosts, plain):
        """The deployment CA's certificates on every storage VM (SSH), the witness and every pool
        host's dom0 (host plugin: compute-only hosts mount the SR too, and a re-run gives a host that
        joined the pool since its own), before any client mounts, with management TLS's switch: each
        glusterd that gets it new is restarted, before the peers probe each other, so the trusted pool
        forms over TLS; their CNs.

        Turned on under an SR, the dom0s' running mounts would keep plain connections their glusterds
        no longer take (brick port lookups after a brick restart fail): refused there, never half done."""
        nodes = [(h.name, h.vm_address) for h in hosts] + ([("witness", self.m.witness)] if self.m.witness else [])
        if plain:
            raise DeployError(
                "management TLS is off on %s, and the volume serves an SR: turning it on would cut every "
                "dom0's running mount off glusterd" % ", ".join(plain),
                hint="Deploy with tls: off to keep it as it is, or plan a downtime: unplug the SR's PBDs, "
                     "re-run deploy, plug them again")
        names, restart = certs.distribute(p, certs.of_deployment(self.access), self.access, self.x.api, nodes,
                                          self.inventory.pool_hosts(), management=True)
        if restart:
            certs.restart_glusterd(p, self.access, restart)
            self.cluster.wait_glusterd(p, restart)
        return names

    def _io_tls(self, p, first, names, fresh):
        """TLS on the volume's I/O path. Bricks choose TLS when they start, so turning it on means a
        volume stop: done only before this deployment's SR exists (no client). A volume that serves an
        SR, running with TLS off, is refused, never stopped under VMs; one with TLS on gets a
        changed allow list live (glusterd hands it to the running bricks)."""
        options = gluster_tls.io_options(gluster_tls.cert_dir(self.id), names)
        [info] = first.volume_info(self.m.volume)
        current = info.options or {}
        if gluster_tls.io_on(current):
            changed = [(k, v) for k, v in options if current.get(k) != v]
            for option, value in changed:
                first.volume_set(self.m.volume, option, value)
            p.info("I/O TLS on%s" % (": %s updated" % ", ".join(k for k, _ in changed) if changed else " already"))
            return
        if info.started and not fresh:  # a stopped one has no I/O to stop
            raise DeployError(
                "volume %s exists with I/O TLS off; `tls: io` would need it stopped, which stops every VM "
                "disk on the SR" % self.m.volume,
                hint="Deploy with tls: off (the default) to keep the volume as it is, or plan a downtime: "
                     "shut the SR's VMs down, then stop the volume and re-run deploy")
        if info.started:
            first.command(["volume", "stop", self.m.volume], "volume stop")
        for option, value in options:
            first.volume_set(self.m.volume, option, value)
        first.volume_start(self.m.volume)
        self.cluster.wait_bricks(p, first, [b.name for b in info.bricks])
        p.info("I/O TLS on: bricks admit %s" % ", ".join(sorted(set(names))))

    def _witness_reachable(self):
        if self.m.witness and not self.access.target(self.m.witness).reachable(timeout=10):
            raise DeployError("the witness %s is not reachable over SSH" % self.m.witness,
                              hint="Boot it from the config disk `xosan witness prepare --address %s` makes "
                                   "(docs/witness.md)" % self.m.witness)

    # -- undo ------------------------------------------------------------------------------------

    def rollback(self, force=False):
        """Remove what this deployment made, newest first. Refuses while the SR holds VDIs."""
        p = Progress(5, self.out)
        p.step("SR")
        self.sr.destroy(p, force)
        p.step("dom0 addresses")
        self.network.clear_dom0_addresses(p)
        p.step("storage VMs and their disks")
        self.vms.destroy_all(p)
        p.step("storage VM template")
        self.vms.remove_imported_template(p)
        p.step("storage network")
        self.network.destroy(p)

    # -- status ----------------------------------------------------------------------------------

    def status(self):
        """(VolumeHealth or None, error text, [(host name, attached)], storage VM records) for the
        summary; asks the storage VMs in turn, without waiting for one that does not answer."""
        attached = self.sr.attached()
        vms = [rec for _, rec in self.inventory.mine("VM")]
        err = None
        for rec in vms:
            address = address_of(rec) or ""
            try:
                # a VM that is down costs one SSH connect, not the retry a query gives a lost link
                self.access.target(address).run(["true"], timeout=10)
                return health.collect(self.access.cli(address, timeout=30), self.m.volume), None, attached, vms
            except XosanError as exc:
                err = str(exc)
        return None, err or "no storage VM found", attached, vms
