"""A simulated dom0 in the lab: a network namespace with its own address on the lab bridge.

Its FUSE mounts are made with ``nsenter --net`` only, so the glusterfs client
process talks from the host's address while the mount itself lives in this
machine's mount namespace, where tests and the driver can reach it.
"""

from xosan.lab.node import link_exists, netns_exists, netns_pids, kill_pids, sh


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
        s = self.state
        if not netns_exists(s["netns"]):
            sh(["ip", "netns", "add", s["netns"]])
        if not link_exists(s["veth"]):
            sh(["ip", "link", "add", s["veth"], "type", "veth", "peer", "name", "eth0", "netns", s["netns"]])
        sh(["ip", "link", "set", s["veth"], "master", s["bridge"], "up"])
        sh(["ip", "-n", s["netns"], "addr", "replace", "%s/%d" % (s["ip"], s["prefixlen"]), "dev", "eth0"])
        sh(["ip", "-n", s["netns"], "link", "set", "eth0", "up"])
        sh(["ip", "-n", s["netns"], "link", "set", "lo", "up"])

    def argv(self, argv):
        """Run ``argv`` from this host's network, in this machine's mount namespace."""
        return ["nsenter", "--net=/var/run/netns/%s" % self.state["netns"]] + list(argv)

    def block(self, address):
        sh(["ip", "-n", self.state["netns"], "route", "replace", "blackhole", "%s/32" % address])

    def unblock(self, address):
        sh(["ip", "-n", self.state["netns"], "route", "del", "blackhole", "%s/32" % address], check=False)

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
            sh(["ip", "netns", "del", self.state["netns"]])
        if link_exists(self.state["veth"]):
            sh(["ip", "link", "del", self.state["veth"]], check=False)
