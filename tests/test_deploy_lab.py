"""xosan deploy through XAPI against the lab's simulated pool: real XenAPI client, real
storage nodes (GlusterFS), the real driver plugged on every simulated host."""

import os
import subprocess
import sys

import pytest
from labpool import STORAGE_NET, management_tls_on, pool_fixture

from xosan.pool.deploy import DeployError
from xosan.pool.planner import PlanError
from xosan.pool.storage_vm import from_xenstore_data
from xosan.pool.xapi import Xapi

pytestmark = pytest.mark.gluster

GiB = 1024 ** 3


pool3 = pool_fixture(3, 160)


pool2 = pool_fixture(2, 170)


def brick_hosts(pool, info):
    """The live volume's replica sets as [(data brick hosts, arbiter brick host)], each brick placed
    on the pool host whose running storage VM (its xenstore address) and lab node hold its address;
    which brick is the arbiter is GlusterFS's own answer (isArbiter), not its position."""
    sim = pool.sim
    host_of = {}
    for v in sim.db["VM"].values():
        if v["is_a_template"] or v["power_state"] != "Running":
            continue
        ip = from_xenstore_data(v["xenstore_data"]).get("ip")
        name = sim.db["host"][v["resident_on"]]["name_label"]
        assert v["resident_on"] == v["affinity"] and pool.node_of(name).ip == ip and ip not in host_of
        host_of[ip] = name
    assert info.replica > 1 and len(info.bricks) % info.replica == 0
    sets = []
    for i in range(0, len(info.bricks), info.replica):
        bricks = info.bricks[i:i + info.replica]
        arbiters = [host_of[b.host] for b in bricks if b.is_arbiter]
        assert len(arbiters) == info.arbiter == 1 and bricks[-1].is_arbiter, bricks
        sets.append(([host_of[b.host] for b in bricks if not b.is_arbiter], arbiters[0]))
    return sets


def test_three_hosts_deploy_plug_everywhere_and_rerun_changes_nothing(pool3):
    sim = pool3.sim
    d = pool3.deployment()
    sr, cli = d.run()
    [info] = cli.volume_info("xosan")
    assert (info.replica, info.arbiter, info.started) == (3, 1, True)
    # every replica set: its two data bricks on two different hosts, its arbiter on a third
    for data, arbiter in brick_hosts(pool3, info):
        assert len(set(data)) == len(data) == 2 and arbiter not in data
    rec = sim.db["SR"][sr]
    assert rec["type"] == "xosan" and rec["shared"] and rec["content_type"] == "user"
    assert len(rec["PBDs"]) == 3 and all(sim.db["PBD"][p]["currently_attached"] for p in rec["PBDs"])
    vms = [v for v in sim.db["VM"].values() if not v["is_a_template"]]
    assert len(vms) == 3 and all(v["power_state"] == "Running" for v in vms)
    assert len(set(v["affinity"] for v in vms)) == 3
    # XO's smart-mode backup jobs skip a VM when one of its tags, cut at the first "=", is xo:no-bak
    assert all([t for t in v["tags"] if t.split("=", 1)[0] == "xo:no-bak"] for v in vms)
    # the appliance was uploaded once and made an HVM template; every storage VM boots its own copy
    # of the system disk from its host's local SR, next to its data disk
    assert len([c for c in sim.calls if c[0] == "PUT /import_raw_vdi"]) == 1
    [tmpl] = [v for v in sim.db["VM"].values() if v["is_a_template"]]
    assert tmpl["HVM_boot_policy"] == "BIOS order" and tmpl["other_config"]["xosan-appliance-sha256"]
    for v in vms:
        disks = dict((sim.db["VBD"][b]["userdevice"], sim.db["VDI"][sim.db["VBD"][b]["VDI"]]) for b in v["VBDs"])
        assert sorted(disks) == ["0", "1"]
        local = [sim.db["PBD"][p]["SR"] for p in sim.db["host"][v["affinity"]]["PBDs"]
                 if sim.db["SR"][sim.db["PBD"][p]["SR"]]["type"] == "lvm"]
        assert disks["0"]["SR"] == local[0] and disks["1"]["SR"] == local[0]
        assert sim.content[disks["0"]["uuid"]].endswith(".vhd")
    before = pool3.snapshot()

    pool3.deployment().run()  # a re-run resumes: nothing new, no second upload
    assert pool3.snapshot() == before
    assert len([c for c in sim.calls if c[0] == "PUT /import_raw_vdi"]) == 1

    # a VDI made through XAPI is a VHD file that every host sees through its own mount
    x = Xapi.connect(pool3.server.url, "root", "xosan")
    vdi = x.run_async("VDI.create", {"name_label": "d", "name_description": "", "SR": sr, "virtual_size": str(GiB),
                                     "type": "user", "sharable": False, "read_only": False, "other_config": {},
                                     "xenstore_data": {}, "sm_config": {}, "tags": []})
    vdi_uuid = x.api.VDI.get_uuid(vdi)
    for h in sim.db["host"].values():
        path = pool3.mount_path(h["name_label"], rec["uuid"], vdi_uuid + ".vhd")
        assert os.path.getsize(path) > 0
    h, err, attached, _ = d.status()
    assert err is None and h.verdict == "healthy" and all(a for _, a in attached)


