"""xosan/pool/xo.py: the xo:xosan_config value Xen Orchestra 5 reads on a type-xosan SR.

Against the XAPI simulator through the real XenAPI client: format, round trip, only this
deployment's objects, idempotence, refreshing after a replace, refusing a value we did not write.
"""

import json
import re

import pytest

from xosan import facts
from xosan.pool import storage_vm, xo
from xosan.pool.xapi import Xapi
from xosan_lab.xapi_sim import XapiSim, XapiSimServer

DEP = "xosan"


@pytest.fixture
def x():
    server = XapiSimServer(XapiSim()).start()
    conn = Xapi.connect(server.url, "root", "xosan")
    conn.sim = server.sim
    yield conn
    conn.logout()
    server.stop()


def _host(sim, name):
    ref = sim.add("host", {"name_label": name, "other_config": {}})
    return sim.record("host", ref)["uuid"]


def _storage_vm(sim, host_uuid, ip, dep=DEP, **extra):
    rec = {"name_label": "XOSAN storage VM %s" % ip, "power_state": "Running", "is_a_template": False,
           "is_a_snapshot": False, "is_control_domain": False, "VBDs": [],
           "other_config": {facts.TAG_DEPLOYMENT: dep, facts.TAG_HOST: host_uuid},
           "xenstore_data": storage_vm.xenstore_data({"ip": ip, "prefix": 24, "host-key": "SECRET-HOST-KEY",
                                                      "authorized-key": "ssh-ed25519 AAAA test"})}
    rec.update(extra)
    ref = sim.add("VM", rec)
    return ref, sim.record("VM", ref)["uuid"]


def _network(sim, dep=None):
    ref = sim.add("network", {"name_label": "net-%s" % dep, "PIFs": [],
                              "other_config": {facts.TAG_DEPLOYMENT: dep} if dep else {}})
    return ref, sim.record("network", ref)["uuid"]


def _sr(sim, dep=DEP, other_config=None, sr_type="xosan"):
    oc = {facts.TAG_DEPLOYMENT: dep}
    oc.update(other_config or {})
    ref = sim.add("SR", {"name_label": "XOSAN %s" % dep, "type": sr_type, "other_config": oc, "PBDs": [],
                         "VDIs": []})
    return ref


def _pool(sim, own_network=True):
    """Three storage VMs of DEP, plus objects that are not DEP's: another deployment's VM, SR and
    network, a plain VM, a template copied from a storage VM, an untagged network."""
    hosts = [_host(sim, "h%d" % i) for i in range(3)]
    vms = [_storage_vm(sim, h, "10.0.50.%d" % (11 + i)) for i, h in enumerate(hosts)]
    _storage_vm(sim, hosts[0], "10.0.60.11", dep="other")
    sim.add("VM", {"name_label": "app", "other_config": {}, "is_a_template": False})
    _storage_vm(sim, hosts[0], "10.0.50.11", is_a_template=True)
    net = _network(sim, DEP if own_network else None)
    _network(sim, "other")
    _network(sim)
    _sr(sim, "other")
    return hosts, vms, net


def _stored(sim, sr_ref):
    return sim.record("SR", sr_ref)["other_config"].get(xo.XO_CONFIG_KEY)


def test_key_is_what_xo_get_data_reads():
    # XO's getData(obj, 'xosan_config') reads other_config['xo:' + camelToSnakeCase(name)];
    # its camelToSnakeCase inserts '_' before an upper-case letter that follows [a-z0-9].
    snake = re.sub(r"([a-z0-9])([A-Z])", lambda m: m.group(1) + "_" + m.group(2).lower(), "xosan_config")
    assert xo.XO_CONFIG_KEY == "xo:" + snake == "xo:xosan_config"


def test_sync_writes_only_this_deployments_vms_and_network(x):
    hosts, vms, (net_ref, net_uuid) = _pool(x.sim)
    sr = _sr(x.sim)
    written = xo.sync(x, DEP)
    text = _stored(x.sim, sr)
    value = json.loads(text)  # what XO's JSON.parse gets
    assert value == written
    assert sorted(xo.vm_uuids(value)) == sorted(u for _, u in vms)
    assert value["network"] == net_uuid
    assert [n["vm"]["ip"] for n in value["nodes"]] == ["10.0.50.11", "10.0.50.12", "10.0.50.13"]
    assert [n["host"] for n in value["nodes"]] == hosts
    assert value[xo.MARK] == DEP
    # no 'version': XO 5's XOSAN tab stops before its own XOSAN controls; nothing secret copied
    assert "version" not in value
    assert "SECRET" not in text and "ssh-ed25519" not in text
    # the other deployment's SR is untouched
    other = [r for r, rec in x.sim.db["SR"].items() if rec["other_config"].get(facts.TAG_DEPLOYMENT) == "other"]
    assert xo.XO_CONFIG_KEY not in x.sim.record("SR", other[0])["other_config"]


