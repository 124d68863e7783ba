"""The contract suite: drivers/XOSANSR.py under the REAL XCP-ng SM framework.

The framework is ../shared/vendor/xcp-ng-sm (XCP-ng 8.3's sm, pinned) or $XOSAN_SM_DIR (for
example /opt/xensource/sm copied from a real host); the VHD tools are blktap's real vhd-util
and td-util (built by .ci/build-blktap). Each call goes the way xapi makes it: the driver is
exec'd as /opt/xensource/sm/XOSANSR in a lab dom0 (xosan_lab/dom0.py) with one XML-RPC call,
and the framework talks back to xapi (the project's XAPI simulator) on /var/lib/xcp/xapi.
The volume is a real replica 3 arbiter 1 GlusterFS volume on three lab nodes.

What cannot run here, said plainly: tapdisk (it needs the blktap kernel device and an
unlimited RLIMIT_MEMLOCK), so vdi_attach / vdi_activate / vdi_detach / vdi_deactivate and the
tapdisk half of vdi_attach_from_config are not called through the framework's blktap2 layer;
systemd is not PID 1, so the GC service runs under the lab's systemctl (xosan_lab/systemctl.py),
which reads the sm package's real SMGC@.service and the driver's drop-in as systemd would.
"""

import json
import os
import subprocess
import sys
import time
import uuid as uuidlib
import xml.dom.minidom
import xmlrpc.client

import pytest
import vhdblocks
from smdriver import SMFault, unwrap

from xosan_lab.dom0 import SYSTEMD_STATE, real_sm_dir
from xosan_lab.onehost import OneHost

pytestmark = pytest.mark.gluster

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MiB = 1024 ** 2
VHD_UTIL = "/usr/bin/vhd-util"


@pytest.fixture(scope="module")
def sm_dir():
    path = real_sm_dir()
    if path is None:
        message = ("the contract suite did not run: the real SM framework is not here (../shared/vendor/xcp-ng-sm"
                   "/drivers); set XOSAN_SM_DIR=/path/to/sm/drivers or XOSAN_VENDOR=/path/to/vendor to run it")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    if not os.access(VHD_UTIL, os.X_OK):
        pytest.fail("%s is missing: `bash .ci/build-blktap` builds blktap's tools from ../shared/vendor/blktap"
                    % VHD_UTIL)
    return path


@pytest.fixture(scope="module")
def host(sm_dir, tmp_path_factory):
    h = OneHost(str(tmp_path_factory.mktemp("contract") / "host"), name="contract-host", sm_dir=sm_dir)
    yield h
    h.down()


class SR(object):
    """An SR as xapi holds it (SR + PBD records) and the calls xapi makes on it."""

    def __init__(self, host, lab, volume="xosan"):
        self.host = host
        self.sim = host.sim
        self.dconf = {"server": ",".join(n.ip for n in lab.nodes), "volume": volume, "SRmaster": "true"}
        self.uuid, self.ref, self.pbd = host.add_sr(self.dconf, "XOSAN contract")

    def call(self, command, **kw):
        return self.host.driver.call(command, self.dconf, sr_uuid=self.uuid, sr_ref=self.ref, **kw)

    def plug(self):
        self.call("sr_attach")
        self.sim.db["PBD"][self.pbd]["currently_attached"] = True

    def unplug(self):
        self.call("sr_detach")
        self.sim.db["PBD"][self.pbd]["currently_attached"] = False

    def vdi_create(self, size, label="disk"):
        args = [str(size), label, "contract disk", "OpaqueRef:NULL", "false", "19700101T00:00:00Z",
                "OpaqueRef:NULL", "false"]
        vdi = self.call("vdi_create", args=args, vdi_type="user", vdi_sm_config={})
        return vdi["uuid"], self.vdi_ref(vdi["uuid"])

    def vdi_ref(self, vdi_uuid):
        [(ref, _)] = self.sim.find("VDI", uuid=vdi_uuid)
        return ref

    def vdi_call(self, command, vdi_uuid, **kw):
        return self.call(command, vdi_uuid=vdi_uuid, vdi_ref=self.vdi_ref(vdi_uuid), **kw)

    def path(self, name=""):
        """This machine's path to a file of the SR as the dom0 sees it."""
        return self.host.dom0.path(os.path.join("/var/run/sr-mount", self.uuid, name))

    def vhd_util(self, *args):
        return self.host.dom0.run([VHD_UTIL] + list(args)).stdout

    def depth(self, vdi_uuid):
        out = self.vhd_util("query", "-n", "/var/run/sr-mount/%s/%s.vhd" % (self.uuid, vdi_uuid), "-d")
        return int(out.strip().split()[-1])

    def vhds(self):
        return sorted(f for f in os.listdir(self.path()) if f.endswith(".vhd"))

    def used_bytes(self):
        return sum(os.path.getsize(self.path(f)) for f in self.vhds())

    def vdi_records(self):
        return dict((rec["uuid"], rec) for _, rec in self.sim.find("VDI", SR=self.ref))


