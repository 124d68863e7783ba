"""The GlusterFS option set for a volume of VM disk images.

Base: GlusterFS's own ``virt`` group (sharding, client and server quorum,
eager lock, strict O_DIRECT, granular locking, no read caches). On top, only
what XOSAN needs and can justify with a measurement; docs/volume-options.md
explains each one and docs/performance.md holds the numbers.

Thread counts depend on the cores that run them (the storage VM's vCPUs for
the bricks, dom0's for the FUSE client), so they are computed per deployment
by ``vm_image_options``; everything else is the same on every pool.
"""

from xosan.errors import XosanError

OPTION_GROUP = "virt"

# (option, value, why). Applied in order, after the group.
VM_IMAGE_OPTIONS = [
    ("features.shard-block-size", "64MB",
     "heal and rebalance move whole shards; 64 MB keeps a heal after a short outage small "
     "while keeping the shard count of a 2 TiB VHD manageable (32768)"),
    ("cluster.lookup-optimize", "off",
     "the virt group sets it too; stated again because with sharding it must never be on "
     "(known corruption on add/remove-brick)"),
    ("network.ping-timeout", "4",
     "a storage node that vanishes stalls client I/O for about this long (measured in the lab: "
     "4.1 s with 4, 5.7 s with 5); XenServer HA fences a host whose statefile I/O stalls for "
     "60 s and XOSAN's target is at most 5 s"),
    ("server.tcp-user-timeout", "4",
     "the same bound on the server side, so a brick drops a vanished client as fast"),
    ("client.tcp-user-timeout", "3",
     "what actually bounds a silent cut: the kernel closes a client connection whose sent data stayed "
     "unacknowledged 3 s (TCP_USER_TIMEOUT; GlusterFS's own default is 42 s). The ping timer alone "
     "notices a cut between 1x and 2x network.ping-timeout after it (a ping every ping-timeout): "
     "measured 4.5-7.7 s with 4 (8 cuts), 3.3-3.5 s with this (4 cuts), flaps 5.3-8.0 s -> 3.4-5.7 s, and "
     "no false disconnect under load or with a brick or the client frozen 3-3.5 s, where "
     "network.ping-timeout 2 dropped a brick frozen 3.5 s (docs/reliability.md). Applied when a "
     "connection is made, not to open ones"),
    ("cluster.heal-timeout", "10",
     "the self-heal daemon sweeps its heal index when a brick comes up, on `volume heal`, and after "
     "a sweep that healed nothing only every heal-timeout seconds (default 600); writes made between "
     "a node's return and the FUSE client's reconnect to its new brick port can wait for that sweep "
     "(10 minutes without full redundancy, issue 13 item 6). 10 bounds that to about 10 s; no stall "
     "or heal-time cost measured in the lab (docs/reliability.md)"),
    ("performance.client-io-threads", "off",
     "the virt group turns the io-threads translator on in the FUSE client; measured off: +15 % 4K "
     "random read alone (client CPU per read -20 %), and part of the combination with the thread "
     "counts below: against the previous set, in two runs, 4K random read +35 % / +19 %, 4K random "
     "write +49 % (second run), 4K 70/30 mix +47 % / +13 % (docs/performance.md). A dom0 FUSE client hands each "
     "request to another thread only to wait for the network; no safety effect"),
    ("cluster.server-quorum-ratio", "51%",
     "server quorum: bricks stop when fewer than half the storage nodes see each other; "
     "the split-brain guard when the storage network partitions"),
]

# Measured with 2 storage VM vCPUs and a 2-core dom0 (the lab; 2 is also the manifest's default
# vm.vcpus). Used when the real counts are unknown.
MEASURED_CORES = 2
# GlusterFS's own bounds (glusterd-volume-set.c): event-threads 1..32, io-thread-count 1..64.
EVENT_THREADS_MAX = 32
IO_THREADS_MAX = 64
# The virt group's event-threads and GlusterFS's default io-thread-count: what each thread count
# was before XOSAN measured fewer; never raised above them (more was never measured to help).
VIRT_EVENT_THREADS = 4
DEFAULT_IO_THREADS = 16

