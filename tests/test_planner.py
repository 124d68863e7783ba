"""The volume layout planner: hand-checked plans, refusals, and properties for every node count."""

import itertools
import json
import math
import random

import pytest

from xosan.errors import XosanError
from xosan.pool.planner import (
    LAYOUT_CHOICES,
    MAX_BRICKS_PER_NODE,
    BrickSpec,
    GiB,
    Layout,
    MiB,
    NodeSpec,
    PlanError,
    arbiter_bytes,
    check_layout,
    default_disperse,
    disperse_node_counts,
    plan_layout,
)


def hosts(count, size_gib=100, sizes=None):
    sizes = sizes or [size_gib] * count
    return [NodeSpec("h%d" % (i + 1), "10.0.50.%d" % (11 + i), int(sizes[i] * GiB)) for i in range(count)]


def witness(size_gib=5, name="w", address="10.0.50.200"):
    return NodeSpec(name, address, int(size_gib * GiB), witness=True)


def set_names(layout):
    return [[b.node.name for b in s] for s in layout.sets]


def path_for(brick):
    return "/bricks/xosan/" + brick.subdir


# -- hand-checked plans ------------------------------------------------------------------------

def test_two_hosts_with_witness():
    plan = plan_layout(hosts(2) + [witness()])
    assert plan.kind == "replica2-arbiter"
    assert plan.create_args == ["replica", "3", "arbiter", "1"]
    assert [(b.node.name, b.role) for b in plan.bricks] == [("h1", "data"), ("h2", "data"), ("w", "arbiter")]
    assert plan.usable_bytes == 100 * GiB
    assert plan.bricks[2].size_bytes == GiB          # 0.5 % of 100 GiB is below the 1 GiB floor
    assert plan.hosts_may_fail == 1
    assert plan.data_survives == 1
    assert plan.write_amplification == 2.0
    assert not plan.force and plan.volume_options == [] and plan.warnings == []
    for name in ("h1", "h2", "w"):
        assert plan.io_continues_without([name])
    assert plan.brick_args(path_for) == ["10.0.50.11:/bricks/xosan/b1", "10.0.50.12:/bricks/xosan/b1",
                                         "10.0.50.200:/bricks/xosan/b1"]


def test_two_hosts_without_witness_arbiter_on_first_host():
    plan = plan_layout(hosts(2))
    assert plan.kind == "replica2-arbiter"
    assert [(b.node.name, b.role, b.subdir) for b in plan.bricks] == [
        ("h1", "data", "b1"), ("h2", "data", "b1"), ("h1", "arbiter", "b2")]
    assert plan.bricks[0].size_bytes == 99 * GiB     # h1 also keeps the 1 GiB arbiter
    assert plan.usable_bytes == 99 * GiB
    assert plan.node_bytes(plan.nodes[0]) == 100 * GiB
    assert plan.hosts_may_fail == 0
    assert plan.io_continues_without(["h2"]) and not plan.io_continues_without(["h1"])
    assert plan.force
    assert plan.volume_create_args("xosan", path_for)[-1] == "force"
    assert [(n, v) for n, v, _ in plan.volume_options] == [("cluster.server-quorum-type", "none")]
    assert len(plan.warnings) == 1
    w = plan.warnings[0]
    for words in ("h1 fails", "I/O stops", "split-brain", "loss of h2 is survived", "witness", "vSAN"):
        assert words in w


def test_two_hosts_without_witness_needs_server_quorum_off():
    # Measured on the lab: with the virt group's server quorum, 2 peers lose quorum when either is down.
    plan = plan_layout(hosts(2))
    plan.volume_options = []
    assert not plan.io_continues_without(["h2"]) and not plan.io_continues_without(["h1"])


def test_three_hosts_replica3():
    plan = plan_layout(hosts(3), "replica3")
    assert plan.kind == "replica3" and plan.create_args == ["replica", "3"]
    assert set_names(plan) == [["h1", "h2", "h3"]]
    assert plan.usable_bytes == 100 * GiB
    assert plan.write_amplification == 3.0
    assert plan.hosts_may_fail == 1 and plan.data_survives == 2


def test_three_hosts_auto_is_replica3_arbiter():
    plan = plan_layout(hosts(3))
    assert plan.kind == "replica3-arbiter"
    assert [(b.node.name, b.role) for b in plan.bricks] == [("h1", "data"), ("h2", "data"), ("h3", "arbiter")]
    assert plan.usable_bytes == 100 * GiB
    assert plan.write_amplification == 2.0
    assert plan.hosts_may_fail == 1
    assert any("h3 holds only the arbiter" in w and "h3 99.0 GiB" in w for w in plan.warnings)