def probe_uuids(answer):
    doc = xml.dom.minidom.parseString(answer)
    return sorted(n.firstChild.data.strip() for n in doc.getElementsByTagName("UUID"))


def dom0_mounts(host):
    return "\n".join(host.dom0.fuse_mounts()) + "\n"


def wait_gc_idle(sr, timeout=180):
    """Until this SR's SMGC@ instance is no longer running (systemctl is-active, as sm asks)."""
    deadline = time.monotonic() + timeout
    unit = "SMGC@%s" % sr.uuid.replace("-", "\\x2d")
    while time.monotonic() < deadline:
        res = sr.host.dom0.run(["/usr/bin/systemctl", "is-active", unit], check=False)
        if res.stdout.strip() != "activating":
            return
        time.sleep(0.5)
    raise AssertionError("GC of SR %s still running after %s s" % (sr.uuid, timeout))


def test_driver_info_through_the_real_framework(host):
    info = host.driver.call("sr_get_driver_info", {})
    assert info["name"] == "XOSAN" and "VDI_SNAPSHOT" in info["capabilities"]
    assert set(c["key"] for c in info["configuration"]) == {"server", "volume", "attach-timeout"}


def test_sr_lifecycle_and_sr_delete_leaves_nothing(gluster_lab, host):
    sr = SR(host, gluster_lab)
    assert sr.call("sr_create", args=["0"]) is None
    sr.plug()
    sr.plug()  # xapi may plug twice (toolstack restart): idempotent
    assert os.path.isdir(sr.path())
    assert " fuse.glusterfs " in dom0_mounts(host)
    record = sr.sim.record("SR", sr.ref)
    assert int(record["physical_size"]) > 0
    assert record["sm_config"]["xosan-servers"].split(",") == [n.ip for n in gluster_lab.nodes]
    sr.call("sr_scan")
    sr.call("sr_update")
    assert sr.uuid in probe_uuids(host.driver.call("sr_probe", {"server": sr.dconf["server"], "volume": "xosan"}))

    # sr_delete: FileSR.delete attaches, runs the real cleanup.gc_force, removes the directory.
    sr.unplug()
    assert sr.call("sr_delete") is None
    assert " fuse.glusterfs " not in dom0_mounts(host)
    assert not os.path.lexists(sr.path())
    assert not os.path.lexists(host.dom0.path("/var/run/sr-mount/xosan/" + sr.uuid))
    assert sr.uuid not in probe_uuids(host.driver.call("sr_probe", {"server": sr.dconf["server"],
                                                                    "volume": "xosan"}))
    log = host.dom0.smlog_text()
    assert "=== SR %s: gc_force ===" % sr.uuid in log
    assert "Unsupported SR type" not in log