# Items of the virt group that VM data safety rests on; the group sets them at creation, and
# ``xosan tune`` checks them on a live volume (someone may have loosened one by hand to go faster).
SAFETY_OPTIONS = [
    ("features.shard", "on",
     "VHDs are cut in shards, so a heal copies the changed shards, not a whole disk"),
    ("cluster.quorum-type", "auto",
     "client quorum: a replica set takes writes only with a majority of its bricks (no split-brain)"),
    ("performance.strict-o-direct", "on",
     "tapdisk opens VHDs O_DIRECT and does not fsync on a guest flush; off lets write-behind "
     "acknowledge a write no brick has (measured faster, lost on a dom0 crash)"),
    ("network.remote-dio", "disable",
     "enable drops O_DIRECT at the client, so a write is acknowledged from a brick's page cache "
     "(lost on a storage host's power loss)"),
    ("cluster.eager-lock", "enable",
     "one lock per write burst; measured: disable makes 4K random writes 7x slower"),
]

# Options that must be set before the first byte is written and never changed after.
CREATION_ONLY = ("features.shard", "features.shard-block-size")

# Options whose value is cluster-wide (``gluster volume set all ...``).
CLUSTER_WIDE = ("cluster.server-quorum-ratio",)


def _cores(n, what):
    if n is None:
        return MEASURED_CORES
    try:
        n = int(n)
    except (TypeError, ValueError):
        raise XosanError("%s must be a whole number of cores, got %r" % (what, n))
    if n < 1:
        raise XosanError("%s must be at least 1, got %d" % (what, n))
    return n


def sized_options(storage_vcpus=None, dom0_cores=None):
    # type: (object, object) -> list
    """(option, value, why) of the thread counts, from the cores that will run the threads.

    Fewer threads than the virt group's won on a 2-core storage VM and dom0 (docs/performance.md);
    the likely reason is that threads beyond the cores only add context switches and hand-offs.
    The rule keeps the measured values at 2 cores and never goes above what GlusterFS or the virt
    group chose, since more was never measured.
    """
    vm = _cores(storage_vcpus, "storage VM vCPUs")
    dom0 = _cores(dom0_cores, "dom0 cores")
    brick_threads = min(2 * vm, DEFAULT_IO_THREADS, IO_THREADS_MAX)
    return [
        ("performance.io-thread-count", str(brick_threads),
         "threads of each brick's io-threads translator, 2 per storage VM vCPU (%d vCPUs here; "
         "GlusterFS default 16). Measured at 2 vCPUs: 4 threads gave +49 %% 4K random read (every "
         "round +34 %% to +61 %%), less client CPU per read, 4K writes unchanged; 8 instead "
         "of 4 within the noise on every row (5 rounds); capped at the default, more never measured to help" % vm),
        ("server.event-threads", str(min(vm, VIRT_EVENT_THREADS, EVENT_THREADS_MAX)),
         "network threads of each brick = the storage VM's vCPUs (%d), at most the virt group's 4: "
         "on 2 vCPUs, 2 instead of 4 is part of the measured combination (see "
         "performance.client-io-threads); alone within the noise" % vm),
        ("client.event-threads", str(min(dom0, VIRT_EVENT_THREADS, EVENT_THREADS_MAX)),
         "network threads of each dom0 FUSE client = dom0's cores (%d, the fewest of the pool's "
         "hosts), at most the virt group's 4; dom0 also runs tapdisk and xapi on those cores. "
         "Measured with the above at 2 cores" % dom0),
    ]


def vm_image_options(storage_vcpus=None, dom0_cores=None):
    # type: (object, object) -> list
    """Every (option, value, why) XOSAN sets on top of the group, in the order it sets them."""
    return list(VM_IMAGE_OPTIONS) + sized_options(storage_vcpus, dom0_cores)


def volume_set_commands(volume, storage_vcpus=None, dom0_cores=None):
    # type: (str, object, object) -> list
    """gluster CLI argument lists, in order, that give ``volume`` the VM-image option set."""
    cmds = [["volume", "set", volume, "group", OPTION_GROUP]]
    for name, value, _ in vm_image_options(storage_vcpus, dom0_cores):
        cmds.append(["volume", "set", "all" if name in CLUSTER_WIDE else volume, name, value])
    return cmds


# Options a client or brick applies when it makes a connection, not to the ones it has open: `xosan tune
# --apply` says so, since they reach a dom0 only at its next reconnect (an SR re-plug, a host reboot, a
# brick restart), whereas the others switch online.
ON_NEXT_CONNECTION = frozenset(["client.tcp-user-timeout"])
