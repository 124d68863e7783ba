"""Day-2 operations on a simulated pool with real storage nodes: boot order, status verdicts and
exit codes, maintenance (and its refusals), replace a dead host, grow 2 -> 3 hosts, destroy."""

import hashlib
import os
import subprocess
import sys
import threading
import time

import pytest
from labpool import pool_fixture
from labutil import wait_for_heal

from xosan.gluster import health
from xosan.pool.operate import Refused
from xosan.pool.xapi import Xapi

pytestmark = pytest.mark.gluster

MiB = 1024 ** 2
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


pool = pool_fixture(3, 180)
RECONNECT_BOUND = 60  # s: issue 13's "back to full redundancy" target


def xosan_cli(pool, *args):
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.run([sys.executable, "-m", "xosan"] + list(args) + pool.cli_args(),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, env=env,
                          stdin=subprocess.DEVNULL)


def write_pattern(path, seed):
    data = hashlib.sha256(seed).digest() * (MiB // 32)
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return hashlib.sha256(data).hexdigest()


def read_sha(path):
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def test_boot_order_all_storage_vms_halted_then_pbds_plugged(pool):
    sr, _ = pool.deployment().run()
    x = Xapi.connect(pool.server.url, "root", "xosan")
    pbds = x.api.SR.get_PBDs(sr)
    for pbd in pbds:
        x.run_async("PBD.unplug", pbd)
    for vm, _ in pool.deployment().mine("VM"):
        x.run_async("VM.hard_shutdown", vm)
    # a pool boot: every host plugs its PBD at once, before any VM is started
    errors = []

    def plug(ref):
        try:
            Xapi.connect(pool.server.url, "root", "xosan").run_async("PBD.plug", ref)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)
    threads = [threading.Thread(target=plug, args=(p,)) for p in pbds]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert errors == []
    assert all(x.api.PBD.get_currently_attached(p) for p in pbds)
    assert all(rec["power_state"] == "Running" for _, rec in pool.deployment().mine("VM"))


def test_status_verdicts_and_exit_codes_follow_a_cut_node(pool):
    pool.deployment().run()
    out = xosan_cli(pool, "status")
    assert out.returncode == 0 and "HEALTHY" in out.stdout, out.stdout
    node = pool.node_of("lab-host-2")
    node.cut()
    out = xosan_cli(pool, "status")
    assert out.returncode == 1 and "DEGRADED" in out.stdout and node.ip in out.stdout, out.stdout
    out = xosan_cli(pool, "status", "--json")
    assert out.returncode == 1 and '"verdict": "degraded"' in out.stdout
    node.reconnect()
    wait_for_heal(pool.lab, "xosan")
    # the heal done, the clients may still be reconnecting to the returned brick (its new port): status
    # says degraded, with that reason, until they are, then healthy by itself (issue 13 item 6)
    deadline = time.time() + RECONNECT_BOUND
    while True:
        out = xosan_cli(pool, "status")
        if out.returncode == 0:
            break
        assert out.returncode == 1 and "not (re)connected to brick" in out.stdout, out.stdout
        assert time.time() < deadline, "not healthy %d s after the heal:\n%s" % (RECONNECT_BOUND, out.stdout)
        time.sleep(2)
    assert "HEALTHY" in out.stdout, out.stdout


def test_maintenance_refuses_during_heal_and_works_after(pool):
    sr, _ = pool.deployment().run()
    sr_uuid = pool.sim.db["SR"][sr]["uuid"]
    g = pool.lab.nodes[0].gluster
    # hold heals back (self-heal daemon and client-side heals off) so "heal pending" lasts
    heal_opts = ["cluster.self-heal-daemon", "cluster.data-self-heal", "cluster.metadata-self-heal",
                 "cluster.entry-self-heal"]
    for opt in heal_opts:
        g(["volume", "set", "xosan", opt, "off"])
    n2 = pool.node_of("lab-host-2")
    n2.cut()
    write_pattern(pool.mount_path("lab-host-1", sr_uuid, "during-cut.img"), b"cut")
    n2.reconnect()
    deadline = time.time() + 180
    while True:  # until glusterd sees every brick again, with the heal still pending
        hl, _ = pool.ops().health()
        if all(b.online for b in hl.bricks) and hl.heal_pending > 0:
            break
        assert time.time() < deadline, hl.reason
        time.sleep(3)
    with pytest.raises(Refused) as err:
        pool.ops().plan_maintenance_enter("lab-host-3")
    assert "waiting for self-heal" in str(err.value)
    out = xosan_cli(pool, "maintenance", "enter", "lab-host-3")
    assert out.returncode == 1 and "refused" in out.stdout
    for opt in heal_opts:
        g(["volume", "set", "xosan", opt, "on"])
    wait_for_heal(pool.lab, "xosan")
    out = xosan_cli(pool, "maintenance", "enter", "lab-host-3", "--dry-run")
    assert out.returncode == 0 and "shut down" in out.stdout, out.stdout
    pool.ops().maintenance_enter("lab-host-3")
    h, _ = pool.ops().health()
    assert h.verdict == health.DEGRADED and "can lose no more" in h.reason
    with pytest.raises(Refused):  # losing a second node now would stop I/O
        pool.ops().plan_maintenance_enter("lab-host-1")
    pool.ops().maintenance_exit("lab-host-3", heal_timeout=300)
    assert pool.ops().health()[0].verdict == health.HEALTHY