def test_vdi_calls_on_real_vhds(gluster_lab, host):
    sr = SR(host, gluster_lab)
    sr.call("sr_create", args=["0"])
    sr.plug()
    try:
        vdi, _ = sr.vdi_create(64 * MiB)
        assert sr.vhds() == [vdi + ".vhd"]
        assert sr.vhd_util("check", "-n", "/var/run/sr-mount/%s/%s.vhd" % (sr.uuid, vdi)).strip().endswith("valid")
        assert int(sr.vdi_records()[vdi]["virtual_size"]) == 64 * MiB

        # resize: the real vhd-util grows the VHD; xapi's record follows
        sr.vdi_call("vdi_resize", vdi, args=[str(128 * MiB)])
        out = sr.vhd_util("query", "-n", "/var/run/sr-mount/%s/%s.vhd" % (sr.uuid, vdi), "-v")
        assert int(out.strip()) == 128
        assert int(sr.vdi_records()[vdi]["virtual_size"]) == 128 * MiB

        # snapshot: the VDI becomes a leaf on a hidden base copy, the snapshot another child
        snap = sr.vdi_call("vdi_snapshot", vdi, driver_params={})["uuid"]
        assert sr.depth(vdi) == 2 and sr.depth(snap) == 2
        assert len(sr.vhds()) == 3  # leaf, snapshot, base copy
        clone = sr.vdi_call("vdi_clone", vdi, driver_params={})["uuid"]
        assert sr.depth(clone) >= 2

        # update: a no-op for file SRs, but the framework must take it
        sr.vdi_call("vdi_update", vdi)

        # scan: xapi's records match the files (a record whose file vanished is forgotten)
        ghost = sr.sim.add("VDI", {"uuid": str(uuidlib.uuid4()), "SR": sr.ref, "location": "gone",
                                   "managed": True, "sm_config": {}, "other_config": {}, "is_a_snapshot": False})
        sr.call("sr_scan")
        assert ghost not in sr.sim.db["VDI"]
        visible = dict((u, r) for u, r in sr.vdi_records().items() if r.get("managed"))
        assert {vdi, snap, clone} <= set(visible)

        # HA: generate_config answers a call xapi can run later; the SR half of it runs here
        cfg = sr.vdi_call("vdi_generate_config", vdi)
        params, method = xmlrpc.client.loads(cfg)
        assert method == "vdi_attach_from_config" and params[0]["sr_uuid"] == sr.uuid
        assert params[0]["sr_sm_config"]["xosan-servers"]  # the last known servers ride along
        # Run as xapi runs it at HA start: the SR half (the mount, quorum, our attach) runs; the
        # framework's blktap2 layer then asks tapdisk for the device, which cannot exist here.
        sr.unplug()
        with pytest.raises(xmlrpc.client.Fault) as err:
            unwrap(host.driver.run_raw(cfg).stdout)
        assert "tap" in err.value.faultString
        assert " fuse.glusterfs " in dom0_mounts(host) and os.path.isdir(sr.path())
        sr.plug()

        for u in (clone, snap, vdi):
            sr.vdi_call("vdi_delete", u)
        wait_gc_idle(sr)
    finally:
        sr.unplug()
    sr.call("sr_delete")


