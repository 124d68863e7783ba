"""The XAPI host plugin ``xosan`` (plugins/xosan + xosan/plugin.py).

Unit tests answer with glusterd XML captured from glusterfs 10.3 (tests/data/gluster): only
the transport of the real GlusterCLI is canned. The plugin file is run the way xapi runs it,
through the lab's XAPI simulator and the real XenAPI client; the last test does it on a
deployed simulated pool with real storage nodes."""

import json
import os
import socket
import subprocess
import xmlrpc.client

import pytest
import XenAPI

from xosan import gluster, plugin
from xosan.errors import GlusterError, InvalidValue, XosanError
from xosan.pool.xapi import Xapi
from xosan_lab.pool_sim import LabXapi
from xosan_lab.xapi_sim import XapiSimServer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "tests", "data", "gluster")
PLUGIN = os.path.join(ROOT, "plugins", "xosan")
N1, N2, N3 = "10.250.78.11", "10.250.78.12", "10.250.78.13"
SR_UUID = "5b0e3d0c-7a49-4c1e-9d0b-2f3e4a5b6c7d"

# `gluster --remote-host=NODE volume heal xosan info --xml` from a machine without glusterd
# (the lab's root namespace, glusterfs 10.3): glfsheal asks the LOCAL glusterd for the volfile.
REMOTE_HEAL_INFO = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cliOutput>
  <healInfo>
    <bricks/>
  </healInfo>
  <opRet>-1</opRet>
  <opErrno>107</opErrno>
  <opErrstr>xosan: Not able to fetch volfile from glusterd</opErrstr>
</cliOutput>
"""

BUSY = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cliOutput>
  <opRet>-1</opRet>
  <opErrno>30800</opErrno>
  <opErrstr>Another transaction is in progress for xosan. Please try again after some time.</opErrstr>
</cliOutput>
"""


def data(name):
    with open(os.path.join(DATA, name)) as fh:
        return fh.read()


class FakeGlusterd(object):
    """The gluster CLI's transport: answers ``gluster --remote-host=H ... --xml`` with captured XML."""

    def __init__(self, **answers):
        self.answers = {"volume info": "volume-info.xml", "pool list": "pool-list.xml",
                        "volume status": "volume-status-detail.xml", "volume list": "volume-list.xml",
                        "volume heal": "heal-info.xml", "system:: getspec": "getspec-xosan.vol",
                        "volume status clients": "volume-status-clients.xml",
                        "glfsheal": "heal-info.xml", "glfsheal split-brain-info": "heal-info-split-brain.xml"}
        self.answers.update(dict((k.replace("_", " "), v) for k, v in answers.items()))
        self.broken = set()  # hosts whose glusterd does not answer
        self.asked = []

    def __call__(self, cmd, timeout=None, check=True):
        if cmd[0].endswith("/glfsheal"):  # run here, on the volfile fetched from glusterd
            with open(cmd[cmd.index("volfile-path") + 1]) as fh:
                assert fh.read() == data("getspec-xosan.vol")
            what = "glfsheal" + (" split-brain-info" if "split-brain-info" in cmd else "")
            self.asked.append(("here", what))
            return subprocess.CompletedProcess(cmd, 0, data(self.answers[what]), "")
        host = next(a.split("=", 1)[1] for a in cmd if a.startswith("--remote-host="))
        args = [a for a in cmd[1:] if not a.startswith("--")]
        what = " ".join(args[:2]) + (" clients" if args[-1:] == ["clients"] else "")
        self.asked.append((host, what))
        if host in self.broken:
            return subprocess.CompletedProcess(cmd, 1, "", "Connection failed. Please check if gluster "
                                                           "daemon is operational.\n")
        answer = self.answers[what]
        text = data(answer) if answer.endswith((".xml", ".vol")) else answer
        return subprocess.CompletedProcess(cmd, 0, text, "")

    def factory(self, host):
        return gluster.GlusterCLI(runner=self, remote_host=host, timeout=5, glfsheal="/usr/sbin/glfsheal")

    def queries(self):
        return [w for _, w in self.asked]


class Reach(object):
    """order_by_reachability with chosen dead hosts."""

    def __init__(self, *dead):
        self.dead = set(dead)

    def __call__(self, servers):
        return [s for s in servers if s not in self.dead], [s for s in servers if s in self.dead]


class _Records(object):
    def __init__(self, records):
        self.records = records

    def get_all_records(self):
        return dict(self.records)


class FakeAPI(object):
    """session.xenapi for status_report: the three get_all_records it reads."""

    def __init__(self, srs, pbds, hosts):
        self.SR, self.PBD, self.host = _Records(srs), _Records(pbds), _Records(hosts)


