"""xosan deploy with ``network.mode: vlan`` against the lab's simulated pool (real XenAPI client,
real storage nodes): deploy makes one network, one VLAN on the given NIC of every host, gives
each dom0 its address on that VLAN's PIF and the storage VMs their VIF there; a rollback,
after a deploy that went through or one that failed at a later step, removes exactly that.
Only the public entry points: Deployment(...).plan/run/status/rollback (tests/labpool.py)."""

import pytest
from labpool import pool_fixture

from xosan import facts
from xosan.errors import XosanError
from xosan_lab.xapi_sim import XapiFailure

pytestmark = pytest.mark.gluster

VLAN = 142
NET = "XOSAN storage (VLAN %d)" % VLAN
NIC_NET = "Pool-wide network associated with eth1"
TAG = facts.TAG_DEPLOYMENT

pool3 = pool_fixture(3, 240)


def vlan_manifest(pool, vlan=VLAN, **kw):
    return pool.manifest(network_mode="vlan", network_name="XOSAN storage (VLAN %d)" % vlan, pif="eth1",
                         vlan=str(vlan), **kw)


def everything(pool):
    """What deploy may touch, as fully as an admin could compare it: every object ref of the classes
    it creates, every PIF with its addressing and tags, every VLAN, the dom0s on the storage network
    and the storage nodes (tasks, sessions and messages aside)."""
    db = pool.sim.db
    snap = dict((cls, sorted(db[cls])) for cls in ("VM", "VDI", "VBD", "VIF", "SR", "PBD", "network", "PIF", "VLAN"))
    snap["PIF records"] = sorted(
        (r, p["host"], p["network"], p["device"], str(p["VLAN"]), p["ip_configuration_mode"], p["IP"], p["netmask"],
         sorted(p["other_config"].items()), sorted(p.get("VLAN_slave_of", []))) for r, p in db["PIF"].items())
    snap["network records"] = sorted((r, n["name_label"], sorted(n["PIFs"]), sorted(n.get("VIFs", [])),
                                      sorted(n["other_config"].items())) for r, n in db["network"].items())
    snap["dom0s on the storage network"] = sorted((h.state["xapi_host"], h.ip) for h in pool.lab.hosts)
    snap["storage nodes"] = sorted(n.state.get("vm_name") for n in pool.lab.nodes)
    return snap


def host_name(pool, ref):
    return pool.sim.db["host"][ref]["name_label"]


def eth1_of(pool):
    """host name -> its physical eth1 PIF (the NIC the VLAN is made on)."""
    db = pool.sim.db
    [nic_net] = [r for r, n in db["network"].items() if n["name_label"] == NIC_NET]
    return dict((host_name(pool, p["host"]), r) for r, p in db["PIF"].items()
                if p["network"] == nic_net and p["physical"])


def deployment_network(pool, vlan=VLAN):
    """The one network the deployment made, checked: the name asked for, tagged, and on every host
    exactly one PIF, the VLAN ``vlan`` on that host's eth1 (xapi's VLAN object says so)."""
    db = pool.sim.db
    mine = [(r, n) for r, n in db["network"].items() if n["other_config"].get(TAG) == "xosan"]
    assert len(mine) == 1, mine
    net, rec = mine[0]
    assert rec["name_label"] == "XOSAN storage (VLAN %d)" % vlan
    eth1 = eth1_of(pool)
    by_host = {}
    for pif in rec["PIFs"]:
        p = db["PIF"][pif]
        assert (p["network"], p["device"], str(p["VLAN"]), p["physical"]) == (net, "eth1", str(vlan), False)
        v = db["VLAN"][p["VLAN_master_of"]]
        assert (v["tagged_PIF"], v["untagged_PIF"], str(v["tag"])) == (pif, eth1[host_name(pool, p["host"])], str(vlan))
        assert host_name(pool, p["host"]) not in by_host
        by_host[host_name(pool, p["host"])] = pif
    assert sorted(by_host) == ["lab-host-1", "lab-host-2", "lab-host-3"]
    return net, by_host