def test_gc_coalesces_a_snapshot_chain_and_returns_the_space(gluster_lab, host):
    """snapshot, delete the snapshot, GC (started by vdi_delete, run by systemd's SMGC@ unit),
    coalesce: the chain is back to one VHD, the base copy's space is given back, no data lost."""
    sr = SR(host, gluster_lab)
    sr.call("sr_create", args=["0"])
    sr.plug()
    try:
        vdi, _ = sr.vdi_create(32 * MiB)
        leaf = sr.path(vdi + ".vhd")
        size = vhdblocks.block_size(leaf)
        before = dict((b, bytes([0x10 + b]) * size) for b in range(6))
        for b, data in before.items():
            vhdblocks.write_block(leaf, b, data)
        snap = sr.vdi_call("vdi_snapshot", vdi, driver_params={})["uuid"]
        assert sr.depth(vdi) == 2
        # the guest goes on writing: a new block and an overwritten one land in the leaf
        after = dict(before)
        after[1] = b"\xee" * size
        after[9] = b"\x99" * size
        for b in (1, 9):
            vhdblocks.write_block(leaf, b, after[b])
        wait_gc_idle(sr)
        used_with_snapshot = sr.used_bytes()
        assert len(sr.vhds()) == 3

        sr.vdi_call("vdi_delete", snap)  # kicks GC: systemctl start SMGC@<sr> -> xosan-gc
        wait_gc_idle(sr)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and (len(sr.vhds()) != 1 or sr.depth(vdi) != 1):
            wait_gc_idle(sr)
            time.sleep(1)
        assert sr.vhds() == [vdi + ".vhd"], "GC left %s" % sr.vhds()
        assert sr.depth(vdi) == 1
        assert sr.used_bytes() < used_with_snapshot
        for b, data in after.items():
            assert vhdblocks.read_block(leaf, b) == data, "block %d changed" % b
        assert sr.vhd_util("check", "-n", "/var/run/sr-mount/%s/%s.vhd" % (sr.uuid, vdi)).strip().endswith("valid")
        # the base copy's record goes at the next scan (xapi scans shared SRs on its own)
        sr.call("sr_scan")
        assert set(sr.vdi_records()) == {vdi}
        sr.vdi_call("vdi_delete", vdi)
        wait_gc_idle(sr)

        log = host.dom0.smlog_text()
        assert "Unsupported SR type" not in log
        assert "=== SR %s: gc ===" % sr.uuid in log
        journal = open(host.dom0.path(SYSTEMD_STATE + "/journal")).read()
        assert "/opt/xensource/sm/xosan-gc -g -u %s" % sr.uuid in journal
    finally:
        sr.unplug()
    # detach hands the SMGC@ instance back to the sm package
    assert not os.path.exists(host.dom0.path("/run/systemd/system/SMGC@%s.service.d"
                                             % sr.uuid.replace("-", "\\x2d")))
    sr.call("sr_delete")


def test_without_the_drop_in_the_framework_gc_fails_as_on_a_stock_host(gluster_lab, host):
    """The trap the drop-in removes, shown on the real framework: the sm package's own
    SMGC@ command (cleanup.py) refuses the xosan type."""
    sr = SR(host, gluster_lab)
    sr.call("sr_create", args=["0"])
    sr.plug()
    try:
        res = host.dom0.run(["/opt/xensource/sm/cleanup.py", "-g", "-u", sr.uuid], check=False)
        assert "Unsupported SR type: xosan" in res.stdout + res.stderr + host.dom0.smlog_text()
    finally:
        sr.unplug()
    sr.call("sr_delete")


def test_every_command_and_its_outcome_is_in_smlog(gluster_lab, host):
    sr = SR(host, gluster_lab)
    sr.call("sr_create", args=["0"])
    sr.plug()
    sr.unplug()
    sr.call("sr_delete")
    log = host.dom0.smlog_text()
    for cmd in ("'mount', '-t', 'glusterfs'", "'umount'", "'gluster'", "'/usr/bin/systemctl', 'daemon-reload'"):
        assert "xosan: run [" + cmd in log or ("xosan: run [" in log and cmd in log), cmd
    runs = log.count("xosan: run [")
    outcomes = log.count("xosan:   SUCCESS") + log.count("xosan:   FAILED") + log.count("xosan:   TIMEOUT")
    assert runs > 0 and runs == outcomes


def test_probe_and_create_give_one_answer_for_a_volume_that_does_not_exist(gluster_lab, host):
    sr = SR(host, gluster_lab, volume="nosuchvol")
    answers = []
    for call in (lambda: sr.call("sr_create", args=["0"]),
                 lambda: host.driver.call("sr_probe", sr.dconf)):
        with pytest.raises(SMFault) as err:
            call()
        answers.append((err.value.code, "'nosuchvol' does not exist" in err.value.message))
    assert answers == [(103, True), (103, True)]
    assert " fuse.glusterfs " not in dom0_mounts(host)