def pool_api(attached=(True, True, True), dconf=None, sm_servers=N3, extra_srs=()):
    hosts = dict(("OpaqueRef:h%d" % i, {"name_label": "lab-host-%d" % i, "uuid": "host-uuid-%d" % i})
                 for i in (1, 2, 3))
    dconf = dconf if dconf is not None else {"server": "%s,%s" % (N1, N2), "volume": "xosan"}
    pbds = dict(("OpaqueRef:p%d" % i, {"host": "OpaqueRef:h%d" % i, "SR": "OpaqueRef:sr",
                                       "device_config": dict(dconf), "currently_attached": a})
                for i, a in zip((1, 2, 3), attached))
    srs = {"OpaqueRef:sr": {"uuid": SR_UUID, "name_label": "XOSAN", "type": "xosan",
                            "PBDs": sorted(pbds), "sm_config": {"xosan-servers": sm_servers}},
           "OpaqueRef:local": {"uuid": "local-sr", "name_label": "Local storage", "type": "lvm", "PBDs": [],
                               "sm_config": {}}}
    for i, (name, uuid) in enumerate(extra_srs):
        ref = "OpaqueRef:p-extra%d" % i
        pbds[ref] = {"host": "OpaqueRef:h1", "SR": "OpaqueRef:x%d" % i, "device_config": dict(dconf),
                     "currently_attached": True}
        srs["OpaqueRef:x%d" % i] = {"uuid": uuid, "name_label": name, "type": "xosan", "PBDs": [ref],
                                    "sm_config": {}}
    return FakeAPI(srs, pbds, hosts)


def report(api=None, glusterd=None, reach=None):
    glusterd = glusterd or FakeGlusterd()
    return plugin.status_report(api or pool_api(), here="host-uuid-1", cli_factory=glusterd.factory,
                                reach=reach or Reach())


# -- status -------------------------------------------------------------------------------------

def test_status_of_a_healthy_volume():
    glusterd = FakeGlusterd()
    r = report(glusterd=glusterd)
    assert r["host"] == {"name": "lab-host-1", "uuid": "host-uuid-1"}
    assert r["heal"] == plugin.HEAL_SOURCE
    [sr] = r["srs"]  # the lvm SR is not ours
    assert (sr["uuid"], sr["name"], sr["volume"]) == (SR_UUID, "XOSAN", "xosan")
    # device-config servers, then the cluster's list remembered in sm-config
    assert sr["servers"] == [N1, N2, N3] and sr["asked"] == N1 and sr["unreachable"] == []
    assert sr["verdict"] == "healthy" and sr["may_fail"] == 1 and "can lose 1" in sr["reason"]
    assert sr["brick_state"] == "volume status"
    assert [b["online"] for b in sr["bricks"]] == [True, True, True]
    assert [b["arbiter"] for b in sr["bricks"]] == [False, False, True]
    assert all(b["size_total"] > 0 and b["heal_pending"] == 0 and b["split_brain"] == 0
               for b in sr["bricks"])
    assert sr["heal_pending"] == 0 and sr["split_brain"] == 0 and sr["heal"] == plugin.HEAL_SOURCE
    assert 0 < sr["capacity"]["free"] <= sr["capacity"]["total"]
    assert len(sr["peers"]) == 3 and all(p["connected"] for p in sr["peers"])
    assert sr["hosts"] == [{"name": "lab-host-%d" % i, "uuid": "host-uuid-%d" % i, "attached": True}
                           for i in (1, 2, 3)]
    # read-only queries only, one glusterd; heal info is glfsheal here on the volfile fetched once
    assert set(glusterd.asked) == {(N1, "volume info"), (N1, "pool list"), (N1, "volume status"),
                                   (N1, "volume status clients"), (N1, "system:: getspec"),
                                   ("here", "glfsheal"), ("here", "glfsheal split-brain-info")}
    assert glusterd.asked.count((N1, "system:: getspec")) == 1
    json.loads(json.dumps(r))


def test_brick_down_as_glusterd_reports_it():
    glusterd = FakeGlusterd(pool_list="pool-list-node-down.xml", volume_status="volume-status-node-down.xml")
    [sr] = report(glusterd=glusterd, reach=Reach(N3))["srs"]
    assert sr["verdict"] == "degraded" and sr["may_fail"] == 0
    assert N3 in sr["reason"] and "can lose no more" in sr["reason"]
    assert sr["brick_state"] == "volume status" and sr["unreachable"] == [N3]
    assert [b["online"] for b in sr["bricks"]] == [True, True, False]


