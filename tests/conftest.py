import os
import shutil
import subprocess
import sys
import uuid

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

from smdriver import Driver  # noqa: E402
from xosan.lab.xapi_sim import XapiSim, XapiSimServer  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line("markers", "gluster: needs root, Debian's glusterfs-server and FUSE (the real lab)")
    config.addinivalue_line("markers", "slow: boots the storage VM image under qemu (minutes); "
                                       "`make appliance-test` runs them, `make test` leaves them out")


def _lab_id():
    # Distinct per Python run so the 3.6 and 3 runs never share namespaces.
    return "xt%d" % (sys.version_info[1] % 100)


@pytest.fixture
def xapi():
    """A XAPI simulator with a logged-in session, a host and nothing else."""
    server = XapiSimServer(XapiSim()).start()
    sim = server.sim
    sim.host_ref = sim.add("host", {"name_label": "host1", "address": "127.0.0.1"})
    sim.session_ref = sim.call("session.login_with_password", ["root", "xosan", "1.0", "tests"])["Value"]
    sim.url = server.url
    yield sim
    server.stop()


@pytest.fixture
def smenv(tmp_path, xapi):
    """Environment of one simulated dom0: its own mount base, locks and SMlog."""
    base = tmp_path / "sr-mount"
    base.mkdir()
    env = {"XOSAN_TEST_MOUNT_BASE": str(base), "XOSAN_TEST_LOCK_DIR": str(tmp_path / "locks"),
           "SMLOG_FILE": str(tmp_path / "SMlog"), "XOSAN_TEST_XAPI_URL": xapi.url}
    yield env
    # Never leave a mount behind, even when the test failed half way.
    with open("/proc/mounts") as fh:
        mps = [line.split()[1] for line in fh if str(base) in line.split()[1]]
    for mp in sorted(mps, reverse=True):
        subprocess.call(["umount", "-l", mp])


@pytest.fixture
def driver(smenv, xapi):
    return Driver(env=smenv, session_ref=xapi.session_ref, host_ref=xapi.host_ref)


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
    from labutil import lab_subnet, three_node_lab
    if os.geteuid() != 0 or not shutil.which("glusterd"):
        pytest.fail("the gluster tests need root and glusterfs-server (bash .ci/run installs it)")
    with three_node_lab(str(tmp_path_factory.mktemp("lab")), _lab_id(), lab_subnet(100)) as lab:
        yield lab