def test_three_hosts_arbiter_on_smallest_host():
    plan = plan_layout(hosts(3, sizes=[200, 50, 300]), "replica3-arbiter")
    assert [(b.node.name, b.role) for b in plan.bricks] == [("h1", "data"), ("h3", "data"), ("h2", "arbiter")]
    assert plan.usable_bytes == 200 * GiB


def test_five_hosts_chained_arbiter_90gib():
    plan = plan_layout(hosts(5, 90))
    assert plan.kind == "distributed-replica3-arbiter"
    assert plan.create_args == ["replica", "3", "arbiter", "1"]
    assert set_names(plan) == [["h1", "h2", "h3"], ["h2", "h3", "h4"], ["h3", "h4", "h5"],
                               ["h4", "h5", "h1"], ["h5", "h1", "h2"]]
    assert all([b.role for b in s] == ["data", "data", "arbiter"] for s in plan.sets)
    # 5 * 45 = 225 GiB would ignore the arbiters: each host is 2 * 44.5 GiB data + 1 GiB arbiter.
    assert plan.usable_bytes == 5 * int(44.5 * GiB)
    for node in plan.nodes:
        roles = sorted(b.role for b in plan.node_bricks(node))
        assert roles == ["arbiter", "data", "data"]
        assert plan.node_bytes(node) == 90 * GiB
    assert plan.hosts_may_fail == 1 and plan.write_amplification == 2.0
    assert plan.warnings == []


def test_three_hosts_disperse_2_1():
    plan = plan_layout(hosts(3), "disperse")
    assert plan.kind == "disperse"
    assert plan.create_args == ["disperse", "3", "redundancy", "1"]
    assert plan.disperse == (2, 1)
    assert plan.usable_bytes == 200 * GiB
    assert plan.hosts_may_fail == 1
    assert plan.write_amplification == 1.5
    assert any("slow for random VM writes" in w for w in plan.warnings)


def test_six_hosts_disperse_default_4_2():
    plan = plan_layout(hosts(6), "disperse")
    assert (plan.kind, plan.disperse, plan.create_args) == ("disperse", (4, 2), ["disperse", "6", "redundancy", "2"])
    assert plan.usable_bytes == 400 * GiB and plan.hosts_may_fail == 2 and plan.write_amplification == 1.5


def test_twelve_hosts_distributed_disperse_one_brick_per_host():
    plan = plan_layout(hosts(12), "disperse")
    assert plan.kind == "distributed-disperse" and plan.set_count == 2
    assert all(len(plan.node_bricks(n)) == 1 for n in plan.nodes)
    assert plan.usable_bytes == 800 * GiB


def test_seven_hosts_disperse_falls_back_to_2_1_with_reason():
    plan = plan_layout(hosts(7), "disperse")
    assert plan.disperse == (2, 1) and plan.kind == "distributed-disperse" and plan.set_count == 7
    assert any("4+2 would need 6 bricks" in w and "6, 8, 9, 10, 12, 14, 15, 16" in w for w in plan.warnings)


def test_explicit_disperse_codes():
    plan = plan_layout(hosts(10), "disperse", 8, 2)
    assert (plan.kind, plan.usable_bytes, plan.hosts_may_fail) == ("disperse", 800 * GiB, 2)
    plan = plan_layout(hosts(4), "disperse", 3, 1)
    assert plan.kind == "disperse" and plan.usable_bytes == 300 * GiB
    assert any("not a power of two" in w for w in plan.warnings)


def test_replica3_on_six_hosts_uses_one_brick_per_host():
    plan = plan_layout(hosts(6), "replica3")
    assert plan.kind == "distributed-replica3"
    assert set_names(plan) == [["h1", "h2", "h3"], ["h4", "h5", "h6"]]
    assert plan.usable_bytes == 200 * GiB


def test_replica3_on_four_hosts_chains():
    plan = plan_layout(hosts(4, 90), "replica3")
    assert plan.set_count == 4 and all(len(plan.node_bricks(n)) == 3 for n in plan.nodes)
    assert plan.usable_bytes == 4 * 30 * GiB


