"""A simulated dom0 in the lab: a network namespace with its own address on the lab bridge.

Its FUSE mounts are made with ``nsenter --net`` only, so the glusterfs client
process talks from the host's address while the mount itself lives in this
machine's mount namespace, where tests and the driver can reach it.
"""

from xosan_lab import netns
from xosan_lab.netns import netns_exists, netns_pids, sh
from xosan_lab.node import kill_pids


class LabHost(object):
    def __init__(self, state):
        self.state = state

    @classmethod
    def new(cls, lab_id, index, ip, prefixlen, bridge):
        name = "%s-h%d" % (lab_id, index)
        return cls({"name": name, "index": index, "ip": ip, "prefixlen": prefixlen, "netns": name,
                    "veth": "%sh%d" % (lab_id, index), "bridge": bridge})

    name = property(lambda self: self.state["name"])
    ip = property(lambda self: self.state["ip"])

    def create(self):
        netns.plug(self.state)

    def argv(self, argv):
        """Run ``argv`` from this host's network, in this machine's mount namespace."""
        return ["nsenter", "--net=/var/run/netns/%s" % self.state["netns"]] + list(argv)

    def block(self, address):
        netns.block(self.state, address)

    def unblock(self, address):
        netns.unblock(self.state, address)

    def mount(self, servers, volume, mountpoint):
        """Mount ``volume`` at ``mountpoint`` with this host's address as the client's."""
        import os
        os.makedirs(mountpoint, exist_ok=True)
        opts = "backup-volfile-servers=" + ":".join(servers[1:]) if len(servers) > 1 else "defaults"
        sh(self.argv(["mount", "-t", "glusterfs", "-o", opts, "%s:/%s" % (servers[0], volume), mountpoint]))

    def destroy(self):
        """Kill what runs in the host's network namespace (its FUSE clients), then remove it."""
        if netns_exists(self.state["netns"]):
            kill_pids(netns_pids(self.state["netns"]))
        netns.unplug(self.state)