def test_suite_tells_how_to_run_without_the_tree():
    """The one line someone without ../shared/vendor sees (checked, not just written)."""
    env = dict(os.environ, XOSAN_SM_DIR="/nonexistent", XOSAN_VENDOR="/nonexistent")
    env.pop("CI", None)
    res = subprocess.run([sys.executable, "-m", "pytest", "-q",
                          "-rs", os.path.abspath(__file__) + "::test_driver_info_through_the_real_framework"],
                         cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True, timeout=120)
    assert "the contract suite did not run" in res.stdout and "XOSAN_SM_DIR" in res.stdout
    assert "1 skipped" in res.stdout


COMPARE_SCANS = """
import json, sys
sys.path.insert(0, "/opt/xensource/sm")
import FileSR, util, vhdutil
from xosan.sr import vhdscan
folder = sys.argv[1]
def load():
    vhds = vhdutil.getAllVHDs(folder + "/*.vhd", FileSR.FileVDI.extractUuid)
    return ({u: [i.path, i.sizeVirt, i.sizePhys, i.hidden, i.parentUuid, i.parentPath, i.error]
             for u, i in vhds.items()},
            {u: vhdutil.getKeyHash(folder + "/" + i.path) for u, i in vhds.items()})
stock = load()
with vhdscan.one_pass(vhdutil, util.SMlog):
    fast = load()
assert vhdutil.getKeyHash is not None and vhdutil.getAllVHDs.__module__ == "vhdutil"  # put back
print(json.dumps([stock, fast]))
"""


def test_the_one_pass_scan_answers_as_the_frameworks_own(gluster_lab, host):
    """xosan/sr/vhdscan.py replaces FileSR's one vhd-util key process per VHD by one parallel
    vhd-util scan -M: the records and key hashes FileSR gets must be the same, chains, hidden
    base copies, data and a key hash included. (A VHD vhd-util cannot read fails both the same
    way: each runs vhd-util through the framework's ioretry, then again with -c.)"""
    sr = SR(host, gluster_lab)
    sr.call("sr_create", args=["0"])
    sr.plug()
    try:
        vdis = [sr.vdi_create(16 * MiB, "d%d" % i)[0] for i in range(6)]
        sr.vdi_call("vdi_snapshot", vdis[0], driver_params={})
        sr.vdi_call("vdi_clone", vdis[1], driver_params={})
        vhdblocks.write_block(sr.path(vdis[2] + ".vhd"), 1, b"\x5a" * vhdblocks.block_size(sr.path(vdis[2] + ".vhd")))
        vhdblocks.set_keyhash(sr.path(vdis[3] + ".vhd"), b"\x11" * 32, b"\x22" * 32)
        folder = "/var/run/sr-mount/" + sr.uuid
        out = host.dom0.run(["/usr/bin/python3", "-c", COMPARE_SCANS, folder]).stdout
        stock, fast = json.loads(out.strip().splitlines()[-1])
        assert fast == stock
        records, keys = fast
        assert len(records) == len(sr.vhds()) == 10  # 6 + snapshot (2 files) + clone (2 files)
        assert keys[vdis[3]] == "22" * 32 and keys[vdis[4]] is None
        assert sum(1 for r in records.values() if r[3]) == 2  # the two hidden base copies
        sr.call("sr_scan")  # and the driver's scan takes the SR as the stock one does
        assert {vdis[3]} <= set(u for u, r in sr.vdi_records().items() if r.get("managed"))
        assert sr.vdi_records()[vdis[3]]["sm_config"].get("key_hash") == "22" * 32
        log = host.dom0.smlog_text()
        assert "'scan', '-f', '-M'" in log
    finally:
        sr.unplug()