def test_cut_node_still_connected_for_glusterd_is_not_asked_about():
    # glusterd has not noticed the cut yet: volume status would block and hold the volume lock
    glusterd = FakeGlusterd()
    [sr] = report(glusterd=glusterd, reach=Reach(N3))["srs"]
    assert "volume status" not in glusterd.queries()
    assert sr["verdict"] == "degraded" and N3 in sr["reason"] and "seen from this host" in sr["reason"]
    assert sr["brick_state"].startswith("inferred from this host") and "still counts %s" % N3 in sr["brick_state"]
    assert [b["online"] for b in sr["bricks"]] == [True, True, False]
    assert sr["capacity"] == {"total": None, "free": None}


def test_two_nodes_unreachable_is_at_risk():
    [sr] = report(reach=Reach(N2, N3))["srs"]
    assert sr["verdict"] == "at-risk" and "quorum lost" in sr["reason"]
    assert sr["asked"] == N1 and sr["unreachable"] == [N2, N3]


def test_first_answering_glusterd_failing_asks_the_next():
    glusterd = FakeGlusterd()
    glusterd.broken.add(N1)
    [sr] = report(glusterd=glusterd)["srs"]
    assert sr["asked"] == N2 and sr["verdict"] == "healthy"


def test_busy_glusterd_with_every_node_answering_is_unknown(monkeypatch):
    monkeypatch.setattr(plugin, "STATUS_RETRY", 0)
    [sr] = report(glusterd=FakeGlusterd(volume_status=BUSY))["srs"]
    assert sr["verdict"] == "unknown" and "Another transaction" in sr["reason"]
    assert len(sr["peers"]) == 3 and sr["status"] == "Started"


def test_no_node_answers_and_missing_volume_are_unknown():
    [sr] = report(reach=Reach(N1, N2, N3))["srs"]
    assert sr["verdict"] == "unknown" and "no storage node answers" in sr["reason"]
    assert N1 in sr["reason"] and sr["unreachable"] == [N1, N2, N3]
    [sr] = report(glusterd=FakeGlusterd(volume_info="volume-info-missing.xml"))["srs"]
    assert sr["verdict"] == "unknown" and "does not exist" in sr["reason"]


def test_bad_device_config_is_unknown_with_the_key():
    [sr] = report(api=pool_api(dconf={"volume": "xosan"}))["srs"]
    assert sr["verdict"] == "unknown" and "device-config:server" in sr["reason"]


def test_heal_info_over_remote_host_is_an_error():
    with pytest.raises(GlusterError) as err:
        gluster.parse_heal_info(REMOTE_HEAL_INFO)
    assert "Not able to fetch volfile" in str(err.value)


# -- check ------------------------------------------------------------------------------------

def test_check_healthy_and_degraded():
    c = plugin.check_report(report())
    assert c["ok"] is True and c["verdict"] == "healthy" and c["reason"].startswith("XOSAN: all 3 bricks")
    assert [(s["uuid"], s["ok"]) for s in c["srs"]] == [(SR_UUID, True)]
    c = plugin.check_report(report(reach=Reach(N3)))
    assert c["ok"] is False and c["verdict"] == "degraded" and N3 in c["reason"]


def test_check_not_attached_everywhere_is_not_ok():
    c = plugin.check_report(report(api=pool_api(attached=(True, False, True))))
    assert c["ok"] is False and c["verdict"] == "healthy" and "not attached on lab-host-2" in c["reason"]


def test_check_overall_is_the_worst():
    api = pool_api(extra_srs=[("Other", "6c1f4e1d-8b5a-4d2f-8e1c-3f4a5b6c7d8e")])
    glusterd = FakeGlusterd(pool_list="pool-list-node-down.xml", volume_status="volume-status-node-down.xml")
    c = plugin.check_report(report(api=api, glusterd=glusterd))
    assert c["verdict"] == "degraded" and not c["ok"] and len(c["srs"]) == 2
    assert "Other: 1 brick(s) down" in c["reason"] and "XOSAN: 1 brick(s) down" in c["reason"]
    assert plugin.check_report({"srs": []}) == {"ok": False, "verdict": "unknown",
                                               "reason": "no SR of type xosan in this pool", "srs": []}
    assert plugin.RANK["at-risk"] > plugin.RANK["unknown"] > plugin.RANK["degraded"] > plugin.RANK["healthy"]


# -- probe ------------------------------------------------------------------------------------

