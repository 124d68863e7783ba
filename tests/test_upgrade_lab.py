"""`xosan upgrade`'s rolling loop for real on the lab: a simulated pool, three real storage nodes, a
checksum-verified fsync'd writer on the SR's FUSE mount the whole time.

What cannot run here: a real apt upgrade per node. The lab's nodes are network namespaces sharing
this machine's root file system (one dpkg database, one set of binaries), so "upgrade node 2" cannot
exist. The per-node step is therefore injected (xosan.pool.upgrade.NodeStep): ``LabGlusterRestart``
does to GlusterFS what a package upgrade does (glusterd, the brick and self-heal processes of that
node stopped, SIGTERM, then started again; the node's sshd, which lives in the same namespace, is
restarted with them); everything around it (the gate, the waits, the stop at a refusal) is the
shipped code."""

import os
import sys
import time

import pytest
from labpool import Pool
from labutil import lab_name, lab_subnet, wait_for_heal

from xosan.gluster import downtime, health
from xosan.pool.upgrade import REFUSED, UNTOUCHED, UPGRADED, NodeStep, Upgrader

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "bench"))

import chaos  # noqa: E402

pytestmark = pytest.mark.gluster

MiB = 1024 ** 2
HEAL_OPTS = ["cluster.self-heal-daemon", "cluster.data-self-heal", "cluster.metadata-self-heal",
             "cluster.entry-self-heal"]


@pytest.fixture
def pool(tmp_path):
    p = Pool(tmp_path, 3, lab_id=lab_name("xu"), subnet=lab_subnet(40))
    yield p
    p.close()


def offline_bricks(lab, volume):
    """glusterd's own view, asked on every running node: bricks not online."""
    info = chaos.volume_info(lab, volume)
    node = chaos.live_node(lab)
    from xosan.gluster import parse_volume_status
    st = parse_volume_status(node.gluster(["volume", "status", volume, "--xml"]).stdout)[0]
    online = set(b.name for b in st if b.online)
    return sorted(b.name for b in info.bricks if b.name not in online)


class LabGlusterRestart(NodeStep):
    """What a GlusterFS package upgrade does to one node, on a lab node; records what it saw."""
    method = "lab-restart"

    def __init__(self, pool):
        self.pool = pool
        self.calls = []   # (host, bricks offline just before, bricks offline while it was down)

    def describe(self, node):
        return ["stop glusterd and its brick processes, start them again (the lab's stand-in for apt)"]

    def apply(self, node, p, ops):
        lab_node = [n for n in self.pool.lab.nodes if n.ip == node.address][0]
        before = offline_bricks(self.pool.lab, "xosan")
        lab_node.kill()
        during = offline_bricks(self.pool.lab, "xosan")
        lab_node.start()
        self.pool.lab.save()
        self.calls.append((node.host, before, during))
        return "glusterd and brick restarted"


def glusterd_pids(pool):
    return [n.state.get("pid") for n in pool.lab.nodes]


_MARKS = []


def mark(what):
    """Phase times on stdout (seen with -s): where this test's time goes; nothing is asserted on them."""
    _MARKS.append(time.time())
    print("upgrade-lab: %-28s %6.1f s" % (what, _MARKS[-1] - _MARKS[0]))


def test_rolling_upgrade_is_gated_loses_nothing_and_a_refused_start_changes_nothing(pool):
    mark("start")
    sr, _ = pool.deployment().run()
    mark("deployed")
    sr_uuid = pool.sim.db["SR"][sr]["uuid"]
    g = pool.lab.nodes[0].gluster

    # -- a refused start: heal pending (heals held back while node 2 was down during a write) ----
    for opt in HEAL_OPTS:
        g(["volume", "set", "xosan", opt, "off"])
    n2 = pool.node_of("lab-host-2")
    n2.kill()
    with open(pool.mount_path("lab-host-1", sr_uuid, "while-down.img"), "wb") as fh:
        fh.write(b"x" * MiB)
        fh.flush()
        os.fsync(fh.fileno())
    n2.start()
    pool.lab.save()
    wait_until_pending(pool)
    mark("heal pending")
    step = LabGlusterRestart(pool)
    pids, snap = glusterd_pids(pool), pool.snapshot()
    run = Upgrader(pool.ops(), step).run()
    assert not run.ok and run.stopped_at.host == "lab-host-1" and run.stopped_at.status == REFUSED
    assert downtime.HEAL_PENDING in [r.key for r in run.stopped_at.refusals]
    assert [n.status for n in run.nodes] == [REFUSED, UNTOUCHED, UNTOUCHED]
    assert step.calls == [] and glusterd_pids(pool) == pids and pool.snapshot() == snap
    # the dry run (its rendering and versions are unit-tested; here: order and gate on the real volume)
    plan = Upgrader(pool.ops(), step).plan(versions=False)
    assert [n.host for n in plan.nodes] == ["lab-host-1", "lab-host-2", "lab-host-3"]
    assert downtime.HEAL_PENDING in [r.key for r in plan.nodes[0].refusals]
    assert glusterd_pids(pool) == pids
    mark("refused and dry run")

    for opt in HEAL_OPTS:
        g(["volume", "set", "xosan", opt, "on"])
    wait_for_heal(pool.lab, "xosan")
    mark("healed")

    # -- the rolling loop for real, under the writer ------------------------------------------------
    path = pool.mount_path("lab-host-1", sr_uuid, "upgrade-chaos.img")
    writer = chaos.RecordWriter(path, file_size=32 * MiB, slots=32, pause=0.02)
    writer.fill()
    writer.start()
    try:
        run = Upgrader(pool.ops(), step, heal_timeout=240, back_timeout=120).run()
    finally:
        writer.stop()
    mark("rolled 3 nodes")
    checked, problems = chaos.verify_records(path, writer)
    summary = [n.as_dict() for n in run.nodes]
    assert run.ok, summary
    assert [n.status for n in run.nodes] == [UPGRADED] * 3
    assert [c[0] for c in step.calls] == ["lab-host-1", "lab-host-2", "lab-host-3"]
    for (host, before, during), n in zip(step.calls, run.nodes):
        # gated: nothing else down when its turn came, only its own brick(s) down while it was
        assert before == [], (host, before)
        ip = pool.node_of(host).ip
        assert during and all(b.startswith(ip + ":") for b in during), (host, during)
        assert n.before == health.HEALTHY and n.after == health.HEALTHY, summary
    assert writer.errors == [], writer.errors[:5]
    assert checked == 32 and problems == [], problems
    assert writer.acked_writes() > 32
    assert pool.ops().health()[0].verdict == health.HEALTHY


def wait_until_pending(pool, timeout=120):
    deadline = time.time() + timeout
    while True:
        h, _ = pool.ops().health()
        if all(b.online for b in h.bricks) and h.heal_pending > 0:
            return h
        assert time.time() < deadline, h.reason
        time.sleep(2)