def test_unequal_hosts_chained_sized_from_smallest_with_warning():
    plan = plan_layout(hosts(4, sizes=[100, 200, 100, 150]))
    assert len(set(b.size_bytes for b in plan.bricks if b.role == "data")) == 1
    assert plan.bricks[0].size_bytes == int(49.5 * GiB)
    (w,) = [w for w in plan.warnings if "Unused" in w]
    assert "smallest node, h1" in w and "h2 100.0 GiB of 200.0 GiB" in w and "h4 50.0 GiB of 150.0 GiB" in w
    assert "h3" not in w


def test_arbiter_sizing():
    assert arbiter_bytes(100 * GiB) == GiB
    assert arbiter_bytes(1000 * GiB) == 5 * GiB
    assert arbiter_bytes(2 * 1024 * GiB) == 10486 * MiB        # 0.5 % of 2 TiB, rounded up to a MiB
    plan = plan_layout(hosts(4, 2000))
    s = plan.bricks[0].size_bytes
    a = plan.bricks[2].size_bytes
    assert a == arbiter_bytes(s) > GiB
    assert 2 * s + a <= 2000 * GiB < 2 * (s + MiB) + arbiter_bytes(s + MiB)   # the largest that fits


def test_big_data_bricks_need_a_bigger_witness():
    with pytest.raises(PlanError) as exc:
        plan_layout(hosts(2, 2048) + [witness(5)])
    assert "witness w" in str(exc.value) and "at least 10.2 GiB" in str(exc.value)
    plan = plan_layout(hosts(2, 2048) + [witness(11)])
    assert plan.bricks[2].size_bytes == 10486 * MiB


def test_describe_and_to_dict():
    plan = plan_layout(hosts(2))
    text = plan.describe()
    assert "replica2-arbiter" in text and "99.0 GiB" in text and "force" in text
    assert "Warning: No witness" in text and "cluster.server-quorum-type=none" in text
    assert len(text.splitlines()) < 12
    d = json.loads(json.dumps(plan.to_dict()))
    assert d["kind"] == "replica2-arbiter" and len(d["bricks"]) == 3 and d["force"] is True
    assert "any 1 node may fail" in plan_layout(hosts(5)).describe()


def test_io_continues_without_unknown_node():
    with pytest.raises(PlanError):
        plan_layout(hosts(3)).io_continues_without(["nope"])


# -- refusals: each names what to change --------------------------------------------------------

@pytest.mark.parametrize("nodes, kwargs, words", [
    (hosts(1), {}, ["1 host with storage", "at least 2", "Add a storage node"]),
    (hosts(1) + [witness()], {}, ["1 host", "witness alone holds no data"]),
    (hosts(17), {}, ["17 hosts", "at most 16", "Use 16 of the hosts"]),
    (hosts(2) + [NodeSpec("H1", "10.0.50.99", 100 * GiB)], {}, ["two storage nodes are named H1", "own name"]),
    (hosts(2) + [NodeSpec("h3", "10.0.50.11", 100 * GiB)], {}, ["h1 and h3 have the same address 10.0.50.11",
                                                                "fix the address"]),
    (hosts(3, sizes=[100, 0.5, 100]), {}, ["h2", "below the 1.0 GiB minimum", "at least 1 GiB"]),
    (hosts(2) + [witness(0.5)], {}, ["w has a 0.5 GiB brick", "at least 1 GiB"]),
    (hosts(2) + [witness(), witness(name="w2", address="10.0.50.201")], {}, ["2 witness nodes", "Keep one witness"]),
    (hosts(3), {"layout": "raid5"}, ["unknown layout 'raid5'", "auto, replica2-arbiter"]),
    (hosts(3) + [witness()], {"layout": "replica3"}, ["no arbiter brick for the witness w", "Remove the witness"]),
    (hosts(3) + [witness()], {}, ["only used by a 2-host pool", "Remove the witness"]),
    (hosts(4) + [witness()], {"layout": "replica3-arbiter"}, ["only used by a 2-host pool"]),
    (hosts(3) + [witness()], {"layout": "disperse"}, ["no arbiter bricks for the witness", "Remove the witness"]),
    (hosts(3), {"layout": "replica2-arbiter"}, ["exactly 2 hosts, not 3", "replica3-arbiter"]),
    (hosts(2), {"layout": "replica3"}, ["needs at least 3 hosts, 2 given", "replica2-arbiter"]),
    (hosts(2), {"layout": "replica3-arbiter"}, ["needs at least 3 hosts", "replica2-arbiter"]),
    (hosts(2), {"layout": "disperse"}, ["disperse needs at least 3 hosts, 2 given", "replica2-arbiter"]),
    (hosts(3), {"layout": "disperse", "disperse_data": 2, "disperse_redundancy": 0},
     ["redundancy 0", "redundancy 1 or more"]),
    (hosts(4), {"layout": "disperse", "disperse_data": 2, "disperse_redundancy": 2},
     ["2+2", "less than half", "2+1 or 4+2"]),
    (hosts(3), {"layout": "disperse", "disperse_data": 1, "disperse_redundancy": 1}, ["1+1", "less than half"]),
    (hosts(5), {"layout": "disperse", "disperse_data": 4, "disperse_redundancy": 2},
     ["4+2 needs 6 hosts, 5 given", "2+1"]),
    (hosts(7), {"layout": "disperse", "disperse_data": 4, "disperse_redundancy": 2},
     ["6 bricks on every host", "6, 8, 9, 10, 12, 14, 15, 16", "2+1 on 7 hosts"]),
    (hosts(6), {"layout": "disperse", "disperse_data": 4}, ["only one of", "Give both"]),
    (hosts(6), {"layout": "disperse", "disperse_redundancy": 2}, ["only one of", "Give both"]),
    (hosts(3), {"disperse_data": 2, "disperse_redundancy": 1}, ["layout auto", "choose layout disperse"]),
    (hosts(4, 2), {}, ["h1's 2.0 GiB brick is too small", "at least 3.0 GiB"]),
    (hosts(2, 1), {}, ["h1's 1.0 GiB brick is too small", "at least 2.0 GiB"]),
    (hosts(4, 2), {"layout": "disperse"}, ["too small", "at least 3.0 GiB"]),
])
def test_refusals(nodes, kwargs, words):
    with pytest.raises(PlanError) as exc:
        plan_layout(nodes, **kwargs)
    assert isinstance(exc.value, XosanError) and exc.value.hint
    for w in words:
        assert w in str(exc.value)