def test_replace_dead_host_and_refuse_a_healthy_one(pool):
    sr, _ = pool.deployment().run()
    sr_uuid = pool.sim.db["SR"][sr]["uuid"]
    want = write_pattern(pool.mount_path("lab-host-1", sr_uuid, "keep.img"), b"keep")
    with pytest.raises(Refused) as err:
        pool.ops().plan_replace("lab-host-2", "lab-host-2")
    assert "healthy" in str(err.value)
    # the host dies with its storage VM
    old_ip = pool.node_of("lab-host-2").ip
    pool.node_of("lab-host-2").kill()
    out = xosan_cli(pool, "replace-host", "lab-host-2", "--dry-run")
    assert out.returncode == 0 and "replace-brick" in out.stdout, out.stdout
    h = pool.ops().replace("lab-host-2", "lab-host-2", heal_timeout=300)
    assert h.verdict == health.HEALTHY
    hosts = [b.host for b in h.info.bricks]
    assert old_ip not in hosts and len(set(hosts)) == 3
    assert read_sha(pool.mount_path("lab-host-3", sr_uuid, "keep.img")) == want
    new_node = pool.node_of("lab-host-2")
    brick_file = os.path.join(new_node.brick_path("xosan", "b1"), sr_uuid, "keep.img")
    assert new_node.run(["sha256sum", brick_file]).stdout.split()[0] == want


def test_two_hosts_grow_to_three_then_destroy_needs_confirmation(pool):
    pool.deployment(pool.manifest(hosts="lab-host-1,lab-host-2")).run()
    m2 = pool.manifest(hosts="lab-host-1,lab-host-2")
    ops = pool.ops(m2)
    with pytest.raises(Refused) as err:
        ops.plan_add(["lab-host-1"])
    assert "already" in str(err.value)
    kind, steps = ops.plan_add(["lab-host-3"])
    assert kind == "convert"
    h = pool.ops(m2).add(["lab-host-3"], heal_timeout=300)
    assert h.verdict == health.HEALTHY and h.may_fail == 1
    assert len(set(b.host for b in h.info.bricks)) == 3 and h.info.bricks[2].is_arbiter

    args = ["--hosts", "lab-host-1,lab-host-2"]
    out = xosan_cli(pool, "destroy", *args)
    assert out.returncode == 1 and "--yes" in out.stdout
    assert pool.deployment(m2).mine("SR")
    out = xosan_cli(pool, "destroy", "--yes", *args)
    assert out.returncode == 0, out.stdout
    assert not pool.deployment(m2).mine("SR") and not pool.deployment(m2).mine("VM")


pool4 = pool_fixture(4, 200)


