"""The GlusterFS side of a deployment: its trusted pool, its volume, and the waits between steps.

glusterd answers a command once it has started a change, not once the cluster reached the
state the change leads to; every step here that needs that state (peers joined, bricks up,
heal or rebalance done) waits for it, within a bound, and says what it saw.
"""

import time

from xosan import gluster
from xosan.errors import DeployError, GlusterError, XosanError
from xosan.gluster import health
from xosan.gluster.options import volume_set_commands
from xosan.pool import storage_vm, tune
from xosan.pool.inventory import address_of

# A GlusterCLI for the day-2 commands, which include a heal info of a large volume.
ANY_CLI_TIMEOUT = 120
# How long "rebalance status" may keep failing right after "rebalance start".
REBALANCE_STARTING = 90
# A failed rebalance is started again this many times, the pause growing by this many seconds each
# time (5, 10, ... 30 s: 105 s in all; wait_rebalance says why).
REBALANCE_RESTARTS = 6
REBALANCE_RESTART_PAUSE = 5
# After a heal: how long every client may take to connect to every brick (a returned brick's new port,
# a new brick's volfile change; through management TLS's handshakes), issue 13's "back to full
# redundancy" bound.
CLIENTS_TIMEOUT = 60


def command_order(addresses, volfile_servers):
    # type: (list, list) -> list
    """``addresses`` (storage VMs) in the order to run gluster commands from: the ones the dom0s do
    not mount from first, then the SR's volfile servers from last to first.

    Why: a command that changes the volume's graph (volume set, add-brick, replace-brick) is
    committed first on the node that runs it, then on its peers. The node's own clients rebuild
    their graph at once and look up every brick's port at the peers, which are committing right
    then; under management TLS glusterd's commit breaks connections still in their handshake (a
    GlusterFS bug, docs/upstream-glusterd-tls-notify.md), and with two of three lookups lost a dom0's
    mount answers ENOTCONN for seconds. A dom0 told of the change by a peer (which commits alongside
    the others) looks up after them. The dom0s mount from the first volfile server that answers, so
    commands run from elsewhere: measured, bench/graphswitch.py --set-on (docs/security-tls.md)."""
    rank = dict((a, i) for i, a in enumerate(volfile_servers))
    return sorted(addresses, key=lambda a: -rank.get(a, len(volfile_servers)))


