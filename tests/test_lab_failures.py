"""Failures on the real lab: a data node cut during VM-disk I/O, and a partition of the
two data nodes with a client on each side. Each test builds and removes its own lab."""

import os
import time
import uuid as uuidlib

import pytest
from labutil import (brick_sha256, lab_name, lab_subnet, sha256, split_brain_entries, three_node_lab, timed_write,
                     wait_for_heal)
from smdriver import Driver

from xosan_lab.dom0 import Dom0

pytestmark = pytest.mark.gluster

MiB = 1024 ** 2


@pytest.fixture
def lab(tmp_path, request):
    with three_node_lab(str(tmp_path / "lab"), lab_name("xf%d" % (len(request.node.name) % 90)),
                        lab_subnet(120 + len(request.node.name) % 20)) as lab:
        yield lab


def attached_sr_with_vdi(lab, driver, new_sr, size, vdi_type="user"):
    """sr_create + sr_attach + vdi_create on the lab's volume, through the driver."""
    dconf = {"server": ",".join(n.ip for n in lab.nodes), "volume": "xosan", "SRmaster": "true"}
    sr_uuid, sr_ref = new_sr(dconf)
    common = dict(sr_uuid=sr_uuid, sr_ref=sr_ref)
    driver.call("sr_create", dconf, args=["0"], **common)
    driver.call("sr_attach", dconf, **common)
    vdi = driver.call("vdi_create", dconf, vdi_type=vdi_type, vdi_sm_config={},
                      args=[str(size), "d", "", "OpaqueRef:NULL", "false", "19700101T00:00:00Z",
                            "OpaqueRef:NULL", "false"], **common)
    return driver, dconf, sr_uuid, common, vdi


def test_vdi_survives_a_cut_data_node_and_heals_on_both_bricks(lab, driver, dom0, new_sr, tmp_path):
    driver, dconf, sr_uuid, common, vdi = attached_sr_with_vdi(lab, driver, new_sr, 256 * MiB)
    vhd = dom0.path("/var/run/sr-mount/%s/%s.vhd" % (sr_uuid, vdi["uuid"]))
    before, during = os.urandom(MiB), os.urandom(MiB)
    fd = os.open(vhd, os.O_RDWR)
    try:
        timed_write(fd, before, 64 * 1024)
        lab.node(2).cut()  # a data node leaves the storage network
        stalls = [timed_write(fd, during[i:i + 64 * 1024], 2 * MiB + i) for i in range(0, MiB, 64 * 1024)]
        assert sha256(os.pread(fd, MiB, 64 * 1024)) == sha256(before)
        assert sha256(os.pread(fd, MiB, 2 * MiB)) == sha256(during)
        with open(str(tmp_path / "stall.txt"), "w") as fh:
            fh.write("worst write stall after cut: %.2f s\n" % max(stalls))
        lab.node(2).reconnect()
        wait_for_heal(lab, "xosan")
    finally:
        os.close(fd)
    # the pattern is on BOTH data bricks (the first 64 MB shard is the file on the brick)
    rel = os.path.join("xosan", sr_uuid, vdi["uuid"] + ".vhd")
    for node in (lab.node(1), lab.node(2)):
        path = os.path.join(node.brick_mount, rel)
        assert brick_sha256(node, path, 64 * 1024, MiB) == sha256(before)
        assert brick_sha256(node, path, 2 * MiB, MiB) == sha256(during)
    assert split_brain_entries(lab, "xosan") == 0
    driver.call("sr_detach", dconf, **common)


