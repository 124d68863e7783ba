"""Day-2 operations: maintenance, replace a dead host, add hosts, destroy.

Each operation is planned first (``plan_*`` returns the steps as sentences,
which is what ``--dry-run`` prints) and refuses what would put data at risk
unless forced. They are step sequences over the pieces deploy uses (inventory,
network, storage VMs, cluster), ordered for a pool that already runs.
"""

import time

from xosan.errors import XosanError
from xosan.gluster import health
from xosan.gluster import tls as gluster_tls
from xosan.pool import certs, firewall, xo
from xosan.pool.allow import AUTH_ALLOW
from xosan.pool.inventory import brick_bytes
from xosan.pool.progress import Progress
from xosan.pool.storage_vms import Placement


class Refused(XosanError):
    """The operation would put data at risk; the message says why and how to go on."""


class Operations(object):
    def __init__(self, deployment, out=None):
        """``deployment``: a Deployment, for its pieces and its rollback (which destroy is)."""
        self.id = deployment.id
        self.x = deployment.x
        self.storage = deployment.m.storage
        self.inventory = deployment.inventory
        self.network = deployment.network
        self.access = deployment.access
        self.vms = deployment.vms
        self.cluster = deployment.cluster
        self.sr = deployment.sr
        self.allow = deployment.allow
        self._rollback = deployment.rollback
        self.out = deployment.out if out is None else out

    # -- facts ------------------------------------------------------------------------------------

    def storage_vms(self):
        """{host name: (vm ref, vm record, storage address)} of this deployment."""
        return self.inventory.storage_vms()

    def health(self):
        return self.cluster.health()

    def _used_addresses(self):
        return set(ip for _, _, ip in self.storage_vms().values())

    def _placement(self, host_name, address, wanted=None):
        """Where a new storage VM on ``host_name`` goes, its data disk ``wanted`` bytes or sized as
        the manifest says."""
        ref, rec = self.inventory.host(host_name)
        sr_ref, sr = self.inventory.local_sr(ref, rec, self.storage.sr)
        return Placement(ref, rec, sr_ref, address, brick_bytes(self.storage, host_name, sr, wanted=wanted))

    def _add_storage_vms(self, p, placements, gone=()):
        """Started storage VMs for ``placements``, the SR mountable on every host, and the volume's
        access list following: the new storage VMs and dom0s in (before they peer or mount),
        ``gone`` (a replaced storage VM's address) out."""
        net = self.network.ensure(p)
        self.vms.provision(p, placements, net)
        self.network.dom0_addresses(p, net)  # a host new to the pool has none on the storage network yet
        new = [pl.vm_address for pl in placements]
        wanted = self.allow.wanted(net, gone)
        # through the nodes already in the pool: the new ones are still booting (_wait_started)
        self.allow.enforce(p, self.cluster.any_cli(exclude=new + list(gone)), wanted, self.access,
                           self.allow.running_vm_addresses(exclude=new + list(gone)))
        return wanted

    def _wait_started(self, p, placements, allowed):
        """Until the new storage VMs answer over SSH and their glusterd answers too; then their packet
        filter, ``allowed`` (the access list), before they peer."""
        self.vms.wait_reachable(p, [(pl.name, pl.vm_address) for pl in placements])
        firewall.enforce(p, self.access, [pl.vm_address for pl in placements], allowed)
        self.cluster.wait_glusterd(p, [pl.vm_address for pl in placements])
        return self._tls_like_the_pool(p, placements)

    def _tls_like_the_pool(self, p, placements):
        """The new storage VMs (and their hosts' dom0s) get what the running nodes have: management
        TLS's files and switch (glusterd restarted, before the probe: a plain glusterd cannot join a
        TLS pool) and, with I/O TLS on, the certificate the bricks will ask of them. Read from the
        cluster, not the manifest: the pool is what it is. Returns the new CNs when I/O TLS is on
        (the caller adds them to auth.ssl-allow before the new bricks serve), else []."""
        new = [pl.vm_address for pl in placements]
        cli = self.cluster.any_cli(exclude=new)
        management = certs.management_on(self.access.target(cli.where()))
        [info] = cli.volume_info(self.id)
        io = gluster_tls.io_on(info.options or {})
        if not (management or io):
            return []
        names, restart = certs.distribute(p, certs.of_deployment(self.access), self.access, self.x.api,
                                          [(pl.name, pl.vm_address) for pl in placements],
                                          [(pl.name, pl.ref) for pl in placements], management=management)
        if restart:
            certs.restart_glusterd(p, self.access, restart)
            self.cluster.wait_glusterd(p, restart)
        return names if io else []

    def _allow_certificates(self, p, cli, added, removed=()):
        """auth.ssl-allow of an I/O TLS volume with ``added`` CNs in and ``removed`` out (set live:
        glusterd hands it to the running bricks)."""
        if not added and not removed:
            return
        [info] = cli.volume_info(self.id)
        current = [n for n in (info.options or {}).get("auth.ssl-allow", "").split(",") if n.strip()]
        wanted = gluster_tls.ssl_allow([n for n in current if n not in removed] + list(added))
        cli.volume_set(self.id, "auth.ssl-allow", wanted)
        p.info("auth.ssl-allow: %s" % wanted)

    # -- maintenance ------------------------------------------------------------------------------

    def plan_maintenance_enter(self, host_name, force=False):
        vm, rec, ip = self.inventory.storage_vm_of(host_name)
        h, _ = self.health()
        problems = []
        if h.split_brain:
            problems.append("%d file(s) in split-brain" % h.split_brain)
        if h.heal_pending:
            problems.append("%d entries still waiting for self-heal" % h.heal_pending)
        unknown = [b.name for b in h.bricks if b.online and b.heal_pending is None]
        if unknown:
            problems.append("heal state unknown on %s" % ", ".join(unknown))
        # with this node shut down: its bricks offline AND its glusterd gone, so server quorum
        # (glusterd stopping every brick of the nodes left) counts as much as client quorum
        after = health.without_nodes(h, [ip])
        if not after.writable:
            problems.append("without %s (%s) a replica set loses quorum: %s" % (host_name, ip, after.reason))
        if problems and not force:
            raise Refused("maintenance of %s refused: %s" % (host_name, "; ".join(problems)),
                          hint="Wait for the heal to finish (xosan status), or add --force to accept "
                               "that I/O may stop")
        steps = ["shut down %s cleanly (%s)" % (rec["name_label"], ip),
                 "the SR stays attached on every host; the volume runs on the other bricks"]
        return steps, problems

    def maintenance_enter(self, host_name, force=False):
        steps, _ = self.plan_maintenance_enter(host_name, force)
        vm, rec, ip = self.inventory.storage_vm_of(host_name)
        p = Progress(1, self.out)
        p.step(steps[0])
        if rec["power_state"] == "Running":
            self.vms.shutdown(vm)
        p.info("%s is in maintenance; `xosan maintenance exit %s` brings it back" % (host_name, host_name))

    def maintenance_exit(self, host_name, heal_timeout=1800):
        vm, rec, ip = self.inventory.storage_vm_of(host_name)
        host, _ = self.inventory.host(host_name)
        p = Progress(3, self.out)
        p.step("start %s" % rec["name_label"])
        if rec["power_state"] == "Halted":
            self.vms.start(vm, host)
        p.step("wait for %s over SSH" % ip)
        self.vms.wait_reachable(p, [(host_name, ip)])
        # the list may have changed while it was down, and a boot may have lost its filter
        firewall.enforce(p, self.access, [ip], self.allow.wanted(self.network.ensure(p)))
        self.cluster.wait_glusterd(p, [ip])
        self.cluster.wait_joined(p, self.cluster.any_cli(), [ip])
        p.step("wait for self-heal")
        self.cluster.wait_heal(p, heal_timeout)

    # -- replace a dead host's storage VM ----------------------------------------------------------

    def plan_replace(self, dead_name, new_name, force=False):
        vm, rec, old_ip = self.inventory.storage_vm_of(dead_name)
        self.inventory.host(new_name)
        if new_name != dead_name and new_name in self.storage_vms():
            raise Refused("%s already runs a storage VM of this deployment" % new_name,
                          hint="Two storage VMs on one host would put two copies of the data in one failure "
                               "domain: replace onto the dead host itself or a host without a storage VM")
        h, _ = self.health()
        mine = [b for b in h.bricks if b.host == old_ip]
        if any(b.online for b in mine) and not force:
            raise Refused("%s's storage VM (%s) is healthy: its bricks are online" % (dead_name, old_ip),
                          hint="replace-host is for a dead host; use maintenance for planned work, "
                               "or --force to replace it anyway")
        new_ip = self.network.free_vm_address(self._used_addresses())
        steps = ["destroy the dead storage VM %r and its disk (if the host still knows them)" % rec["name_label"],
                 "create a storage VM on %s with address %s; %s: add %s (and %s's dom0 if it has no "
                 "storage address yet), remove %s" % (new_name, new_ip, AUTH_ALLOW, new_ip, new_name, old_ip),
                 "add it to the trusted pool",
                 "replace-brick %s -> %s" % (", ".join(b.name for b in mine),
                                             ", ".join(_moved(b.name, new_ip) for b in mine)),
                 "remove %s from the trusted pool" % old_ip,
                 "self-heal onto the new bricks, with progress"]
        return steps, (vm, rec, old_ip, new_ip, [b.name for b in mine])

    def replace(self, dead_name, new_name, force=False, heal_timeout=1800):
        steps, (vm, rec, old_ip, new_ip, bricks) = self.plan_replace(dead_name, new_name, force)
        size = self.inventory.data_disk_bytes(rec)  # the replacement gets the same data disk size
        p = Progress(6, self.out)
        p.step(steps[0])
        self.vms.destroy(vm, rec)
        p.step(steps[1])
        # placed after the destroy: on the same host, the dead VM's disk frees the space for the new one
        placement = self._placement(new_name, new_ip, wanted=size)
        allowed = self._add_storage_vms(p, [placement], gone=[old_ip])
        xo.sync(self.x, self.id)  # Xen Orchestra's node list names the new storage VM
        p.step(steps[2])
        tls_names = self._wait_started(p, [placement], allowed)
        cli = self.cluster.any_cli(exclude=[old_ip, new_ip])
        self.cluster.join(p, cli, new_ip, exclude=[old_ip])
        if tls_names:
            self._allow_certificates(p, cli, tls_names,
                                     [certs.of_deployment(self.access).name_for("node", dead_name)])
        p.step(steps[3])
        target = self.access.target(new_ip)
        new_bricks = []
        for old in bricks:
            new = _moved(old, new_ip)
            target.run(["mkdir", "-p", new.rpartition(":")[2]])
            cli.replace_brick(self.id, old, new)
            new_bricks.append(new)
            p.info("%s -> %s" % (old, new))
        if new_bricks:
            self.cluster.wait_bricks(p, cli, new_bricks)
        p.step(steps[4])
        cli.peer_detach(old_ip, force=True)
        # glusterd's replace-brick appends every peer, the dead one too, to auth.allow (for its own
        # temporary mount) and leaves it there: put the list back
        self.allow.enforce(p, cli, allowed)
        p.step(steps[5])
        return self.cluster.wait_heal(p, heal_timeout)

    # -- add hosts ------------------------------------------------------------------------------------

    def plan_add(self, new_names):
        h, _ = self.health()
        info = h.info
        vms = self.storage_vms()
        for n in new_names:
            if n in vms:
                raise Refused("host %s already has a XOSAN storage VM" % n)
            self.inventory.host(n)
        if h.verdict != health.HEALTHY:
            raise Refused("the volume is not healthy (%s)" % h.reason, hint="Fix it before growing the volume")
        if _two_hosts_and_arbiter(info) and len(new_names) == 1:
            arb = info.bricks[2]
            return "convert", ["create a storage VM on %s; %s: add its address and its dom0's" % (
                                   new_names[0], AUTH_ALLOW),
                               "remove the arbiter brick %s that shares a host with a data brick" % arb.name,
                               "add an arbiter brick on %s: replica 2 + arbiter on 3 hosts, any one may fail"
                               % new_names[0],
                               "heal the arbiter's metadata"]
        set_size = info.disperse or info.replica
        if len(new_names) != set_size:
            raise Refused("a %s volume grows by whole sets of %d hosts, not %d" % (
                info.type, set_size, len(new_names)),
                hint="Add %d hosts at once (xosan add-host A B C), so no replica set has two bricks on one host"
                     % set_size)
        return "set", ["create a storage VM on each of %s; %s: add their addresses and their dom0s'" % (
                           ", ".join(new_names), AUTH_ALLOW),
                       "add-brick one new %s set of %d bricks (same roles as the first set)" % (
                           "disperse" if info.disperse else "replica", set_size),
                       "start a rebalance and follow it"]

    def add(self, new_names, heal_timeout=1800):
        kind, steps = self.plan_add(new_names)
        h, cli = self.health()
        info = h.info
        used = self._used_addresses()
        p = Progress(len(steps), self.out)
        p.step(steps[0])
        # the new bricks as large as the smallest data brick, so every set stores as much
        size = min(b.size_total or 0 for b in h.bricks if not b.is_arbiter) or None
        placements = []
        for name in new_names:
            ip = self.network.free_vm_address(used)
            used.add(ip)
            placements.append(self._placement(name, ip, wanted=size))
        allowed = self._add_storage_vms(p, placements)
        xo.sync(self.x, self.id)
        tls_names = self._wait_started(p, placements, allowed)
        for pl in placements:
            self.cluster.join(p, cli, pl.vm_address)
        self._allow_certificates(p, cli, tls_names)
        new_bricks = self.cluster.brick_dirs([pl.vm_address for pl in placements],
                                             "b%d" % (int(time.time()) % 100000))
        if kind == "convert":
            p.step(steps[1])
            cli.remove_brick_force(self.id, [info.bricks[2].name], replica=2)
            p.step(steps[2])
            cli.add_brick(self.id, new_bricks, replica=3, arbiter=1)
            self.allow.enforce(p, cli, allowed)  # add-brick may leave its peers appended (as replace-brick)
            self.cluster.wait_bricks(p, cli, new_bricks)
            p.step(steps[3])
            # the 2-host exception (server quorum off) no longer applies with three nodes
            cli.volume_set(self.id, "cluster.server-quorum-type", "server")
            return self.cluster.wait_heal(p, heal_timeout)
        p.step(steps[1])
        if info.disperse:
            cli.add_brick(self.id, new_bricks)
        else:
            cli.add_brick(self.id, new_bricks, replica=info.replica, arbiter=1 if info.arbiter else 0)
        self.allow.enforce(p, cli, allowed)
        self.cluster.wait_bricks(p, cli, new_bricks)  # a rebalance needs every brick up
        p.step(steps[2])
        cli.rebalance_start(self.id)
        return self.cluster.wait_rebalance(p, cli, heal_timeout)

    # -- destroy ---------------------------------------------------------------------------------------

    def plan_destroy(self, force=False):
        vdis = self.sr.vdi_count()
        if vdis and not force:
            raise Refused("the XOSAN SR still holds %d VDI(s)" % vdis,
                          hint="Move or delete them, or add --force to destroy them with the SR")
        return ["unplug and destroy the SR%s" % (" and its %d VDI(s)" % vdis if vdis else ""),
                "shut down and destroy %d storage VM(s) and their data disks" % len(self.inventory.mine("VM")),
                "clear the dom0 storage addresses XOSAN set",
                "destroy the storage network if XOSAN created it"]

    def destroy(self, force=False):
        self.plan_destroy(force)
        self._rollback(force=force)


def _moved(brick, new_ip):
    """The brick ``brick`` ("host:/path") at the same path on the node at ``new_ip``."""
    return "%s:%s" % (new_ip, brick.rpartition(":")[2])


def _two_hosts_and_arbiter(info):
    """The 2-host layout: replica 2 + arbiter with the arbiter on one of the two data hosts."""
    return (info.replica == 3 and info.arbiter == 1 and len(info.bricks) == 3
            and len(set(b.host for b in info.bricks)) == 2)
