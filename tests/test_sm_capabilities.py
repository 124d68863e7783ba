"""The capabilities the driver advertises beyond the baseline (issue 16), on the REAL SM
framework with a real GlusterFS volume: changed block tracking (VDI_CONFIG_CBT: FileSR keeps
a cbt-util log next to each VHD), VDI_ACTIVATE / VDI_DEACTIVATE and THIN_PROVISIONING.

xapi reads an SR's capabilities from the SM record it made from sr_get_driver_info, and so
does the framework (util.sr_get_capability, e.g. in every vdi_delete); OneHost keeps that
record as xapi does (xosan_lab/smrunner.py, sm_record).

What cannot run here: tapdisk (no blktap device, see tests/test_sm_contract.py). So
vdi_activate / vdi_deactivate are not called, and the bits tapdisk sets in the leaf's CBT log
as the guest writes are set by the test (``mark``), as the guest's writes are put into VHD
blocks by the tests. Everything else (vdi_enable_cbt, vdi_snapshot with CBT, vdi_list_changed
_blocks, vdi_data_destroy, vdi_disable_cbt) is the framework's own code with blktap's real
cbt-util on the volume; the VDIs are not attached, so the framework's tapdisk pause/unpause
is the XAPI-only half it does for a detached VDI.
"""

import base64
import os

import pytest
import vhdblocks
from smdriver import SMFault
from test_sm_contract import SR, wait_gc_idle

from xosan_lab.dom0 import real_sm_dir
from xosan_lab.onehost import OneHost

pytestmark = pytest.mark.gluster

MiB = 1024 ** 2
CBT_UTIL = "/usr/sbin/cbt-util"
CBT_BLOCK = 64 * 1024          # blktap's CBT_BLOCK_SIZE
CBT_HEADER = 48                # struct cbt_log_metadata: parent, child (uuid_t), consistent, size
NEW_CAPS = ("VDI_CONFIG_CBT", "VDI_ACTIVATE", "VDI_DEACTIVATE", "THIN_PROVISIONING")


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    sm_dir = real_sm_dir()
    if sm_dir is None:
        pytest.fail("the real SM framework is not here (../shared/vendor/xcp-ng-sm/drivers or $XOSAN_SM_DIR)")
    if not os.access(CBT_UTIL, os.X_OK):
        pytest.fail("%s is missing: `bash .ci/build-blktap` builds blktap's tools" % CBT_UTIL)
    h = OneHost(str(tmp_path_factory.mktemp("caps") / "host"), name="caps-host", sm_dir=sm_dir)
    yield h
    h.down()


def cbt(sr, vdi_uuid, what):
    """cbt-util get -<what> on a VDI's log, in the dom0."""
    return sr.host.dom0.run([CBT_UTIL, "get", "-n", "/var/run/sr-mount/%s/%s.cbtlog" % (sr.uuid, vdi_uuid),
                             "-" + what]).stdout.strip()