class Cluster(object):
    def __init__(self, access, inventory, volume):
        self.access = access
        self.inventory = inventory
        self.volume = volume

    def any_cli(self, exclude=()):
        """A GlusterCLI over SSH on a running storage VM that answers, taken in ``command_order``
        (not the dom0s' volfile server while another answers)."""
        running = [address_of(rec) for _, rec in self.inventory.mine("VM") if rec["power_state"] == "Running"]
        for ip in command_order([ip for ip in running if ip and ip not in exclude], self.inventory.volfile_servers()):
            target = self.access.target(ip)
            if target.reachable(timeout=10):
                return gluster.GlusterCLI(runner=target.run, where=ip, timeout=ANY_CLI_TIMEOUT)
        raise DeployError("no storage VM of deployment %r answers over SSH" % self.volume)

    def health(self):
        cli = self.any_cli()
        return health.collect(cli, self.volume), cli

    # -- waits -----------------------------------------------------------------------------------

    def wait_glusterd(self, p, addresses, clis=None, timeout=gluster.GLUSTERD_TIMEOUT):
        """After a storage VM (re)started: SSH answering does not mean its glusterd does yet."""
        clis = clis or self.access.clis(addresses)
        gluster.wait_for_glusterd(dict((a, clis[a]) for a in addresses), timeout)
        p.info("glusterd answers on %s" % ", ".join(addresses))

    def wait_peers(self, p, clis, members=None, timeout=gluster.PEER_TIMEOUT):
        """Until glusterd on every node of ``clis`` sees each member as 'Peer in Cluster'."""
        gluster.wait_for_peers(clis, members, timeout)
        p.info("%s: '%s' on %s" % (", ".join(members if members is not None else sorted(clis)),
                                   gluster.PEER_IN_CLUSTER, ", ".join(sorted(clis))))

    def wait_bricks(self, p, cli, bricks=None, timeout=gluster.BRICKS_TIMEOUT):
        gluster.wait_for_bricks(cli, self.volume, bricks, timeout)
        p.info("%s online" % ("%d brick(s)" % len(bricks) if bricks else "every brick"))

    def wait_joined(self, p, cli, new_ips, exclude=(), timeout=gluster.PEER_TIMEOUT):
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
        clis = dict((n, cli if n == here else self.access.cli(n)) for n in nodes)
        self.wait_peers(p, clis, nodes, timeout)

    def wait_heal(self, p, timeout, clients_timeout=CLIENTS_TIMEOUT):
        """Until no brick has entries waiting for self-heal and every brick is online; then, at most
        ``clients_timeout`` more seconds, until every client reaches every brick (a client still
        on the old graph writes to the set without the new brick, which marks it stale again).
        Returns the last health: HEALTHY, or degraded saying which client is still missing."""
        cli = self.any_cli()
        h = self._wait_healed(p, cli, timeout)
        deadline = time.time() + clients_timeout
        said = None
        while h.verdict != health.HEALTHY and time.time() < deadline:
            if h.reason != said:
                p.info("waiting for the clients: %s" % h.reason)
                said = h.reason
            time.sleep(2)
            h = health.collect(cli, self.volume)
        return h

    def _wait_healed(self, p, cli, timeout):
        deadline = time.time() + timeout
        last = None
        while True:
            try:  # ask for an index heal now; the self-heal daemon also gets there on its own
                cli.heal(self.volume)
            except GlusterError:
                pass  # e.g. the daemon of a node that just came back is not running yet
            h = health.collect(cli, self.volume)
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

    def wait_rebalance(self, p, cli, timeout, restarts=REBALANCE_RESTARTS, sleep=time.sleep):
        """Until every node's rebalance is done, then until the moved files are healed.

        A node's rebalance daemon that starts before its client graph reaches the bricks add-brick
        just made fails its first lookup of / ("Transport endpoint is not connected") and ends
        "failed" having moved nothing, while the volume is healthy seconds later (bench/daytwo.py:
        2 add-host runs in 6 under a writer; with management TLS every daemon's brick port lookups
        are TLS handshakes too, six daemons at once on a 2-core lab machine, and 2 restarts 5 s apart
        were not always enough). A rebalance is safe to start again (what moved stays moved), so a
        failed one is started again, a bounded number of times with growing pauses, before add-host
        fails.
        """
        allowed = restarts
        deadline = time.time() + timeout
        failing_since = None
        while time.time() < deadline:
            try:
                status = cli.rebalance_status(self.volume)
            except GlusterError as exc:
                # right after "rebalance start" the status query asks rebalance daemons that are
                # still starting on some nodes ("brick op 'Rebalance' failed"): tolerate it a while
                failing_since = failing_since or time.time()
                if time.time() - failing_since > REBALANCE_STARTING:
                    raise
                p.info("rebalance status not available yet (%s)" % exc)
                sleep(3)
                continue
            failing_since = None
            p.info("rebalance: %s, %d file(s) moved" % (", ".join(status.states), status.files))
            if status.finished:
                # files the rebalance moved may still carry pending heal marks: end healthy, not degraded
                return self.wait_heal(p, max(60, deadline - time.time()))
            if status.failed:
                failed = ", ".join(n.name for n in status.nodes if n.state == "failed")
                if restarts <= 0:
                    raise XosanError("rebalance failed on %s; see the rebalance log in those storage VMs "
                                     "(/var/log/glusterfs/%s-rebalance.log)" % (failed, self.volume))
                restarts -= 1
                p.info("rebalance failed on %s; starting it again (files already moved stay moved)" % failed)
                sleep(REBALANCE_RESTART_PAUSE * (allowed - restarts))
                cli.rebalance_start(self.volume)
                continue
            sleep(3)
        raise XosanError("rebalance not finished after %d s" % timeout)

    # -- making it -------------------------------------------------------------------------------

    def form(self, p, addresses):
        """The trusted pool of the nodes at ``addresses``, probed from the first; returns the GlusterCLI
        of the LAST, which runs the commands that follow: ``addresses`` is in the SR's volfile-server
        order, so on a re-run the dom0s mount from the first (``command_order`` says why not there)."""
        clis = self.access.clis(addresses)
        first = clis[addresses[0]]
        self.wait_glusterd(p, addresses, clis)
        for address in addresses[1:]:
            first.peer_probe(address)
        # volume create names them all: each node must see every other one 'Peer in Cluster'
        self.wait_peers(p, clis)
        return clis[addresses[-1]]

    def join(self, p, cli, address, exclude=()):
        """Probe a new node from ``cli``'s node and wait until the pool agrees it is in."""
        cli.peer_probe(address)
        # add-brick and replace-brick are staged on every node: each must see the new peer
        self.wait_joined(p, cli, [address], exclude=exclude)

    def brick_dirs(self, addresses, subdir):
        """Make the brick directory ``subdir`` on each node; returns the bricks ("host:/path")."""
        path = storage_vm.brick_dir(self.volume, subdir)
        for address in addresses:
            self.access.target(address).run(["mkdir", "-p", path])
        return ["%s:%s" % (address, path) for address in addresses]

    def create_volume(self, p, first, layout, access=None, allowed=None):
        """The volume of ``layout`` (unless it exists), its options, started, its bricks online.
        ``access`` (an AccessList) and ``allowed`` (its addresses): set before the start, so the
        volume never serves a stranger, and set again on a re-run that finds it missing."""
        volume = self.volume
        if volume not in first.volume_list():
            for b in layout.bricks:
                self.access.target(b.node.address).run(["mkdir", "-p", storage_vm.brick_dir(volume, b.subdir)])
            first.volume_create(volume, layout.brick_args(lambda b: storage_vm.brick_dir(volume, b.subdir)),
                                layout.create_args, force=layout.force)
            p.info("created: %s" % " ".join(layout.create_args))
        # thread counts sized from the cores that run them: the storage VMs exist by now
        c = tune.cores(self.inventory)
        p.info("thread options sized for %d storage VM vCPUs (%s), %d dom0 cores (%s)"
               % (c.storage_vcpus, c.storage_source, c.dom0_cores, c.dom0_source))
        for _, _, target, option, value in volume_set_commands(volume, c.storage_vcpus, c.dom0_cores):
            first.volume_set(target, option, value)
        for option, value, _ in layout.volume_options:
            first.volume_set(volume, option, value)
        if access is not None:
            access.enforce(p, first, allowed, self.access, access.running_vm_addresses())
        [info] = first.volume_info(volume)
        if not info.started:
            first.volume_start(volume)
        p.info("started, VM-image options applied")
        # "volume start" returns before the brick processes listen: the SR needs them
        self.wait_bricks(p, first, [b.name for b in info.bricks])