def test_nodespec_checks():
    with pytest.raises(PlanError, match="no name"):
        NodeSpec(" ", "10.0.0.1", GiB)
    with pytest.raises(PlanError, match="h1 has no address"):
        NodeSpec("h1", "", GiB)
    with pytest.raises(PlanError, match="whole number of bytes"):
        NodeSpec("h1", "10.0.0.1", 1.5 * GiB)
    with pytest.raises(PlanError, match="is not a NodeSpec"):
        plan_layout([("h1", "10.0.0.1", GiB)] * 2)


# -- the internal check ------------------------------------------------------------------------

def _layout(bricks, nodes, **kw):
    return Layout("replica3", ["replica", "3"], bricks, 3, nodes, **kw)


def test_check_layout_refuses_a_set_on_one_node_twice():
    a, b, c = hosts(3)
    bad = _layout([BrickSpec(a, "data", "b1", GiB, 0), BrickSpec(a, "data", "b2", GiB, 0),
                   BrickSpec(b, "data", "b1", GiB, 0), BrickSpec(c, "data", "b1", GiB, 1),
                   BrickSpec(b, "data", "b2", GiB, 1), BrickSpec(c, "data", "b2", GiB, 1)], [a, b, c])
    with pytest.raises(PlanError, match="internal planner error.*set 1 holds two data bricks on one node"):
        check_layout(bad)


def test_check_layout_refuses_a_shared_arbiter_except_two_hosts_without_witness():
    a, b, c = hosts(3)
    bricks = [BrickSpec(a, "data", "b1", GiB, 0), BrickSpec(b, "data", "b1", GiB, 0),
              BrickSpec(a, "arbiter", "b2", GiB, 0)]
    with pytest.raises(PlanError, match="arbiter on the node of one of its data bricks"):
        check_layout(_layout(bricks, [a, b, c], shared_arbiter=True))   # 3 hosts: never allowed
    with pytest.raises(PlanError, match="arbiter on the node"):
        check_layout(_layout(bricks, [a, b]))                          # not flagged as the exception
    check_layout(_layout(bricks, [a, b], shared_arbiter=True))