def test_partitioned_data_nodes_never_split_brain(lab, tmp_path):
    n1, n2, arbiter = lab.node(1), lab.node(2), lab.node(3)
    a, b = lab.add_host(), lab.add_host()
    servers = [n.ip for n in lab.nodes]
    ma, mb = str(tmp_path / "a"), str(tmp_path / "b")
    a.mount(servers, "xosan", ma)
    b.mount([n2.ip, arbiter.ip, n1.ip], "xosan", mb)
    path_a, path_b = os.path.join(ma, "disk.img"), os.path.join(mb, "disk.img")
    with open(path_a, "wb") as fh:
        fh.write(b"\0" * MiB)
    time.sleep(1)
    assert os.path.getsize(path_b) == MiB
    # {a, n1} | {b, n2}: the data nodes cannot see each other, each sees one client; both see the arbiter
    n1.block(n2.ip), n2.block(n1.ip), n1.block(b.ip), b.block(n1.ip), n2.block(a.ip), a.block(n2.ip)
    results = {"a": [], "b": []}
    fda, fdb = os.open(path_a, os.O_RDWR), os.open(path_b, os.O_RDWR)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            for name, fd, byte in (("a", fda, b"A"), ("b", fdb, b"B")):
                try:
                    timed_write(fd, byte * 4096, 0)
                    results[name].append(True)
                except OSError:
                    results[name].append(False)
            time.sleep(0.2)
    finally:
        for fd in (fda, fdb):
            try:
                os.close(fd)
            except OSError:
                pass
    # once the partition settled (the last 10 rounds), at most one side may still write
    tail_a, tail_b = results["a"][-10:], results["b"][-10:]
    assert not (all(tail_a) and all(tail_b)), results
    assert any(tail_a) or any(tail_b), "quorum should let one side go on: %s" % results
    for x, y in ((n1, n2.ip), (n2, n1.ip), (n1, b.ip), (b, n1.ip), (n2, a.ip), (a, n2.ip)):
        x.unblock(y)
    wait_for_heal(lab, "xosan")
    assert split_brain_entries(lab, "xosan") == 0
    rel = os.path.join("xosan", "disk.img")
    assert brick_sha256(n1, os.path.join(n1.brick_mount, rel), 0, MiB) == \
        brick_sha256(n2, os.path.join(n2.brick_mount, rel), 0, MiB)
    for mp in (ma, mb):
        os.system("umount %s" % mp)


def test_ha_statefile_attached_from_config_on_another_host_survives_a_cut(lab, driver, xapi, new_sr, tmp_path):
    """XenServer HA: the statefile VDI is attached from its generated config, with xapi down,
    on a host where the SR is not attached; its I/O goes on while a data node is cut off."""
    driver, dconf, sr_uuid, common, vdi = attached_sr_with_vdi(lab, driver, new_sr, 4 * MiB,
                                                               vdi_type="ha_statefile")
    config = driver.call("vdi_generate_config", dconf, vdi_uuid=vdi["uuid"], **common)
    driver.call("sr_detach", dconf, **common)

    # another host: its own dom0, with xapi down (the config carries no session). The SR half of
    # attach_from_config is ours and runs; the framework's blktap2 layer then asks tapdisk for a
    # device, which cannot exist here (tests/test_sm_contract.py): the statefile is used through
    # the mount it made, as tapdisk would.
    other_dom0 = Dom0(str(tmp_path / "host2"), str(uuidlib.uuid4()), None, name="host2").up()
    try:
        res = Driver(other_dom0).run_raw(config)
        assert "tap" in res.stdout and "<fault>" in res.stdout, res.stdout + res.stderr
        path = other_dom0.path("/var/run/sr-mount/%s/%s.vhd" % (sr_uuid, vdi["uuid"]))
        assert os.path.exists(path)
        assert len(other_dom0.fuse_mounts()) == 1  # the volume, nothing else
        _statefile_io_through_a_cut(lab, path)
        Driver(other_dom0).call("sr_detach", dconf, sr_uuid=sr_uuid)
    finally:
        other_dom0.down()


def _statefile_io_through_a_cut(lab, path):
    fd = os.open(path, os.O_RDWR)
    try:
        block = os.urandom(4096)
        timed_write(fd, block, 8192)
        lab.node(1).cut()
        for i in range(20):
            data = os.urandom(4096)
            timed_write(fd, data, 8192 + 4096 * (i % 4))
            assert os.pread(fd, 4096, 8192 + 4096 * (i % 4)) == data
        lab.node(1).reconnect()
    finally:
        os.close(fd)