def test_compute_only_host_mounts_and_a_dead_host_is_replaced_by_another(pool4):
    """3 storage hosts in a 4-host pool: the 4th gets a dom0 storage address and the SR like the others;
    when host 2 dies for good, its storage VM is rebuilt on host 4 (a different host)."""
    sim = pool4.sim
    m = pool4.manifest(hosts="lab-host-1,lab-host-2,lab-host-3")
    sr, _ = pool4.deployment(m).run()
    sr_uuid = sim.db["SR"][sr]["uuid"]
    pbds = sim.db["SR"][sr]["PBDs"]
    assert len(pbds) == 4 and all(sim.db["PBD"][p]["currently_attached"] for p in pbds)
    addresses = sorted(h.ip for h in pool4.lab.hosts)
    assert addresses == ["%s.%d" % (pool4.subnet, 101 + i) for i in range(4)]
    want = write_pattern(pool4.mount_path("lab-host-4", sr_uuid, "from-host-4.img"), b"four")

    with pytest.raises(Refused) as err:  # host 3 already holds a copy: not a new failure domain
        pool4.ops(m).plan_replace("lab-host-2", "lab-host-3", force=True)
    assert "already runs a storage VM" in str(err.value)
    old_ip = pool4.node_of("lab-host-2").ip
    pool4.node_of("lab-host-2").kill()
    h = pool4.ops(m).replace("lab-host-2", "lab-host-4", heal_timeout=300)
    assert h.verdict == health.HEALTHY
    hosts = [b.host for b in h.info.bricks]
    assert old_ip not in hosts and len(set(hosts)) == 3
    assert sorted(pool4.ops(m).storage_vms()) == ["lab-host-1", "lab-host-3", "lab-host-4"]
    # the new storage VM lives on host 4, system and data disk on host 4's local SR
    [(vm, rec, ip)] = [v for n, v in pool4.ops(m).storage_vms().items() if n == "lab-host-4"]
    host4 = [r for r, hr in sim.db["host"].items() if hr["name_label"] == "lab-host-4"][0]
    assert rec["affinity"] == host4 and rec["power_state"] == "Running"
    local4 = [sim.db["PBD"][p]["SR"] for p in sim.db["host"][host4]["PBDs"]
              if sim.db["SR"][sim.db["PBD"][p]["SR"]]["type"] == "lvm"][0]
    assert all(sim.db["VDI"][sim.db["VBD"][b]["VDI"]]["SR"] == local4 for b in rec["VBDs"])
    new_node = pool4.node_of("lab-host-4")
    brick_file = os.path.join(new_node.brick_path("xosan", "b1"), sr_uuid, "from-host-4.img")
    assert new_node.run(["sha256sum", brick_file]).stdout.split()[0] == want
    assert read_sha(pool4.mount_path("lab-host-1", sr_uuid, "from-host-4.img")) == want


pool6 = pool_fixture(6, 210)


def test_three_hosts_grow_by_a_whole_replica_set_and_rebalance(pool6):
    sim = pool6.sim
    m = pool6.manifest(hosts="lab-host-1,lab-host-2,lab-host-3")
    sr, _ = pool6.deployment(m).run()
    sr_uuid = sim.db["SR"][sr]["uuid"]
    files = dict(("f%02d.img" % i, write_pattern(pool6.mount_path("lab-host-1", sr_uuid, "f%02d.img" % i),
                                                  b"file %d" % i)) for i in range(12))
    with pytest.raises(Refused) as err:  # two hosts would not make a whole replica set
        pool6.ops(m).plan_add(["lab-host-4", "lab-host-5"])
    assert "whole sets of 3" in str(err.value)
    kind, _ = pool6.ops(m).plan_add(["lab-host-4", "lab-host-5", "lab-host-6"])
    assert kind == "set"
    h = pool6.ops(m).add(["lab-host-4", "lab-host-5", "lab-host-6"], heal_timeout=600)
    assert h.verdict == health.HEALTHY, h.reason
    info = h.info
    assert (info.replica, info.arbiter, len(info.bricks)) == (3, 1, 6)
    first, second = info.bricks[:3], info.bricks[3:]
    assert not set(b.host for b in first) & set(b.host for b in second)
    assert len(set(b.host for b in second)) == 3 and second[2].is_arbiter
    # every file reads back the same from a host that joined, and the layout spans both sets
    for name, want in files.items():
        assert read_sha(pool6.mount_path("lab-host-6", sr_uuid, name)) == want
    # the rebalance moved data onto the new set: files whose data now sits on host 4's brick
    node4 = pool6.node_of("lab-host-4")
    brick4 = second[0].name.rpartition(":")[2]
    moved = [n for n in files if node4.run(["test", "-s", os.path.join(brick4, sr_uuid, n)],
                                           check=False).returncode == 0]
    assert 0 < len(moved) < len(files), moved
    new_file = write_pattern(pool6.mount_path("lab-host-5", sr_uuid, "after.img"), b"after")
    assert read_sha(pool6.mount_path("lab-host-2", sr_uuid, "after.img")) == new_file
