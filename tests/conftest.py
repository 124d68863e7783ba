import os
import shutil
import sys
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

from smdriver import Driver  # noqa: E402

from xosan_lab.dom0 import Dom0  # noqa: E402
from xosan_lab.xapi_sim import XapiSim, XapiSimServer, XapiSimUnixServer  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "gluster: needs root, Debian's glusterfs-server and FUSE (the real lab)")
    config.addinivalue_line("markers", "slow: boots the storage VM image under qemu (minutes); "
                                       "`make appliance-test` runs them, `make test` leaves them out")




@pytest.fixture
def xapi(tmp_path):
    """A XAPI simulator with a logged-in session, a host and nothing else; over TCP (``url``)
    and on a unix socket (``socket``) for a dom0."""
    server = XapiSimServer(XapiSim()).start()
    sim = server.sim
    metrics = sim.add("host_metrics", {"live": True, "memory_total": str(8 << 30)})
    sim.host_ref = sim.add("host", {"name_label": "host1", "address": "127.0.0.1", "metrics": metrics,
                                    "enabled": True, "PBDs": [], "other_config": {}})
    sim.session_ref = sim.call("session.login_with_password", ["root", "xosan", "1.0", "tests"])["Value"]
    sim.url = server.url
    local = XapiSimUnixServer(sim, str(tmp_path / "xapi.sock")).start()
    sim.socket = local.path
    yield sim
    local.stop()
    server.stop()


@pytest.fixture
def dom0(tmp_path, xapi):
    """The simulated host's dom0 (xosan_lab/dom0.py): the real SM framework, xapi on its socket.
    Its down() unmounts whatever a test left mounted there, even when it failed half way."""
    d = Dom0(str(tmp_path / "dom0"), xapi.record("host", xapi.host_ref)["uuid"], xapi.socket).up()
    yield d
    d.down()


@pytest.fixture
def driver(dom0, xapi):
    return Driver(dom0, session_ref=xapi.session_ref, host_ref=xapi.host_ref)


@pytest.fixture
def new_sr(xapi):
    """Make the SR record xapi makes before it calls sr_create; return (uuid, ref)."""
    def make(dconf, shared=True):
        sr_uuid = str(uuid.uuid4())
        ref = xapi.add("SR", {"uuid": sr_uuid, "type": "xosan", "shared": shared, "sm_config": {},
                              "other_config": {}, "virtual_allocation": "0", "physical_size": "0",
                              "physical_utilisation": "0", "name_label": "XOSAN"})
        return sr_uuid, ref
    return make


@pytest.fixture(scope="session")
def gluster_lab(tmp_path_factory):
    """Three real storage nodes with a started replica 3 arbiter 1 volume 'xosan'."""
    from labutil import lab_name, lab_subnet, three_node_lab
    if os.geteuid() != 0 or not shutil.which("glusterd"):
        pytest.fail("the gluster tests need root and glusterfs-server (bash .ci/run installs it)")
    with three_node_lab(str(tmp_path_factory.mktemp("lab")), lab_name("xt"), lab_subnet(100)) as lab:
        yield lab
