"""A lab cluster: a bridge, N storage nodes and their trusted pool, saved in a state file.

The state file is the only way ``down`` finds what to remove, so ``down``
works after a crash and never touches anything the lab did not create.
"""

import json
import os
import shutil
import time

from xosan.gluster import GlusterCLI, ssh
from xosan.gluster.options import volume_set_commands
from xosan.pool import planner
from xosan_lab.host import LabHost
from xosan_lab.node import LabError, LabNode, link_exists, sh

STATE_FILE = "lab.json"


class Lab(object):
    def __init__(self, state):
        self.state = state
        self.nodes = [LabNode(s) for s in state["nodes"]]
        self.hosts = [LabHost(s) for s in state.setdefault("hosts", [])]

    # -- state ------------------------------------------------------------------------------

    @classmethod
    def new(cls, workdir, lab_id="xosan", subnet="10.250.0", use_loop=True):
        if len(lab_id) > 9:
            raise LabError("lab id %r is longer than 9 characters (interface names are limited)" % lab_id)
        return cls({"lab_id": lab_id, "workdir": os.path.abspath(workdir), "subnet": subnet,
                    "prefixlen": 24, "bridge": "%sbr0" % lab_id, "host_ip": "%s.1" % subnet,
                    "use_loop": use_loop, "nodes": [], "volumes": []})

    @classmethod
    def load(cls, workdir):
        path = os.path.join(workdir, STATE_FILE)
        if not os.path.exists(path):
            return None
        with open(path) as fh:
            return cls(json.load(fh))

    def save(self):
        self.state["nodes"] = [n.state for n in self.nodes]
        self.state["hosts"] = [h.state for h in self.hosts]
        os.makedirs(self.state["workdir"], exist_ok=True)
        tmp = os.path.join(self.state["workdir"], STATE_FILE + ".tmp")
        with open(tmp, "w") as fh:
            json.dump(self.state, fh, indent=2, sort_keys=True)
        os.rename(tmp, os.path.join(self.state["workdir"], STATE_FILE))

    @property
    def host_ip(self):
        return self.state["host_ip"]

    def node(self, name_or_index):
        for n in self.nodes:
            if name_or_index in (n.name, n.state["index"], str(n.state["index"]), "n%s" % n.state["index"]):
                return n
        raise LabError("no lab node %r (nodes: %s)" % (name_or_index, ", ".join(n.name for n in self.nodes)))

    # -- life cycle ------------------------------------------------------------------------------

    def bridge_up(self):
        self._bridge_up()
        self.save()

    def _bridge_up(self):
        br = self.state["bridge"]
        if not link_exists(br):
            sh(["ip", "link", "add", br, "type", "bridge"])
        sh(["ip", "addr", "replace", "%s/%d" % (self.host_ip, self.state["prefixlen"]), "dev", br])
        sh(["ip", "link", "set", br, "up"])

    def up(self, count, brick_size=None):
        """Create (or restart) ``count`` nodes and make them one trusted pool."""
        if count < 1 or count > 16:
            raise LabError("a lab has 1 to 16 nodes, not %d" % count)
        self._bridge_up()
        while len(self.nodes) < count:
            i = len(self.nodes) + 1
            self.nodes.append(LabNode.new(self.state["lab_id"], i, "%s.%d" % (self.state["subnet"], 10 + i),
                                          self.state["prefixlen"], self.state["workdir"], self.state["bridge"],
                                          brick_size=brick_size, use_loop=self.state["use_loop"]))
        self.save()
        pub = ssh.generate_key(self.ssh_key, comment="xosan-lab-%s" % self.state["lab_id"])
        for n in self.nodes:
            n.start(authorized_keys=[pub])
            self.save()
        ssh.write_known_hosts(self.known_hosts, [ssh.known_hosts_line(n.ip, n.host_public_key())
                                                 for n in self.nodes])
        self.probe_peers()
        return self

    # -- how the product reaches the nodes: SSH with the lab's deployment key ----------------

    @property
    def ssh_key(self):
        return os.path.join(self.state["workdir"], "ssh", "id_ed25519")

    @property
    def known_hosts(self):
        return os.path.join(self.state["workdir"], "ssh", "known_hosts")

    def ssh_target(self, node):
        return ssh.SSHTarget(node.ip, self.ssh_key, self.known_hosts)

    def node_cli(self, node):
        """A GlusterCLI inside ``node``'s namespaces: the product's named operations, without SSH."""
        return GlusterCLI(runner=node.run, where=node.ip, timeout=60)

    def probe_peers(self, timeout=30.0):
        first = self.nodes[0]
        cli = self.node_cli(first)
        for n in self.nodes[1:]:
            cli.peer_probe(n.ip)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if sum(1 for p in cli.pool_list() if p.connected) >= len(self.nodes):
                return
            time.sleep(0.3)
        raise LabError("peers of %s did not all connect within %s s" % (first.name, timeout))

    def volume_exists(self, name):
        return self.nodes[0].gluster(["volume", "info", name], check=False).returncode == 0

    def create_volume(self, name, layout_args=None, nodes=None, options=True, layout="auto"):
        """Create and start volume ``name``: from explicit ``layout_args`` (one brick per node, the
        tests' way) or from the planner's ``layout`` (as deploy does), with the VM-image options."""
        nodes = nodes or self.nodes
        cli = self.node_cli(self.nodes[0])
        force = not self.state["use_loop"]  # bricks on the root file system
        extra_options = []
        if layout_args is not None:
            bricks = ["%s:%s" % (n.ip, n.brick_path(name)) for n in nodes]
        else:
            by_ip = dict((n.ip, n) for n in nodes)
            plan = planner.plan_layout([planner.NodeSpec(n.name, n.ip, n.state["brick_size"]) for n in nodes],
                                       layout)
            bricks = plan.brick_args(lambda b: by_ip[b.node.address].brick_path(name, b.subdir))
            layout_args, force = plan.create_args, force or plan.force
            extra_options = plan.volume_options
            for b in plan.bricks:
                by_ip[b.node.address].run(["mkdir", "-p", by_ip[b.node.address].brick_path(name, b.subdir)])
        cli.volume_create(name, bricks, layout_args, force=force)
        if options:
            for _, _, target, option, value in volume_set_commands(name):
                cli.volume_set(target, option, value)
            for option, value, _ in extra_options:
                cli.volume_set(name, option, value)
        cli.volume_start(name)
        if name not in self.state["volumes"]:
            self.state["volumes"].append(name)
        self.save()

    def stop_xapi(self):
        """Stop the XAPI simulator process first, so nothing restarts a node behind our back."""
        from xosan_lab.node import kill_pids, pid_alive
        info = self.state.get("xapi") or {}
        pid = info.get("pid")
        if pid and pid_alive(pid):
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as fh:
                    ours = b"xosan_lab.serve" in fh.read()
            except OSError:
                ours = False
            if ours:  # the pid was recorded by the simulator itself; check it was not reused
                kill_pids([pid])
        self.state.pop("xapi", None)
        # the simulator may have added nodes and hosts since we loaded the state
        fresh = Lab.load(self.state["workdir"])
        if fresh is not None:
            self.nodes, self.hosts = fresh.nodes, fresh.hosts
            self.state.update(dict((k, v) for k, v in fresh.state.items() if k not in ("nodes", "hosts", "xapi")))

    def unmount_all(self):
        """Lazily unmount every mount under the lab's folder (the simulated hosts' SR mounts)."""
        from xosan.sr.mount import mounts
        top = self.state["workdir"].rstrip("/") + "/"
        for _, mp, _, _ in sorted(mounts(), key=lambda m: -len(m[1])):
            if mp.startswith(top):
                sh(["umount", "-l", mp], check=False)

    def add_host(self):
        """A simulated dom0 with its own address (.101, .102, ...) on the lab bridge."""
        i = len(self.hosts) + 1
        host = LabHost.new(self.state["lab_id"], i, "%s.%d" % (self.state["subnet"], 100 + i),
                           self.state["prefixlen"], self.state["bridge"])
        self.hosts.append(host)
        self.save()
        host.create()
        return host

    def down(self):
        """Remove every host, node, loop device and the bridge; safe after a crash; idempotent."""
        from xosan_lab.dom0 import reap
        self.stop_xapi()
        hosts_dir = os.path.join(self.state["workdir"], "hosts")
        for name in sorted(os.listdir(hosts_dir)) if os.path.isdir(hosts_dir) else []:
            reap(os.path.join(hosts_dir, name, "dom0"))  # dom0s a crashed simulator left running
        self.unmount_all()
        for h in self.hosts:
            h.destroy()
            self.save()
        for n in self.nodes:
            n.destroy()
            self.save()
        if link_exists(self.state["bridge"]):
            sh(["ip", "link", "del", self.state["bridge"]])
        self._remove_workdir()

    def _remove_workdir(self):
        """Nothing a later run could trip on: the nodes' glusterd state, keys, half-made folders.
        Refused (with the reason) while anything is still mounted inside it."""
        from xosan.sr.mount import mounts
        top = self.state["workdir"].rstrip("/")
        busy = [mp for _, mp, _, _ in mounts() if mp == top or mp.startswith(top + "/")]
        if busy:
            raise LabError("lab down left %s mounted; unmount it, then run lab down again" % ", ".join(busy))
        if os.path.exists(os.path.join(top, STATE_FILE)):  # a lab's folder, not some other one
            shutil.rmtree(top)