def test_check_layout_other_faults():
    a, b, c, d = hosts(4)
    ok = [BrickSpec(a, "data", "b1", GiB, 0), BrickSpec(b, "data", "b1", GiB, 0), BrickSpec(c, "data", "b1", GiB, 0)]
    with pytest.raises(PlanError, match="node h4 holds no brick"):
        check_layout(_layout(ok, [a, b, c, d]))
    with pytest.raises(PlanError, match="cannot form sets"):
        check_layout(_layout(ok[:2], [a, b]))
    with pytest.raises(PlanError, match="arbiter must be the last"):
        check_layout(_layout([BrickSpec(a, "arbiter", "b1", GiB, 0)] + ok[1:], [a, b, c]))
    with pytest.raises(PlanError, match="below"):
        check_layout(_layout(ok[:2] + [BrickSpec(c, "data", "b1", GiB - 1, 0)], [a, b, c]))
    with pytest.raises(PlanError, match="of bricks on a 100.0 GiB file system"):
        check_layout(_layout(ok[:2] + [BrickSpec(c, "data", "b1", 101 * GiB, 0)], [a, b, c]))
    with pytest.raises(PlanError, match="labelled for another set"):
        check_layout(_layout(ok[:2] + [BrickSpec(c, "data", "b1", GiB, 1)], [a, b, c]))


# -- properties over every node count and layout -----------------------------------------------

def _expected(kind, plan):
    """(hosts_may_fail, data_survives, write amplification) from GlusterFS theory."""
    if plan.disperse:
        k, m = plan.disperse
        return m, m, float(k + m) / k
    if kind in ("replica3", "distributed-replica3"):
        return 1, 2, 3.0
    if kind == "replica2-arbiter" and plan.witness is None:
        return 0, 1, 2.0
    return 1, 1, 2.0


def check_properties(plan, nodes):
    data = [n for n in nodes if not n.witness]
    n = plan.set_size
    # sets: right size, no node twice (the one documented exception aside), every node used
    assert len(plan.bricks) == plan.set_count * n
    for s in plan.sets:
        names = [b.node.name for b in s]
        if plan.shared_arbiter:
            assert len(data) == 2 and plan.witness is None and plan.kind == "replica2-arbiter"
            assert len(set(b.node.name for b in s if b.role == "data")) == 2
        else:
            assert len(set(names)) == len(names), names
    assert set(b.node.name for b in plan.bricks) == set(x.name for x in nodes)
    # create args match the set shape
    if plan.disperse:
        k, m = plan.disperse
        assert plan.create_args == ["disperse", str(k + m), "redundancy", str(m)] and n == k + m
        assert all(b.role == "data" for b in plan.bricks)
    else:
        assert n == 3 and plan.create_args[:2] == ["replica", "3"]
        arbiter = plan.create_args == ["replica", "3", "arbiter", "1"]
        for s in plan.sets:
            assert [b.role for b in s] == (["data", "data", "arbiter"] if arbiter else ["data"] * 3)
    # per node: unique subdirs, fits, balanced, at most 3 bricks
    for node in data:
        bricks = plan.node_bricks(node)
        assert len(set(b.subdir for b in bricks)) == len(bricks)
        assert plan.node_bytes(node) <= node.brick_bytes
        assert 1 <= len(bricks) <= MAX_BRICKS_PER_NODE
    if plan.kind not in ("replica3-arbiter", "replica2-arbiter"):
        assert len(set(len(plan.node_bricks(x)) for x in data)) == 1
    if plan.kind == "distributed-replica3-arbiter":
        for node in data:
            assert sorted(b.role for b in plan.node_bricks(node)) == ["arbiter", "data", "data"]
    # capacity: what the sets store
    per_set = []
    for s in plan.sets:
        smallest = min(b.size_bytes for b in s if b.role == "data")
        per_set.append(smallest * plan.disperse[0] if plan.disperse else smallest)
    assert plan.usable_bytes == sum(per_set)
    # failures and write amplification, against theory and against brute force
    may_fail, survives, wa = _expected(plan.kind, plan)
    assert (plan.hosts_may_fail, plan.data_survives) == (may_fail, survives)
    assert plan.write_amplification == pytest.approx(wa)
    names = [x.name for x in nodes]
    for failed in itertools.combinations(names, may_fail):
        assert plan.io_continues_without(failed)
    if may_fail + 1 <= len(names):
        assert not all(plan.io_continues_without(f) for f in itertools.combinations(names, may_fail + 1))
    assert plan.brick_args(path_for) == ["%s:/bricks/xosan/%s" % (b.node.address, b.subdir) for b in plan.bricks]
    check_layout(plan)


def _kinds_ok(layout, count, with_witness):
    """Whether plan_layout should accept this combination."""
    if with_witness:
        return count == 2 and layout in ("auto", "replica2-arbiter")
    if layout == "replica2-arbiter":
        return count == 2
    if layout in ("replica3", "replica3-arbiter", "disperse"):
        return count >= 3
    return True