@pytest.fixture
def glusterd_port():
    """A port glusterd would listen on: 127.0.0.1 listens on it, 127.0.0.2 does not (refused)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    yield srv.getsockname()[1]
    srv.close()


def test_probe_asks_an_answering_server_first_and_checks_its_arguments(glusterd_port):
    # the real reachability probe, on real sockets: the first server given refuses connections
    glusterd = FakeGlusterd()
    r = plugin.probe_report({"server": "127.0.0.2, 127.0.0.1"}, cli_factory=glusterd.factory, port=glusterd_port)
    assert r == {"servers": ["127.0.0.2", "127.0.0.1"], "volumes": ["xosan"]}
    assert glusterd.asked == [("127.0.0.1", "volume list")]
    # nobody answers: each is still asked in the given order, and the last error is the answer
    glusterd = FakeGlusterd()
    glusterd.broken.update(["127.0.0.2", "127.0.0.3"])
    with pytest.raises(GlusterError):
        plugin.probe_report({"server": "127.0.0.2,127.0.0.3"}, cli_factory=glusterd.factory, port=glusterd_port)
    assert glusterd.asked == [("127.0.0.2", "volume list"), ("127.0.0.3", "volume list")]
    with pytest.raises(XosanError) as err:
        plugin.probe_report({})
    assert "server" in str(err.value) and "fn=probe" in str(err.value)
    with pytest.raises(InvalidValue):
        plugin.probe_report({"server": "10.0.50.11:/xosan"})


def test_probe_of_a_volume_names_the_srs_it_holds(monkeypatch):
    monkeypatch.setattr(plugin.VolumeSR, "probe", lambda self: [SR_UUID, "11111111-2222-3333-4444-555555555555"])
    r = plugin.probe_report({"server": N1, "volume": "xosan"}, api=pool_api())
    assert r["volume"] == "xosan" and r["sr_uuids"] == [SR_UUID, "11111111-2222-3333-4444-555555555555"]
    assert r["srs"] == [{"uuid": SR_UUID, "name": "XOSAN"},
                        {"uuid": "11111111-2222-3333-4444-555555555555", "name": None}]


# -- the plugin file, run as xapi runs it ---------------------------------------------------------

def test_plugin_file_compiles_on_this_python():
    with open(PLUGIN) as fh:
        text = fh.read()
    assert text.startswith("#!/usr/bin/python3\n")
    compile(text, PLUGIN, "exec")
    assert os.access(PLUGIN, os.X_OK)


def run_plugin(dom0, xapi, fn, args, session=None):
    """As xapi runs /etc/xapi.d/plugins/xosan: in a dom0, xapi on its unix socket."""
    request = xmlrpc.client.dumps((session or xapi.session_ref, args), fn)
    res = subprocess.run(dom0.argv(["/etc/xapi.d/plugins/xosan", request]), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, universal_newlines=True, env=dom0.env(), timeout=60)
    assert res.returncode == 0, res.stderr
    (answer,), method = xmlrpc.client.loads(res.stdout)
    assert method is None  # a methodResponse
    return answer


def test_plugin_dispatch_answers_in_xapis_shape(xapi, dom0):
    answer = run_plugin(dom0, xapi, "check", {})
    assert answer["Status"] == "Success"
    assert json.loads(answer["Value"])["reason"] == "no SR of type xosan in this pool"
    # with the session xapi handed over
    assert [list(p) for m, p in xapi.calls if m == "SR.get_all_records"] == [[xapi.session_ref]]
    assert run_plugin(dom0, xapi, "nope", {}) == {"Status": "Failure",
                                            "ErrorDescription": ["UNKNOWN_XENAPI_PLUGIN_FUNCTION", "nope"]}
    answer = run_plugin(dom0, xapi, "probe", {})
    assert answer["Status"] == "Failure"
    code, fn, kind, message = answer["ErrorDescription"]
    assert (code, fn, kind) == ("XENAPI_PLUGIN_FAILURE", "probe", "XosanError") and "server" in message


class _NoLab(object):
    """Enough of a Lab for LabXapi without storage nodes: a folder, no hosts."""

    def __init__(self, workdir):
        self.state = {"workdir": workdir, "lab_id": "xpgu", "bridge": "none", "use_loop": False}
        self.hosts, self.nodes = [], []

    def save(self):
        pass


@pytest.fixture
def sim_pool(tmp_path):
    sim = LabXapi(_NoLab(str(tmp_path)), hosts=2)
    server = XapiSimServer(sim).start()
    sim.url = server.url
    yield sim, Xapi.connect(server.url, "root", "xosan")
    server.stop()
    sim.close()


def test_host_call_plugin_through_the_xenapi_client(sim_pool):
    sim, x = sim_pool
    host = sim.hosts[1]
    out = json.loads(x.api.host.call_plugin(host, "xosan", "status", {}))
    assert out == {"host": {"name": "lab-host-2", "uuid": sim.db["host"][host]["uuid"]},
                   "heal": plugin.HEAL_SOURCE, "srs": []}
    # an SR whose storage nodes never answer (a loopback address nothing listens on: the tests talk
    # to nothing off this machine): unknown, attached nowhere
    sr = sim.add("SR", {"name_label": "XOSAN", "type": "xosan", "PBDs": [], "sm_config": {}})
    for h in sim.hosts:
        pbd = sim.add("PBD", {"host": h, "SR": sr, "currently_attached": False,
                              "device_config": {"server": "127.0.0.250", "volume": "xosan"}})
        sim.db["SR"][sr]["PBDs"].append(pbd)
    c = json.loads(x.api.host.call_plugin(host, "xosan", "check", {}))
    assert c["ok"] is False and c["verdict"] == "unknown"
    assert "no storage node answers" in c["reason"] and "not attached on lab-host-1, lab-host-2" in c["reason"]
    with pytest.raises(XenAPI.Failure) as err:
        x.api.host.call_plugin(host, "xosan", "probe", {"volume": "xosan"})
    assert err.value.details[:3] == ["XENAPI_PLUGIN_FAILURE", "probe", "XosanError"]
    with pytest.raises(XenAPI.Failure) as err:
        x.api.host.call_plugin(host, "xosan", "nope", {})
    assert err.value.details == ["UNKNOWN_XENAPI_PLUGIN_FUNCTION", "nope"]
    with pytest.raises(XenAPI.Failure) as err:
        x.api.host.call_plugin(host, "../xosan", "status", {})
    assert err.value.details == ["XENAPI_MISSING_PLUGIN", "../xosan"]


# -- on a deployed pool with real storage nodes -------------------------------------------------

def call(x, host, fn, **args):
    return json.loads(x.api.host.call_plugin(host, "xosan", fn, args))


@pytest.fixture
def pool(tmp_path):
    from labpool import Pool
    p = Pool(tmp_path, 3, 190)
    yield p
    p.close()


@pytest.mark.gluster
def test_plugin_on_a_deployed_pool(pool):
    sr, _ = pool.deployment().run()
    x = Xapi.connect(pool.server.url, "root", "xosan")
    sr_uuid = x.api.SR.get_uuid(sr)
    hosts = sorted(x.api.host.get_all(), key=x.api.host.get_name_label)
    for host in hosts:  # every host answers for the whole pool, each from its own network
        out = call(x, host, "status")
        assert out["host"]["uuid"] == x.api.host.get_uuid(host)
        [s] = out["srs"]
        assert s["uuid"] == sr_uuid and s["volume"] == "xosan"
        assert s["verdict"] == "healthy", s["reason"]
        assert s["brick_state"] == "volume status" and s["heal"] == plugin.HEAL_SOURCE
        assert s["heal_pending"] == 0 and s["split_brain"] == 0
        assert [h["attached"] for h in s["hosts"]] == [True, True, True]
        assert sorted(h["name"] for h in s["hosts"]) == ["lab-host-1", "lab-host-2", "lab-host-3"]
        assert len(s["bricks"]) == 3 and all(b["online"] for b in s["bricks"])
        assert s["capacity"]["total"] > 0
    c = call(x, hosts[0], "check")
    assert c["ok"] is True and c["verdict"] == "healthy"

    node = pool.node_of("lab-host-2")
    assert call(x, hosts[0], "probe", server=node.ip) == {"servers": [node.ip], "volumes": ["xosan"]}
    p = call(x, hosts[0], "probe", server=node.ip, volume="xosan")
    assert p["sr_uuids"] == [sr_uuid] and p["srs"] == [{"uuid": sr_uuid, "name": x.api.SR.get_name_label(sr)}]

    node.cut()  # lab-host-2's storage VM leaves the storage network
    c = call(x, hosts[0], "check")
    assert c["ok"] is False and c["verdict"] == "degraded" and node.ip in c["reason"], c
    [s] = call(x, hosts[2], "status")["srs"]
    assert s["unreachable"] == [node.ip] and s["may_fail"] == 0
    assert [b["online"] for b in s["bricks"]] == [b["host"] != node.ip for b in s["bricks"]]
    with pytest.raises(XenAPI.Failure) as err:
        x.api.host.call_plugin(hosts[0], "xosan", "probe", {"server": "not an address!"})
    assert err.value.details[:3] == ["XENAPI_PLUGIN_FAILURE", "probe", "InvalidValue"]
