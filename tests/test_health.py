"""The verdict logic, from GlusterFS answers captured on a real cluster."""

import os

from xosan import gluster
from xosan.gluster import health

DATA = os.path.join(os.path.dirname(__file__), "data", "gluster")


def data(name):
    with open(os.path.join(DATA, name)) as fh:
        return fh.read()


class FakeCLI(object):
    """Answers with captured glusterd XML: the parsing is real, only the transport is canned."""

    def __init__(self, status="volume-status-detail.xml", heal="heal-info.xml", split="heal-info-split-brain.xml"):
        self.files = {"status": status, "heal": heal, "split": split}

    def volume_info(self, volume):
        return gluster.parse_volume_info(data("volume-info.xml"))

    def pool_list(self):
        return gluster.parse_pool_list(data("pool-list.xml"))

    def volume_status(self, volume, detail=True):
        return gluster.parse_volume_status(data(self.files["status"]))

    def heal_info(self, volume, split_brain=False):
        return gluster.parse_heal_info(data(self.files["split" if split_brain else "heal"]))


def test_healthy_volume():
    h = health.collect(FakeCLI(), "xosan")
    assert h.verdict == health.HEALTHY and h.exit_code == 0 and h.may_fail == 1
    assert h.usable_total > 0 and h.usable_free <= h.usable_total
    assert "can lose 1 storage node" in h.reason
    text = health.render(h)
    assert "HEALTHY" in text and "arbiter" in text and "Capacity:" in text


def test_node_down_is_degraded_and_says_no_more_may_fail():
    h = health.collect(FakeCLI(status="volume-status-node-down.xml", heal="heal-info-node-down.xml"), "xosan")
    assert h.verdict == health.DEGRADED and h.exit_code == 1 and h.may_fail == 0
    assert "10.250.78.13" in h.reason and "can lose no more" in h.reason
    assert [b.online for b in h.bricks] == [True, True, False]
    assert h.bricks[2].heal_pending is None
    assert h.as_dict()["bricks"][2]["online"] is False


def _info(replica=3, arbiter=1, disperse=0, redundancy=0, n=3):
    bricks = [gluster.Brick("h%d" % i, "/b", is_arbiter=(arbiter and i % replica == replica - 1)) for i in range(n)]
    return gluster.VolumeInfo("v", "Started", "Replicate", bricks, replica=replica, arbiter=arbiter,
                              disperse=disperse, redundancy=redundancy)


def _bricks(info, online, heal=0, split=0):
    return [health.BrickHealth(b, up, 100, 50, heal, split) for b, up in zip(info.bricks, online)]


def test_quorum_lost_is_at_risk():
    info = _info()
    h = health.assess(info, [], _bricks(info, [True, False, False]))
    assert h.verdict == health.AT_RISK and "quorum lost" in h.reason


def test_split_brain_and_pending_heals():
    info = _info()
    assert health.assess(info, [], _bricks(info, [True] * 3, split=1)).verdict == health.AT_RISK
    h = health.assess(info, [], _bricks(info, [True] * 3, heal=4))
    assert h.verdict == health.DEGRADED and "12 entries" in h.reason


def test_replica2_first_brick_matters_and_disperse_tolerance():
    info = _info(replica=2, arbiter=0, n=2)
    assert health.set_tolerance(info, _bricks(info, [True, True])) == 0
    assert health.set_tolerance(info, _bricks(info, [True, False])) == 0
    assert health.set_tolerance(info, _bricks(info, [False, True])) == -1
    info = _info(replica=1, arbiter=0, disperse=6, redundancy=2, n=6)
    assert health.set_tolerance(info, _bricks(info, [True] * 6)) == 2
    h = health.assess(info, [], _bricks(info, [True] * 6))
    assert h.usable_total == 100 * 4


def test_may_fail_counts_nodes_not_bricks():
    # 2 hosts, the arbiter on the first: losing that host takes 2 of 3 bricks
    bricks = [gluster.Brick("h1", "/b1"), gluster.Brick("h2", "/b1"), gluster.Brick("h1", "/b2", is_arbiter=True)]
    info = gluster.VolumeInfo("v", "Started", "Replicate", bricks, replica=3, arbiter=1)
    h = health.assess(info, [], [health.BrickHealth(b, True, 100, 50, 0, 0) for b in bricks])
    assert h.verdict == health.HEALTHY and h.may_fail == 0 and "can lose 0" in h.reason
    # with a witness holding the arbiter, either node may go
    bricks[2] = gluster.Brick("witness", "/b1", is_arbiter=True)
    h = health.assess(info, [], [health.BrickHealth(b, True, 100, 50, 0, 0) for b in bricks])
    assert h.may_fail == 1