def test_two_hosts_get_replica2_with_arbiter(pool2):
    d = pool2.deployment(pool2.manifest(tls="off"))
    sr, cli = d.run()
    [info] = cli.volume_info("xosan")
    assert (info.replica, info.arbiter, len(info.bricks)) == (3, 1, 3)
    # the two data bricks on the two hosts; with no third host (no witness) the arbiter shares the
    # storage VM of one of them, in a brick directory of its own
    [(data, arbiter)] = brick_hosts(pool2, info)
    assert sorted(data) == ["lab-host-1", "lab-host-2"] and arbiter in data
    assert len(set(b.name for b in info.bricks)) == 3
    assert all(pool2.sim.db["PBD"][p]["currently_attached"] for p in pool2.sim.db["SR"][sr]["PBDs"])

    # made with `tls: off`, re-run with `tls` left out: kept as it runs, whatever the default is
    # (deploy._tls_mode); `tls: management` written is refused under the plugged SR, changing nothing
    before = pool2.snapshot()
    pool2.deployment().run()
    assert pool2.snapshot() == before and not any(management_tls_on(n) for n in pool2.lab.nodes)
    with pytest.raises(DeployError) as err:
        pool2.deployment(pool2.manifest(tls="management")).run()
    assert "management TLS is off on" in str(err.value) and not any(management_tls_on(n) for n in pool2.lab.nodes)
    assert all(pool2.sim.db["PBD"][p]["currently_attached"] for p in pool2.sim.db["SR"][sr]["PBDs"])


def test_unreachable_vm_is_a_clear_error_rerun_resumes_rollback_restores(pool3):
    sim = pool3.sim
    initial = pool3.snapshot()
    sim.faults["unreachable"].add("XOSAN storage VM (lab-host-2)")
    with pytest.raises(DeployError) as err:
        pool3.deployment(ssh_timeout=15).run()
    msg = str(err.value)
    assert "lab-host-2" in msg and pool3.subnet + ".12" in msg and "rollback" in msg
    assert "lab-host-1" not in msg.split("SSH after")[1].split(".")[0]
    vms_after_failure = sorted(r for r, v in sim.db["VM"].items() if not v["is_a_template"])

    # the admin fixes the VM's network; the same command resumes with the same VMs
    sim.faults["unreachable"].clear()
    [node] = [n for n in pool3.lab.nodes if n.state.get("vm_name") == "XOSAN storage VM (lab-host-2)"]
    node.reconnect()
    sr, _ = pool3.deployment().run()
    assert sorted(r for r, v in sim.db["VM"].items() if not v["is_a_template"]) == vms_after_failure

    pool3.deployment().rollback()
    assert pool3.snapshot() == initial
    assert pool3.lab.nodes == [] or all(not n.running() for n in pool3.lab.nodes)


def test_impossible_plans_are_refused_with_the_reason(pool2):
    with pytest.raises(PlanError):
        pool2.deployment(pool2.manifest(layout="replica3")).plan()
    with pytest.raises(DeployError) as err:
        pool2.deployment(pool2.manifest(brick_size="100G")).plan()
    assert "does not fit" in str(err.value)
    with pytest.raises(DeployError) as err:
        pool2.deployment(pool2.manifest(hosts="lab-host-1,lab-host-9")).plan()
    assert "lab-host-9" in str(err.value)
    with pytest.raises(DeployError) as err:
        pool2.deployment(pool2.manifest(image=None, template="no such template")).run()
    assert "no XOSAN storage VM template" in str(err.value) and "--image" in str(err.value)


def test_cli_plan_and_status_against_the_simulator(pool2):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    common = ["--master", pool2.server.url, "--password-file", pool2.password_file, "--addresses",
              pool2.subnet + ".0/24", "--network-name", STORAGE_NET, "--brick-size", "2G",
              "--state-dir", pool2.state_dir]
    out = subprocess.run([sys.executable, "-m", "xosan", "plan"] + common, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, universal_newlines=True, env=env)
    assert out.returncode == 0, out.stdout
    assert "lab-host-1" in out.stdout and "arbiter" in out.stdout
    out = subprocess.run([sys.executable, "-m", "xosan", "status"] + common, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, universal_newlines=True, env=env)
    assert out.returncode == 3 and "no storage VM found" in out.stdout
    out = subprocess.run([sys.executable, "-m", "xosan", "deploy", "--rollback"] + common,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, env=env,
                         stdin=subprocess.DEVNULL)
    assert out.returncode == 1 and "--yes" in out.stdout
