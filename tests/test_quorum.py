"""The one quorum model (xosan/gluster/quorum.py) that the planner and health verdicts share."""

import itertools

import pytest

from xosan.gluster import quorum
from xosan.gluster.quorum import VolumeQuorum, client_quorum, parse_ratio, server_quorum_need, set_margin
from xosan.pool.planner import GiB, NodeSpec, plan_layout


def test_client_quorum_auto_is_a_majority_or_the_half_with_the_first_brick():
    assert client_quorum([True, True, False]) and client_quorum([False, True, True])
    assert not client_quorum([True, False, False]) and not client_quorum([False, False, True])
    # even counts: exactly half is enough only with the first brick
    assert client_quorum([True, False]) and not client_quorum([False, True])
    assert client_quorum([True, False, True, False]) and not client_quorum([False, True, False, True])
    assert client_quorum([True, True, True, False])
    assert client_quorum([True]) and not client_quorum([False])


def test_disperse_needs_its_data_count():
    assert client_quorum([True, True, False], disperse_data=2)
    assert not client_quorum([True, False, False], disperse_data=2)
    assert client_quorum([True] * 4 + [False] * 2, disperse_data=4)
    assert not client_quorum([True] * 3 + [False] * 3, disperse_data=4)


def _brute_margin(up, k):
    """Largest f: every choice of f more failed bricks leaves the set writable; -1 if not writable."""
    if not client_quorum(up, k):
        return -1
    alive = [i for i, u in enumerate(up) if u]
    f = 0
    while f < len(alive) and all(client_quorum([u and i not in gone for i, u in enumerate(up)], k)
                                 for gone in itertools.combinations(alive, f + 1)):
        f += 1
    return f


@pytest.mark.parametrize("n", range(1, 7))
def test_set_margin_matches_brute_force(n):
    for up in itertools.product([True, False], repeat=n):
        assert set_margin(list(up)) == _brute_margin(list(up), 0), up
        for k in range(1, n):
            if 2 * (n - k) < n:  # what GlusterFS accepts: redundancy below half
                assert set_margin(list(up), k) == _brute_margin(list(up), k), (up, k)


def test_server_quorum_need_is_glusterds_count():
    # no ratio set: more than half (glusterd: count * 50 / 100 + 1)
    assert [server_quorum_need(n) for n in range(1, 7)] == [1, 2, 2, 3, 3, 4]
    # ratio: ceil(count * ratio / 100); XOSAN's 51 % makes 2 peers need both
    assert [server_quorum_need(n, 51) for n in range(1, 7)] == [1, 2, 2, 3, 3, 4]
    assert server_quorum_need(2, 50) == 1 and server_quorum_need(4, 50) == 2
    assert server_quorum_need(16, 51) == 9 and server_quorum_need(3, 100) == 3


def test_parse_ratio():
    assert parse_ratio("51%") == 51.0 and parse_ratio("51") == 51.0 and parse_ratio(" 60 % ") == 60.0
    assert parse_ratio(None) is None and parse_ratio("") is None and parse_ratio("lots") is None
    assert parse_ratio("150%") is None


def test_server_quorum_counts_every_member_with_bricks_or_not():
    # replica 3 arbiter 1 on a, b, c; the trusted pool also holds d (no brick of this volume)
    q = VolumeQuorum(["a", "b", "c"], 3, server_quorum=True, members="abcd", ratio=51)
    assert q.need == 3 and q.writable() and q.may_fail() == 1
    assert q.writable(["d"]) and q.writable(["a"])
    assert not q.writable(["a", "d"])          # 2 of 4 connected: every brick stops
    assert q.may_fail(down=["d"]) == 0         # d already gone: no node may fail
    off = VolumeQuorum(["a", "b", "c"], 3, server_quorum=False, members="abcd", ratio=51)
    assert off.writable(["a", "d"]) and off.may_fail(down=["d"]) == 1


def test_a_brick_down_on_a_live_node_is_not_a_node_down():
    q = VolumeQuorum(["a", "b", "c"], 3, server_quorum=True, ratio=51)
    assert q.writable(bricks_down=[0]) and q.server_quorum_met(["a"])
    assert q.lost_sets(bricks_down=[0, 1]) == [0] and not q.writable(bricks_down=[0, 1])
    assert q.may_fail(bricks_down=[0]) == 0 and q.may_fail(limit=0) == 0


def test_two_peers_lose_server_quorum_with_either_down():
    # the 2-host layout without witness: data on a and b, the arbiter on a
    on = VolumeQuorum(["a", "b", "a"], 3, server_quorum=True, ratio=51)
    assert not on.writable(["a"]) and not on.writable(["b"])
    off = VolumeQuorum(["a", "b", "a"], 3, server_quorum=False, ratio=51)
    assert not off.writable(["a"]) and off.writable(["b"])


def _nodes(count, witness=False):
    nodes = [NodeSpec("h%d" % (i + 1), "10.0.50.%d" % (11 + i), 100 * GiB) for i in range(count)]
    if witness:
        nodes.append(NodeSpec("w", "10.0.50.200", 2 * GiB, witness=True))
    return nodes


@pytest.mark.parametrize("count,layout,witness", [
    (2, "auto", True), (2, "auto", False), (3, "auto", False), (3, "replica3", False), (5, "auto", False),
    (6, "replica3", False), (3, "disperse", False), (6, "disperse", False), (8, "disperse", False)])
def test_the_planner_asks_the_model(count, layout, witness):
    plan = plan_layout(_nodes(count, witness), layout)
    q = plan.quorum()
    assert q.server_quorum == plan.server_quorum and q.members == set(n.name for n in plan.all_nodes)
    assert q.ratio == 51.0 and q.set_size == plan.set_size
    assert plan.hosts_may_fail == q.may_fail()
    names = [n.name for n in plan.all_nodes]
    for f in range(len(names) + 1):
        for failed in itertools.combinations(names, f):
            assert plan.io_continues_without(failed) == q.writable(failed)


def test_option_names():
    assert quorum.SERVER_QUORUM_TYPE == "cluster.server-quorum-type"
    assert quorum.SERVER_QUORUM_RATIO == "cluster.server-quorum-ratio"
