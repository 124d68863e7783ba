"""A simulated pool for tests: the lab's XAPI simulator in-process, real storage nodes."""

import os

import pytest
from labutil import lab_name, lab_subnet

from xosan.gluster.tls import SECURE_ACCESS
from xosan.pool import manifest
from xosan.pool.deploy import Deployment
from xosan.pool.operate import Operations
from xosan.pool.xapi import Xapi
from xosan_lab.cluster import Lab
from xosan_lab.pool_sim import LabXapi
from xosan_lab.standin import make_standin
from xosan_lab.xapi_sim import XapiSimServer

GiB = 1024 ** 3
STORAGE_NET = "Pool-wide network associated with eth1"


class Pool(object):
    """``offset`` picks the lab id and subnet a test module owns; a bench run passes ``lab_id`` and
    ``subnet`` itself. A pool that fails half way up takes down what it started."""

    def __init__(self, tmp_path, hosts, offset=None, lab_id=None, subnet=None):
        self.lab = Lab.new(str(tmp_path / "lab"), lab_id=lab_id or lab_name("xd%d" % offset),
                           subnet=subnet or lab_subnet(offset))
        self.server = self.sim = None
        try:
            self.lab.bridge_up()
            self.sim = LabXapi(self.lab, hosts=hosts, local_sr_size=8 * GiB)
            self.server = XapiSimServer(self.sim, address=self.lab.host_ip).start()
            self.sim.url = self.server.url
            self.subnet = self.lab.state["subnet"]
            self.state_dir = str(tmp_path / "state")
            self.password_file = str(tmp_path / "password")
            with open(self.password_file, "w") as fh:
                fh.write("xosan\n")
            self.image = make_standin(str(tmp_path / "appliance"))
        except BaseException:
            self.close()
            raise

    def flags(self, **kw):
        flags = dict(master=self.server.url, password_file=self.password_file, addresses=self.subnet + ".0/24",
                     network_mode="existing", network_name=STORAGE_NET, brick_size="2G", image=self.image)
        flags.update(kw)
        return flags

    def manifest(self, **kw):
        return manifest.from_flags(**self.flags(**kw))

    def cli_args(self, **kw):
        args = []
        for k, v in sorted(self.flags(**kw).items()):
            args += ["--" + k.replace("_", "-"), str(v)]
        return args + ["--state-dir", self.state_dir]

    def deployment(self, m=None, **kw):
        m = m or self.manifest()
        x = Xapi.connect(m.pool.master, "root", password_file=m.pool.password_file)
        return Deployment(x, m, state_dir=self.state_dir, out=open(os.devnull, "w"), **kw)

    def ops(self, m=None):
        return Operations(self.deployment(m))

    def node_of(self, host_name):
        for n in self.lab.nodes:
            if n.state.get("vm_name") == "XOSAN storage VM (%s)" % host_name:
                return n
        raise KeyError(host_name)

    def mount_path(self, host_name, sr_uuid, *more):
        """A file of the SR as host ``host_name``'s dom0 sees it."""
        return self.sim.dom0_path(host_name, os.path.join("/var/run/sr-mount", sr_uuid, *more))

    def snapshot(self):
        """What an admin would compare: objects and dom0 addresses (tasks and sessions aside)."""
        db = self.sim.db
        snap = dict((cls, sorted(db[cls])) for cls in ("VM", "VDI", "VBD", "VIF", "SR", "PBD", "network"))
        snap["PIF-IPs"] = sorted((r, p["IP"]) for r, p in db["PIF"].items())
        return snap

    def close(self):
        if self.server is not None:
            self.server.stop()
        if self.sim is not None:
            self.sim.close()
        self.lab.down()


def management_tls_on(node):
    """Whether lab storage node ``node`` has management TLS's switch file (its /var/lib/glusterd is
    the node's own ``glusterd`` folder)."""
    return os.path.exists(os.path.join(node.state["dir"], "glusterd", os.path.basename(SECURE_ACCESS)))


def pool_fixture(hosts, offset):
    """A pytest fixture giving a fresh Pool of ``hosts`` hosts; ``offset`` keeps its lab id and subnet
    apart from every other module's."""
    @pytest.fixture
    def _pool(tmp_path):
        p = Pool(tmp_path, hosts, offset)
        yield p
        p.close()
    return _pool
