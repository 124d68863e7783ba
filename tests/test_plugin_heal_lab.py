"""The host plugin's heal counts from a machine without glusterd, on the real lab.

The test runs in this machine's root network namespace, which has no glusterd (like a dom0):
the plugin asks the storage nodes over ``--remote-host`` and runs glfsheal here on the volfile
they hand out. It shows ``fn=can_reboot`` saying yes on a healthy volume, no with the heal count
while a returned data node still waits for its heal, and yes again once healed. Only XAPI's
records are canned (a plain object with the records the plugin reads)."""

import os
import subprocess
import time

import pytest
from labutil import lab_name, lab_subnet, three_node_lab, wait_for_heal

from xosan import plugin
from xosan.facts import TAG_DEPLOYMENT, TAG_HOST, XS_ADDRESS
from xosan.gluster import parse_volume_info, parse_volume_status

pytestmark = pytest.mark.gluster

SR_UUID = "0c3f9a52-2d4e-4b57-9a1e-6f0d8e7c5b41"


class _Records(object):
    def __init__(self, records):
        self.records = records

    def get_all_records(self):
        return dict(self.records)


class PoolRecords(object):
    """session.xenapi as far as fn=can_reboot and fn=status read it: 3 hosts, one xosan SR whose
    PBDs name the lab's nodes, and each host's storage VM with its address."""

    def __init__(self, ips):
        self.host = _Records(dict(("OpaqueRef:h%d" % i, {"uuid": "host-uuid-%d" % i, "name_label": "host-%d" % i})
                                  for i in (1, 2, 3)))
        pbds = dict(("OpaqueRef:p%d" % i, {"host": "OpaqueRef:h%d" % i, "currently_attached": True,
                                           "device_config": {"server": ",".join(ips), "volume": "xosan"}})
                    for i in (1, 2, 3))
        self.PBD = _Records(pbds)
        self.SR = _Records({"OpaqueRef:sr": {"uuid": SR_UUID, "name_label": "XOSAN", "type": "xosan",
                                             "PBDs": sorted(pbds), "sm_config": {}}})
        self.VM = _Records(dict(("OpaqueRef:vm%d" % i, {
            "is_a_template": False, "other_config": {TAG_DEPLOYMENT: "xosan", TAG_HOST: "host-uuid-%d" % i},
            "xenstore_data": {XS_ADDRESS: ip}}) for i, ip in zip((1, 2, 3), ips)))


@pytest.fixture
def lab(tmp_path):
    with three_node_lab(str(tmp_path / "lab"), lab_name("xq"), lab_subnet(95)) as lab:
        yield lab


def can_reboot(api, host):
    r = plugin.reboot_report({"host": host}, api, here="host-uuid-1")
    [sr] = r["srs"]
    return r, dict((e["error"], e) for e in sr["refusals"])


def eventually_ok(api, host, timeout=60):
    """can_reboot once the volume has settled (clients reconnected after a heal): the last answer."""
    deadline = time.time() + timeout
    while True:
        r, refusals = can_reboot(api, host)
        if r["ok"] or time.time() > deadline:
            return r, refusals
        time.sleep(2)


def brick_online(node, volume, brick):
    info = node.gluster(["volume", "info", volume, "--xml"], check=False).stdout
    status = node.gluster(["volume", "status", volume, "--xml"], check=False).stdout
    try:
        parse_volume_info(info)
        return any(b.name == brick and b.online for b in parse_volume_status(status)[0])
    except Exception:
        return False


def test_can_reboot_from_a_machine_without_glusterd_counts_heals(lab, tmp_path):
    assert not os.path.exists("/var/run/glusterd.socket"), "this test needs a root namespace without glusterd"
    n1, n2, n3 = lab.nodes
    api = PoolRecords([n1.ip, n2.ip, n3.ip])

    # healthy: the counts are read (0), not unknown, and any one host may go
    status = plugin.status_report(api, here="host-uuid-1")
    [sr] = status["srs"]
    assert sr["heal"] == plugin.HEAL_SOURCE and sr["heal_pending"] == 0 and sr["split_brain"] == 0, sr
    r, refusals = eventually_ok(api, "host-2")
    assert r["ok"] is True and refusals == {}, r

    # data node 2 killed while a client writes; the self-heal daemon off so the heal waits for us
    n1.gluster(["volume", "set", "xosan", "cluster.self-heal-daemon", "off"])
    mnt = str(tmp_path / "mnt")
    os.makedirs(mnt)
    subprocess.check_call(["mount", "-t", "glusterfs", "-o", "backup-volfile-servers=%s:%s" % (n2.ip, n3.ip),
                           "%s:/xosan" % n1.ip, mnt])
    try:
        with open(os.path.join(mnt, "disk.img"), "wb") as fh:
            fh.write(os.urandom(1 << 20))
        n2.kill()
        for i in range(5):
            with open(os.path.join(mnt, "f%d" % i), "wb") as fh:
                fh.write(os.urandom(65536))
                fh.flush()
                os.fsync(fh.fileno())
    finally:
        subprocess.call(["umount", mnt])  # no client left to heal on access: only the daemon will

    r, refusals = can_reboot(api, "host-1")
    assert r["ok"] is False and "HEAL_PENDING" in refusals and "BRICK_OFFLINE" in refusals, r
    assert refusals["HEAL_PENDING"]["entries"] > 0 and refusals["HEAL_PENDING"]["nodes"] == [n1.ip, n3.ip]

    # node 2 back, its brick online, the heal not done: still no, with the count as the reason
    n2.start()
    brick = "%s:%s" % (n2.ip, n2.brick_path("xosan"))
    deadline = time.time() + 60
    while not brick_online(n1, "xosan", brick) and time.time() < deadline:
        time.sleep(1)
    for host in ("host-1", "host-2", "host-3"):
        r, refusals = can_reboot(api, host)
        assert r["ok"] is False and "HEAL_PENDING" in refusals and "BRICK_OFFLINE" not in refusals, r
        assert "waiting for self-heal" in r["reason"], r["reason"]
    pending = refusals["HEAL_PENDING"]["entries"]
    assert pending >= 6, refusals  # the 5 files and the folder at least, on each good brick
    status = plugin.status_report(api, here="host-uuid-1")
    assert status["srs"][0]["heal_pending"] == pending and status["srs"][0]["verdict"] == "degraded"
    h = plugin.health_report({"sr": SR_UUID}, api, here="host-uuid-1")
    assert "HEAL_PENDING" in [e["error"] for e in h["errors"]] and "HEAL_UNKNOWN" not in [
        e["error"] for e in h["errors"]]

    # the daemon back on, the heal done: yes again
    n1.gluster(["volume", "set", "xosan", "cluster.self-heal-daemon", "on"])
    wait_for_heal(lab, "xosan")
    r, refusals = eventually_ok(api, "host-2")
    assert r["ok"] is True and refusals == {}, r
    status = plugin.status_report(api, here="host-uuid-1")
    assert status["srs"][0]["heal_pending"] == 0 and status["srs"][0]["verdict"] == "healthy", status

    # a volume glusterd does not have: a clear error, before glfsheal runs
    from xosan import gluster
    from xosan.errors import GlusterError
    with pytest.raises(GlusterError) as err:
        gluster.remote_cli(n1.ip).heal_info("nope")
    assert "getspec nope on %s gave no volfile" % n1.ip in err.value.message, err.value.message
