"""Day-2 operations: maintenance, replace a dead host, add hosts, destroy.

Each operation is planned first (``plan_*`` returns the steps as sentences,
which is what ``--dry-run`` prints) and refuses what would put data at risk
unless forced. They act through the same pieces as deploy: XAPI for VMs and
disks, SSH to a storage VM for gluster commands.
"""

import time

from xosan import facts, gluster
from xosan.errors import GlusterError, XosanError
from xosan.gluster import health
from xosan.pool import storage_vm
from xosan.pool.deploy import HostPlan, Progress


class Refused(XosanError):
    """The operation would put data at risk; the message says why and how to go on."""


class Operations(object):
    def __init__(self, deployment, out=None):
        self.d = deployment
        self.x = deployment.x
        self.api = deployment.api
        self.out = deployment.out if out is None else out

    # -- facts ------------------------------------------------------------------------------------

    def storage_vms(self):
        """{host name: (vm ref, vm record, storage address)} of this deployment."""
        hosts = self.x.call(self.api.host.get_all_records)
        by_uuid = dict((h["uuid"], h["name_label"]) for h in hosts.values())
        out = {}
        for ref, rec in self.d.mine("VM"):
            cfg = storage_vm.from_xenstore_data(rec.get("xenstore_data"))
            out[by_uuid.get(rec["other_config"].get(facts.TAG_HOST), "?")] = (ref, rec, cfg.get("ip"))
        return out

    def health(self):
        cli = self.d.gluster_cli()
        return health.collect(cli, self.d.id), cli

    def _host(self, name):
        refs = self.x.call(self.api.host.get_by_name_label, name)
        if not refs:
            raise XosanError("no host named %r in the pool" % name)
        return refs[0], self.x.call(self.api.host.get_record, refs[0])

    def _vm_of(self, host_name):
        vms = self.storage_vms()
        if host_name not in vms:
            raise XosanError("host %s has no XOSAN storage VM" % host_name,
                             hint="Hosts with one: %s" % ", ".join(sorted(vms)))
        return vms[host_name]

    # -- maintenance ------------------------------------------------------------------------------

    def plan_maintenance_enter(self, host_name, force=False):
        vm, rec, ip = self._vm_of(host_name)
        h, _ = self.health()
        problems = []
        if h.split_brain:
            problems.append("%d file(s) in split-brain" % h.split_brain)
        if h.heal_pending:
            problems.append("%d entries still waiting for self-heal" % h.heal_pending)
        unknown = [b.name for b in h.bricks if b.online and b.heal_pending is None]
        if unknown:
            problems.append("heal state unknown on %s" % ", ".join(unknown))
        left = [health.BrickHealth(b.brick, b.online and b.host != ip, b.size_total, b.size_free,
                                   b.heal_pending, b.split_brain) for b in h.bricks]
        after = health.assess(h.info, h.peers, left)
        if min([health.set_tolerance(h.info, g) for g in health.replica_sets(h.info, left)] or [0]) < 0:
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
        vm, rec, ip = self._vm_of(host_name)
        p = Progress(1, self.out)
        p.step(steps[0])
        if rec["power_state"] == "Running":
            self.x.run_async("VM.clean_shutdown", vm)
        p.info("%s is in maintenance; `xosan maintenance exit %s` brings it back" % (host_name, host_name))

    def maintenance_exit(self, host_name, heal_timeout=1800):
        vm, rec, ip = self._vm_of(host_name)
        host, _ = self._host(host_name)
        p = Progress(3, self.out)
        p.step("start %s" % rec["name_label"])
        if rec["power_state"] == "Halted":
            self.x.run_async("VM.start_on", vm, host, False, False)
        p.step("wait for %s over SSH" % ip)
        self.d.wait_reachable(p, [(host_name, ip)])
        self.d.wait_glusterd(p, [ip])
        self._wait_joined(p, self.d.gluster_cli(), [ip])
        p.step("wait for self-heal")
        self.wait_heal(p, heal_timeout)

    def wait_heal(self, p, timeout):
        deadline = time.time() + timeout
        last = None
        cli = self.d.gluster_cli()
        while True:
            try:  # ask for an index heal now; the self-heal daemon also gets there on its own
                cli.command(["volume", "heal", self.d.id], "volume heal")
            except GlusterError:
                pass  # e.g. the daemon of a node that just came back is not running yet
            h = health.collect(cli, self.d.id)
            pending = None if any(b.heal_pending is None for b in h.bricks) else h.heal_pending
            if pending != last:
                p.info("heal pending: %s" % ("bricks still connecting" if pending is None else pending))
                last = pending
            if pending == 0 and all(b.online for b in h.bricks):
                p.info("healed: %s" % h.reason)
                return h
            if time.time() > deadline:
                raise XosanError("self-heal not finished after %d s (%s)" % (timeout, h.reason))
            time.sleep(3)

    # -- replace a dead host's storage VM ----------------------------------------------------------

    def plan_replace(self, dead_name, new_name, force=False):
        vm, rec, old_ip = self._vm_of(dead_name)
        self._host(new_name)
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
        new_ip = self._free_address()
        steps = ["destroy the dead storage VM %r and its disk (if the host still knows them)" % rec["name_label"],
                 "create a storage VM on %s with address %s" % (new_name, new_ip),
                 "add it to the trusted pool",
                 "replace-brick %s -> %s" % (", ".join(b.name for b in mine),
                                             ", ".join(self._new_brick(b.name, new_ip) for b in mine)),
                 "remove %s from the trusted pool" % old_ip,
                 "self-heal onto the new bricks, with progress"]
        return steps, (vm, rec, old_ip, new_ip, [b.name for b in mine])

    def _new_brick(self, old_brick, new_ip):
        path = old_brick.rpartition(":")[2]
        return "%s:%s" % (new_ip, path)

    def _free_address(self, used=None):
        """The first storage address (.11 on) no storage VM of this deployment uses."""
        if used is None:
            used = set(ip for _, _, ip in self.storage_vms().values())
        for part in range(facts.STORAGE_VM_OFFSET, facts.STORAGE_VM_LAST + 1):
            ip = self.d.address(part)
            if ip not in used:
                return ip
        raise XosanError("no free storage address in %s" % self.d.network)

    def replace(self, dead_name, new_name, force=False, heal_timeout=1800):
        steps, (vm, rec, old_ip, new_ip, bricks) = self.plan_replace(dead_name, new_name, force)
        host, host_rec = self._host(new_name)
        size = self._brick_bytes(rec)  # the replacement gets the same data disk size
        p = Progress(6, self.out)
        p.step(steps[0])
        self.d.destroy_vm(vm, rec)
        p.step(steps[1])
        sr_ref, sr = self.d.local_sr(host, host_rec)
        plan = HostPlan(host, host_rec, sr_ref, new_ip, None, size)
        net = self.d.network_ref(p)
        keys = self.d.ssh_keys([plan])
        self.d.storage_vm(p, plan, net, keys)
        self.d.refresh_known_hosts()
        self.d.dom0_addresses(p, net)  # a host new to the pool has none on the storage network yet
        p.step(steps[2])
        self.d.wait_reachable(p, [(new_name, new_ip)])
        self.d.wait_glusterd(p, [new_ip])
        cli = self.d.gluster_cli(exclude=[old_ip, new_ip])
        cli.command(["peer", "probe", new_ip], "peer probe")
        # replace-brick is staged on every node: each must see the new peer 'Peer in Cluster'
        self._wait_joined(p, cli, [new_ip], exclude=[old_ip])
        p.step(steps[3])
        target = self.d.ssh_target(new_ip)
        new_bricks = []
        for old in bricks:
            new = self._new_brick(old, new_ip)
            target.run(["mkdir", "-p", new.rpartition(":")[2]])
            cli.command(["volume", "replace-brick", self.d.id, old, new, "commit", "force"], "replace-brick")
            new_bricks.append(new)
            p.info("%s -> %s" % (old, new))
        if new_bricks:
            self.d.wait_bricks(p, cli, new_bricks)
        p.step(steps[4])
        cli.command(["peer", "detach", old_ip, "force"], "peer detach")
        p.step(steps[5])
        return self.wait_heal(p, heal_timeout)

    def _brick_bytes(self, vm_rec):
        """The data disk's size (device 1 and up: device 0 is the appliance's system disk)."""
        sizes = []
        for vbd in vm_rec["VBDs"]:
            if self.x.call(self.api.VBD.get_userdevice, vbd) == "0":
                continue
            vdi = self.x.call(self.api.VBD.get_VDI, vbd)
            if vdi and vdi != "OpaqueRef:NULL":
                sizes.append(int(self.x.call(self.api.VDI.get_virtual_size, vdi)))
        if not sizes:
            raise XosanError("cannot tell the data disk size of %s" % vm_rec["name_label"])
        return max(sizes)

    def _wait_joined(self, p, cli, new_ips, exclude=(), timeout=gluster.PEER_TIMEOUT):
        """Wait until ``new_ips`` and the pool's nodes all see each other as 'Peer in Cluster':
        as seen from ``cli``'s node, which runs the next command, and from every other node
        ``cli``'s node counts connected (``exclude``: a dead node still listed)."""
        here = cli.where()
        nodes = [here]
        for peer in cli.pool_list():
            if peer.connected and peer.hostname != "localhost" and peer.hostname not in nodes:
                nodes.append(peer.hostname)
        nodes += [ip for ip in new_ips if ip not in nodes]
        nodes = [n for n in nodes if n not in exclude]
        clis = dict((n, cli if n == here else self.d.node_cli(n)) for n in nodes)
        self.d.wait_peers(p, clis, nodes, timeout)

    # -- add hosts ------------------------------------------------------------------------------------

    def plan_add(self, new_names):
        h, _ = self.health()
        info = h.info
        vms = self.storage_vms()
        for n in new_names:
            if n in vms:
                raise Refused("host %s already has a XOSAN storage VM" % n)
            self._host(n)
        if h.verdict != health.HEALTHY:
            raise Refused("the volume is not healthy (%s)" % h.reason, hint="Fix it before growing the volume")
        two_plus_arbiter = (info.replica == 3 and info.arbiter == 1 and len(info.bricks) == 3
                            and len(set(b.host for b in info.bricks)) == 2)
        if two_plus_arbiter and len(new_names) == 1:
            arb = info.bricks[2]
            return "convert", ["create a storage VM on %s" % new_names[0],
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
        return "set", ["create a storage VM on each of %s" % ", ".join(new_names),
                       "add-brick one new %s set of %d bricks (same roles as the first set)" % (
                           "disperse" if info.disperse else "replica", set_size),
                       "start a rebalance and follow it"]

    def add(self, new_names, heal_timeout=1800):
        kind, steps = self.plan_add(new_names)
        h, cli = self.health()
        info = h.info
        used = set(ip for _, _, ip in self.storage_vms().values())
        p = Progress(len(steps), self.out)
        p.step(steps[0])
        plans = []
        net = self.d.network_ref(p)
        size = min(b.size_total or 0 for b in h.bricks if not b.is_arbiter) or None
        for name in new_names:
            ref, rec = self._host(name)
            sr_ref, sr = self.d.local_sr(ref, rec)
            ip = self._free_address(used)
            used.add(ip)
            brick = self.d.brick_bytes_for(sr, size)
            plans.append(HostPlan(ref, rec, sr_ref, ip, None, brick))
        keys = self.d.ssh_keys(plans)
        for plan in plans:
            self.d.storage_vm(p, plan, net, keys)
        self.d.refresh_known_hosts()
        self.d.dom0_addresses(p, net)
        self.d.wait_reachable(p, [(pl.name, pl.vm_address) for pl in plans])
        self.d.wait_glusterd(p, [pl.vm_address for pl in plans])
        for pl in plans:
            cli.command(["peer", "probe", pl.vm_address], "peer probe")
            self._wait_joined(p, cli, [pl.vm_address])
        subdir = "b%d" % (int(time.time()) % 100000)
        for pl in plans:
            self.d.ssh_target(pl.vm_address).run(["mkdir", "-p", storage_vm.brick_dir(self.d.id, subdir)])
        new_bricks = ["%s:%s" % (pl.vm_address, storage_vm.brick_dir(self.d.id, subdir)) for pl in plans]
        if kind == "convert":
            arb = info.bricks[2]
            p.step(steps[1])
            cli.command(["volume", "remove-brick", self.d.id, "replica", "2", arb.name, "force"], "remove-brick")
            p.step(steps[2])
            cli.command(["volume", "add-brick", self.d.id, "replica", "3", "arbiter", "1"] + new_bricks,
                        "add-brick")
            self.d.wait_bricks(p, cli, new_bricks)
            p.step(steps[3])
            # the 2-host exception (server quorum off) no longer applies with three nodes
            cli.command(["volume", "set", self.d.id, "cluster.server-quorum-type", "server"], "volume set")
            return self.wait_heal(p, heal_timeout)
        p.step(steps[1])
        args = ["volume", "add-brick", self.d.id]
        if info.disperse:
            args += new_bricks
        else:
            args += ["replica", str(info.replica)] + (["arbiter", "1"] if info.arbiter else []) + new_bricks
        cli.command(args, "add-brick")
        self.d.wait_bricks(p, cli, new_bricks)  # a rebalance needs every brick up
        p.step(steps[2])
        cli.command(["volume", "rebalance", self.d.id, "start"], "rebalance start")
        return self._wait_rebalance(p, cli, heal_timeout)

    def _wait_rebalance(self, p, cli, timeout):
        deadline = time.time() + timeout
        failing_since = None
        while time.time() < deadline:
            try:
                root = cli.command(["volume", "rebalance", self.d.id, "status"], "rebalance status")
            except GlusterError as exc:
                # right after "rebalance start" the status query asks rebalance daemons that are
                # still starting on some nodes ("brick op 'Rebalance' failed"): tolerate it a while
                failing_since = failing_since or time.time()
                if time.time() - failing_since > 90:
                    raise
                p.info("rebalance status not available yet (%s)" % exc)
                time.sleep(3)
                continue
            failing_since = None
            states = [n.findtext("statusStr") for n in root.iter("node")]
            files = sum(int(n.findtext("files") or 0) for n in root.iter("node"))
            p.info("rebalance: %s, %d file(s) moved" % (", ".join(sorted(set(s for s in states if s))), files))
            if states and all(s in ("completed", "not started") for s in states):
                # files the rebalance moved may still carry pending heal marks: end healthy, not degraded
                return self.wait_heal(p, max(60, deadline - time.time()))
            if any(s == "failed" for s in states):
                raise XosanError("rebalance failed on a node; see the rebalance log in the storage VMs")
            time.sleep(3)
        raise XosanError("rebalance not finished after %d s" % timeout)

    # -- destroy ---------------------------------------------------------------------------------------

    def plan_destroy(self, force=False):
        srs = self.d.mine("SR")
        vdis = sum(len(self.x.call(self.api.SR.get_VDIs, sr)) for sr, _ in srs)
        if vdis and not force:
            raise Refused("the XOSAN SR still holds %d VDI(s)" % vdis,
                          hint="Move or delete them, or add --force to destroy them with the SR")
        return ["unplug and destroy the SR%s" % (" and its %d VDI(s)" % vdis if vdis else ""),
                "shut down and destroy %d storage VM(s) and their data disks" % len(self.d.mine("VM")),
                "clear the dom0 storage addresses XOSAN set",
                "destroy the storage network if XOSAN created it"]

    def destroy(self, force=False):
        self.plan_destroy(force)
        self.d.rollback(force=force)
