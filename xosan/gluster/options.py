"""The GlusterFS option set for a volume of VM disk images.

Base: GlusterFS's own ``virt`` group (sharding, client and server quorum,
eager lock, strict O_DIRECT, granular locking, no read caches). On top, only
what XOSAN needs and can justify; docs/volume-options.md explains each one.
"""

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
    ("cluster.heal-timeout", "10",
     "the self-heal daemon sweeps its heal index when a brick comes up, on `volume heal`, and after "
     "a sweep that healed nothing only every heal-timeout seconds (default 600); writes made between "
     "a node's return and the FUSE client's reconnect to its new brick port can wait for that sweep "
     "(10 minutes without full redundancy, issue 13 item 6). 10 bounds that to about 10 s; no stall "
     "or heal-time cost measured in the lab (docs/reliability.md)"),
    ("cluster.server-quorum-ratio", "51%",
     "server quorum: bricks stop when fewer than half the storage nodes see each other; "
     "the split-brain guard when the storage network partitions"),
]

# Options that must be set before the first byte is written and never changed after.
CREATION_ONLY = ("features.shard", "features.shard-block-size")


def volume_set_commands(volume):
    # type: (str) -> list
    """gluster CLI argument lists, in order, that give ``volume`` the VM-image option set."""
    cmds = [["volume", "set", volume, "group", OPTION_GROUP]]
    for name, value, _ in VM_IMAGE_OPTIONS:
        if name == "cluster.server-quorum-ratio":
            cmds.append(["volume", "set", "all", name, value])
        else:
            cmds.append(["volume", "set", volume, name, value])
    return cmds