def test_vlan_deploy_puts_storage_traffic_on_the_vlan_and_rollback_removes_exactly_it(pool3):
    sim = pool3.sim
    initial = everything(pool3)
    d = pool3.deployment(vlan_manifest(pool3))
    sr, cli = d.run()

    net, vlan_pif = deployment_network(pool3)
    assert len([c for c in sim.calls if c[0] == "pool.create_VLAN_from_PIF"]) == 1
    # every dom0's storage address is on its VLAN PIF (tagged, so a re-run and the rollback find it);
    # the NIC itself stays as it was
    subnet = pool3.subnet
    for i, name in enumerate(["lab-host-1", "lab-host-2", "lab-host-3"]):
        p = sim.db["PIF"][vlan_pif[name]]
        assert (p["ip_configuration_mode"], p["IP"], p["netmask"]) == ("Static", "%s.%d" % (subnet, 101 + i),
                                                                        "255.255.255.0")
        assert p["other_config"].get(TAG) == "xosan"
        nic = sim.db["PIF"][eth1_of(pool3)[name]]
        assert (nic["ip_configuration_mode"], nic["IP"], nic["other_config"]) == ("None", "", {})
    assert sorted((h.state["xapi_host"], h.ip) for h in pool3.lab.hosts) == [
        ("lab-host-%d" % (i + 1), "%s.%d" % (subnet, 101 + i)) for i in range(3)]
    # every storage VM has its one VIF there, none on the NIC's own network
    vms = [v for v in sim.db["VM"].values() if not v["is_a_template"]]
    assert len(vms) == 3
    for v in vms:
        assert [sim.db["VIF"][vif]["network"] for vif in v["VIFs"]] == [net]
    [info] = cli.volume_info("xosan")
    assert info.started and (info.replica, info.arbiter) == (3, 1)
    pbds = sim.db["SR"][sr]["PBDs"]
    assert len(pbds) == 3 and all(sim.db["PBD"][p]["currently_attached"] for p in pbds)
    health, err, attached, _ = d.status()
    assert err is None and health.verdict == "healthy" and sorted(attached) == [
        ("lab-host-1", True), ("lab-host-2", True), ("lab-host-3", True)]

    # a re-run finds its VLAN network: no second VLAN, nothing new at all
    after = everything(pool3)
    pool3.deployment(vlan_manifest(pool3)).run()
    assert everything(pool3) == after
    assert len([c for c in sim.calls if c[0] == "pool.create_VLAN_from_PIF"]) == 1

    pool3.deployment(vlan_manifest(pool3)).rollback()
    assert everything(pool3) == initial
    assert sim.db["VLAN"] == {}


def _refuse(method):
    def refuse(*args):
        raise XapiFailure("INTERNAL_ERROR", "lab: %s refused for this test" % method)
    return refuse


def test_a_step_failing_after_the_vlan_is_made_is_undone_exactly_by_rollback(pool3, monkeypatch):
    sim = pool3.sim
    initial = everything(pool3)

    # the first storage VM cannot get its VIF: the VLAN and its PIFs exist, no VM is whole
    monkeypatch.setattr(sim, "_VIF_create", _refuse("VIF.create"), raising=False)
    with pytest.raises(XosanError) as err:
        pool3.deployment(vlan_manifest(pool3)).run()
    assert "VIF.create refused" in str(err.value)
    deployment_network(pool3)
    assert [v for v in sim.db["VM"].values() if not v["is_a_template"]] == []
    pool3.deployment(vlan_manifest(pool3)).rollback()
    assert everything(pool3) == initial
    monkeypatch.undo()

    # the SR cannot be made: by then storage VMs run, the volume exists and every dom0 has its
    # address on the VLAN
    monkeypatch.setattr(sim, "_SR_create", _refuse("SR.create"), raising=False)
    with pytest.raises(XosanError) as err:
        pool3.deployment(vlan_manifest(pool3)).run()
    assert "SR.create refused" in str(err.value)
    _, vlan_pif = deployment_network(pool3)
    assert all(sim.db["PIF"][p]["ip_configuration_mode"] == "Static" for p in vlan_pif.values())
    assert len(pool3.lab.hosts) == 3 and len([n for n in pool3.lab.nodes if n.running()]) == 3
    monkeypatch.undo()
    pool3.deployment(vlan_manifest(pool3)).rollback()
    assert everything(pool3) == initial
    assert pool3.lab.nodes == []


def network_state(pool):
    """The part of everything() that the storage network step owns."""
    snap = everything(pool)
    return dict((k, snap[k]) for k in ("network", "PIF", "VLAN", "PIF records", "network records",
                                       "dom0s on the storage network"))


def admin_vlan(pool, tag):
    """What an admin made before: a network of their own with VLAN ``tag`` on every host's eth1."""
    x = pool.deployment(vlan_manifest(pool)).x
    theirs = x.call(x.api.network.create, {"name_label": "admin VLAN %d" % tag, "name_description": "",
                                           "MTU": "1500", "other_config": {}, "tags": []})
    x.call(x.api.pool.create_VLAN_from_PIF, eth1_of(pool)["lab-host-1"], theirs, str(tag))


def test_a_vlan_tag_in_use_is_refused_and_rollback_leaves_the_admins_vlan(pool3):
    admin_vlan(pool3, VLAN)
    before = everything(pool3)
    with pytest.raises(XosanError) as err:
        pool3.deployment(vlan_manifest(pool3)).run()
    assert "PIF_VLAN_EXISTS" in str(err.value)
    assert [v for v in pool3.sim.db["VM"].values() if not v["is_a_template"]] == []
    pool3.deployment(vlan_manifest(pool3)).rollback()
    assert everything(pool3) == before
    assert len(pool3.sim.db["VLAN"]) == 3  # the admin's, one per host


def test_a_refused_vlan_leaves_no_network_and_a_rerun_with_a_free_tag_makes_it(pool3, monkeypatch):
    sim = pool3.sim
    admin_vlan(pool3, VLAN)
    before = network_state(pool3)
    with pytest.raises(XosanError):
        pool3.deployment(vlan_manifest(pool3)).run()
    assert network_state(pool3) == before  # the network step undid its own half-made network

    # with a free tag the same command makes that VLAN (stopped at the storage VMs to stay quick)
    monkeypatch.setattr(sim, "_VIF_create", _refuse("VIF.create"), raising=False)
    with pytest.raises(XosanError):
        pool3.deployment(vlan_manifest(pool3, vlan=VLAN + 1)).run()
    deployment_network(pool3, vlan=VLAN + 1)