@pytest.mark.parametrize("count", range(2, 17))
@pytest.mark.parametrize("layout", LAYOUT_CHOICES)
@pytest.mark.parametrize("with_witness", [False, True])
def test_every_node_count_and_layout(count, layout, with_witness):
    nodes = hosts(count) + ([witness(5)] if with_witness else [])
    if not _kinds_ok(layout, count, with_witness):
        with pytest.raises(PlanError):
            plan_layout(nodes, layout)
        return
    plan = plan_layout(nodes, layout)
    check_properties(plan, nodes)
    expected_kind = {
        "auto": "replica2-arbiter" if count == 2 else "replica3-arbiter" if count == 3
        else "distributed-replica3-arbiter",
        "replica2-arbiter": "replica2-arbiter",
        "replica3": "replica3" if count == 3 else "distributed-replica3",
        "replica3-arbiter": "replica3-arbiter" if count == 3 else "distributed-replica3-arbiter",
        "disperse": "disperse" if count in (3, 6) else "distributed-disperse",
    }[layout]
    assert plan.kind == expected_kind
    # equal hosts of B: the documented usable formulas (within MiB rounding)
    B = 100 * GiB
    if plan.kind == "distributed-replica3-arbiter":
        s = plan.bricks[0].size_bytes
        assert plan.usable_bytes == count * s and 2 * s + arbiter_bytes(s) <= B
        assert set_names(plan) == [["h%d" % ((i + j) % count + 1) for j in range(3)] for i in range(count)]
    elif plan.kind in ("replica3", "distributed-replica3"):
        assert abs(plan.usable_bytes - count * B / 3.0) <= plan.set_count * MiB
    elif plan.disperse:
        k, m = plan.disperse
        assert abs(plan.usable_bytes - count * B * k / float(k + m)) <= plan.set_count * k * MiB


@pytest.mark.parametrize("count", range(3, 17))
@pytest.mark.parametrize("k, m", [(2, 1), (3, 1), (4, 1), (4, 2), (6, 2), (8, 2), (8, 3), (8, 4), (12, 4)])
def test_every_disperse_code(count, k, m):
    nodes = hosts(count)
    fits = k + m <= count and (k + m) // math.gcd(count, k + m) <= MAX_BRICKS_PER_NODE
    assert (count in disperse_node_counts(k, m)) == fits
    if not fits:
        with pytest.raises(PlanError):
            plan_layout(nodes, "disperse", k, m)
        return
    plan = plan_layout(nodes, "disperse", k, m)
    check_properties(plan, nodes)
    assert plan.hosts_may_fail == m and plan.kind == ("disperse" if count == k + m else "distributed-disperse")


@pytest.mark.parametrize("seed", range(40))
def test_unequal_sizes_keep_every_invariant(seed):
    rnd = random.Random(seed)
    count = rnd.randint(2, 16)
    sizes = [rnd.uniform(3, 4096) for _ in range(count)]
    nodes = hosts(count, sizes=sizes)
    if count == 2 and rnd.random() < 0.5:
        nodes.append(witness(25))
    layouts = ["auto"] + ([] if count == 2 or nodes[-1].witness else ["replica3", "replica3-arbiter"])
    if count >= 3 and not nodes[-1].witness:
        layouts.append("disperse")
    for layout in layouts:
        try:
            plan = plan_layout(nodes, layout)
        except PlanError as exc:   # only "too small" may refuse random sizes
            assert "too small" in str(exc)
            continue
        check_properties(plan, nodes)
        smallest = min(n.brick_bytes for n in nodes if not n.witness)
        assert plan.usable_bytes <= sum(n.brick_bytes for n in nodes)
        if plan.kind.startswith("distributed"):
            big = [n for n in plan.nodes if n.brick_bytes - plan.node_bytes(n) > max(GiB, n.brick_bytes / 100.0)]
            if big:
                assert any("Unused" in w for w in plan.warnings)
            assert all(b.size_bytes <= smallest for b in plan.bricks)


def test_default_disperse_table():
    table = dict((c, default_disperse(c)) for c in range(3, 17))
    assert table == {3: (2, 1), 4: (2, 1), 5: (2, 1), 6: (4, 2), 7: (2, 1), 8: (4, 2), 9: (4, 2), 10: (4, 2),
                     11: (2, 1), 12: (4, 2), 13: (2, 1), 14: (4, 2), 15: (4, 2), 16: (4, 2)}