def test_existing_network_is_never_listed(x):
    _pool(x.sim, own_network=False)
    sr = _sr(x.sim)
    value = json.loads(_stored(x.sim, sr) if xo.sync(x, DEP) else "")
    assert "network" not in value
    assert len(value["nodes"]) == 3


def test_round_trip_and_shape():
    vms = {"OpaqueRef:a": {"uuid": "u-a", "other_config": {facts.TAG_DEPLOYMENT: DEP, facts.TAG_HOST: "h-a"},
                           "xenstore_data": {"vm-data/xosan/ip": "10.0.0.12"}},
           "OpaqueRef:b": {"uuid": "u-b", "other_config": {facts.TAG_DEPLOYMENT: DEP},
                           "xenstore_data": {}}}
    nets = {"OpaqueRef:n": {"uuid": "n-1", "other_config": {facts.TAG_DEPLOYMENT: DEP}}}
    config = xo.build(DEP, vms, nets)
    text = xo.encode(config)
    assert xo.decode(text) == config
    assert xo.encode(xo.decode(text)) == text
    assert config["nodes"] == [{"vm": {"id": "u-b"}}, {"vm": {"id": "u-a", "ip": "10.0.0.12"}, "host": "h-a"}]
    assert xo.decode(None) is None and xo.decode("") is None
    for bad in ("not json", "[]", '{"nodes": {}}', '{"nodes": [{"vm": {}}]}'):
        with pytest.raises(xo.XoMetadataError):
            xo.decode(bad)
    with pytest.raises(xo.XoMetadataError):
        xo.build(DEP, {}, dict(nets, **{"OpaqueRef:m": {"uuid": "n-2", "other_config": {facts.TAG_DEPLOYMENT: DEP}}}))
    with pytest.raises(xo.XoMetadataError):
        xo.build("bad id!", {}, {})


def test_sync_is_idempotent_and_follows_replace(x):
    hosts, vms, _ = _pool(x.sim)
    sr = _sr(x.sim)
    xo.sync(x, DEP)
    first = _stored(x.sim, sr)
    n_calls = len(x.sim.calls)
    xo.sync(x, DEP)
    assert _stored(x.sim, sr) == first
    assert not [m for m, _ in x.sim.calls[n_calls:] if "other_config" in m]  # nothing written again
    assert xo.check(x, DEP) == [("XOSAN xosan", "in step")]
    # replace-host: the dead host's VM goes, a new one comes on another host
    del x.sim.db["VM"][vms[0][0]]
    new_host = _host(x.sim, "h9")
    _, new_uuid = _storage_vm(x.sim, new_host, "10.0.50.14")
    assert xo.check(x, DEP) == [("XOSAN xosan", "stale")]
    value = xo.sync(x, DEP)
    assert sorted(xo.vm_uuids(value)) == sorted([vms[1][1], vms[2][1], new_uuid])
    assert json.loads(_stored(x.sim, sr)) == value
    assert xo.check(x, DEP) == [("XOSAN xosan", "in step")]


def test_no_sr_yet_writes_nothing(x):
    _pool(x.sim)
    _sr(x.sim, sr_type="nfs")  # tagged but not a xosan SR: never ours to annotate
    assert xo.sync(x, DEP) is None
    assert all(xo.XO_CONFIG_KEY not in rec["other_config"] for rec in x.sim.db["SR"].values())


def test_foreign_value_is_refused_not_overwritten(x):
    _pool(x.sim)
    foreign = json.dumps({"version": "beta2", "nodes": [{"vm": {"id": "someone-elses"}}], "network": "n"})
    sr = _sr(x.sim, other_config={xo.XO_CONFIG_KEY: foreign})
    with pytest.raises(xo.XoMetadataError) as err:
        xo.sync(x, DEP)
    assert "someone else" in str(err.value)
    assert _stored(x.sim, sr) == foreign
    assert xo.check(x, DEP) == [("XOSAN xosan", "foreign")]
    with pytest.raises(xo.XoMetadataError):
        xo.clear(x, DEP)
    assert _stored(x.sim, sr) == foreign


def test_clear_removes_only_ours(x):
    _pool(x.sim)
    sr = _sr(x.sim)
    xo.sync(x, DEP)
    assert xo.clear(x, DEP) == 1
    assert _stored(x.sim, sr) is None
    assert xo.check(x, DEP) == [("XOSAN xosan", "missing")]
    assert xo.clear(x, DEP) == 0