def mark(sr, vdi_uuid, blocks):
    """What tapdisk does to the leaf's log as the guest writes: set the blocks' bits."""
    with open(sr.path(vdi_uuid + ".cbtlog"), "r+b") as fh:
        for b in blocks:
            fh.seek(CBT_HEADER + b // 8)
            byte = fh.read(1)[0]
            fh.seek(CBT_HEADER + b // 8)
            fh.write(bytes([byte | (1 << (b % 8))]))


def changed_blocks(sr, vdi_from, vdi_to):
    """vdi_list_changed_blocks as xapi calls it; the set of changed 64 KiB blocks."""
    encoded = sr.vdi_call("vdi_list_changed_blocks", vdi_from, args=[sr.vdi_ref(vdi_to)])
    bitmap = base64.b64decode(encoded)
    assert len(bitmap) == int(sr.vdi_records()[vdi_to]["virtual_size"]) // CBT_BLOCK // 8  # one bit per block
    return set(i for i in range(len(bitmap) * 8) if bitmap[i // 8] & (0x80 >> (i % 8)))


def chain_block(sr, vdi_uuid, block):
    """A VHD block as the guest reads it: from the first VHD of the chain that has it."""
    inside = "/var/run/sr-mount/%s/%s.vhd" % (sr.uuid, vdi_uuid)
    while True:
        data = vhdblocks.read_block(sr.host.dom0.path(inside), block)
        if data is not None:
            return data
        parent = sr.vhd_util("query", "-n", inside, "-p").strip()
        if "has no parent" in parent:
            return None
        inside = parent


def snapshot(sr, vdi_uuid):
    """vdi_snapshot, then what xapi records on the new VDI after the SM call."""
    snap = sr.vdi_call("vdi_snapshot", vdi_uuid, driver_params={})["uuid"]
    rec = sr.sim.record("VDI", sr.vdi_ref(snap))
    rec.update({"is_a_snapshot": True, "snapshot_of": sr.vdi_ref(vdi_uuid)})
    return snap


def test_driver_info_and_sm_record_advertise_them(host):
    caps = host.driver.call("sr_get_driver_info", {})["capabilities"]
    assert set(NEW_CAPS) <= set(caps)
    [(_, sm)] = host.sim.find("SM", type="xosan")
    assert sm["capabilities"] == caps  # the record the framework asks is the driver's answer


def test_changed_block_tracking_on_the_volume(gluster_lab, host):
    sr = SR(host, gluster_lab)
    sr.call("sr_create", args=["0"])
    sr.plug()
    try:
        vdi, ref = sr.vdi_create(16 * MiB)

        sr.vdi_call("vdi_enable_cbt", vdi)
        assert os.path.exists(sr.path(vdi + ".cbtlog"))
        assert int(cbt(sr, vdi, "s")) == 16 * MiB and cbt(sr, vdi, "f") == "1"  # consistent: not attached
        sr.sim.record("VDI", ref)["cbt_enabled"] = True  # as xapi records it
        sr.vdi_call("vdi_enable_cbt", vdi)  # again: a no-op

        base = snapshot(sr, vdi)
        # the snapshot took the leaf's log; the leaf has a fresh one after it in the chain
        assert cbt(sr, base, "c") == vdi and cbt(sr, vdi, "p") == base

        leaf = sr.path(vdi + ".vhd")
        data = b"\xa5" * vhdblocks.block_size(leaf)
        vhdblocks.write_block(leaf, 0, data)  # the guest writes (a 2 MiB VHD block) ...
        mark(sr, vdi, [3, 7])  # ... and tapdisk marks the 64 KiB blocks it touched
        second = snapshot(sr, vdi)
        mark(sr, vdi, [12])
        assert changed_blocks(sr, base, second) == {3, 7}
        assert changed_blocks(sr, base, vdi) == {3, 7, 12}
        assert changed_blocks(sr, second, vdi) == {12}
        with pytest.raises(SMFault) as err:
            changed_blocks(sr, vdi, vdi)
        assert "same" in err.value.message

        # data_destroy: the snapshot's data goes, its CBT log (and xapi's record) stay, so
        # changed blocks since it can still be listed (what incremental backup keeps of it)
        with pytest.raises(SMFault) as err:
            sr.vdi_call("vdi_data_destroy", vdi)  # only snapshots
        assert err.value.code == 66  # VDIType
        sr.vdi_call("vdi_data_destroy", base)
        assert not os.path.exists(sr.path(base + ".vhd")) and os.path.exists(sr.path(base + ".cbtlog"))
        assert base in sr.vdi_records()
        wait_gc_idle(sr)
        assert changed_blocks(sr, base, vdi) == {3, 7, 12}
        assert chain_block(sr, vdi, 0) == data  # the GC's coalesce kept the guest's data
        # a scan sees the log without its VHD as xapi's cbt_metadata VDI, not as a lost disk
        sr.call("sr_scan")
        assert base in sr.vdi_records()

        # disable: the leaf's log goes and the chain before it no longer points at it
        sr.vdi_call("vdi_disable_cbt", vdi)
        assert not os.path.exists(sr.path(vdi + ".cbtlog"))
        assert cbt(sr, second, "c") == "00000000-0000-0000-0000-000000000000"
        sr.sim.record("VDI", ref)["cbt_enabled"] = False

        for u in (second, vdi):
            sr.vdi_call("vdi_delete", u)
        wait_gc_idle(sr)
        sr.vdi_call("vdi_delete", base)
        assert not os.path.exists(sr.path(base + ".cbtlog"))
        wait_gc_idle(sr)
    finally:
        sr.unplug()
    sr.call("sr_delete")


def test_cbt_on_a_snapshot_is_refused(gluster_lab, host):
    sr = SR(host, gluster_lab)
    sr.call("sr_create", args=["0"])
    sr.plug()
    try:
        vdi, _ = sr.vdi_create(8 * MiB)
        snap = snapshot(sr, vdi)
        with pytest.raises(SMFault) as err:
            sr.vdi_call("vdi_enable_cbt", snap)
        assert err.value.code == 66 and "snapshot not permitted" in err.value.message
        assert not os.path.exists(sr.path(snap + ".cbtlog"))
        for u in (snap, vdi):
            sr.vdi_call("vdi_delete", u)
        wait_gc_idle(sr)
    finally:
        sr.unplug()
    sr.call("sr_delete")
