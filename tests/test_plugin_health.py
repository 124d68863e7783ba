"""The host plugin's ``health`` (XOSTOR's shape, stable codes) and the pre-reboot check shared by
``fn=can_reboot`` and ``xosan check-reboot`` (xosan/gluster/downtime.py).

glusterd's answers are XML captured from glusterfs 10.3 (tests/data/gluster), parsed for real;
only the transport is canned (test_plugin's FakeGlusterd, test_health's FakeCLI). The plugin file
itself runs through the lab's XAPI simulator and the real XenAPI client at the end."""

import json
import os

import pytest
from test_health import FakeCLI
import XenAPI
from test_plugin import N1, N2, N3, SR_UUID, FakeGlusterd, Reach, pool_api, sim_pool  # noqa: F401 (fixture)

from xosan import plugin
from xosan.errors import InvalidValue
from xosan.gluster import downtime
from xosan.gluster import health as gh
from xosan.pool import rolling


# -- the code table is an API: it never changes meaning ----------------------------------------

def test_error_codes_are_pinned_and_pack_like_xostor():
    assert plugin.ERROR_CODES == {
        "GENERIC_UNEXPECTED": 0x2010000, "GLUSTERD_UNREACHABLE": 0x2010001, "NODE_NOT_ONLINE": 0x1020000,
        "STORAGE_POOL_UNKNOWN_FREE_SIZE": 0x2030000, "STORAGE_POOL_LOW_FREE_SIZE": 0x1030002,
        "VOLUME_NOT_STARTED": 0x2040001, "BRICK_OFFLINE": 0x1060000, "BRICK_STATE_INFERRED": 0x1060001,
        "HEAL_PENDING": 0x1070000, "SPLIT_BRAIN": 0x2070001, "HEAL_UNKNOWN": 0x1070002,
        "QUORUM_LOST": 0x2080000, "NO_NODE_MAY_FAIL": 0x1080002, "QUORUM_WOULD_BREAK": 0x2080003,
        "SR_NOT_ATTACHED": 0x1090000}
    assert len(set(plugin.ERROR_CODES.values())) == len(plugin.ERROR_CODES)
    # the XOSTOR numbers keep XOSTOR's meaning (xcp-ng/sm drivers/linstor-manager HealthCheckError)
    assert plugin.ERROR_CODES["NODE_NOT_ONLINE"] == 0x1000000 | 0x20000 | 0
    assert plugin.ERROR_CODES["STORAGE_POOL_LOW_FREE_SIZE"] == 0x1000000 | 0x30000 | 2
    # every refusal key of the shared rule has a code
    keys = [v for k, v in vars(downtime).items() if k.isupper()]
    assert keys and all(k in plugin.ERROR_CODES for k in keys)


# -- fn=health --------------------------------------------------------------------------------

def health(args=None, api=None, glusterd=None, reach=None):
    glusterd = glusterd or FakeGlusterd()
    return plugin.health_report(args or {}, api or pool_api(), here="host-uuid-1", cli_factory=glusterd.factory,
                                reach=reach or Reach())


def codes(entry):
    return [e["error"] for e in entry["errors"]]


def test_health_of_a_healthy_volume_in_xostor_shape():
    r = health({"sr": SR_UUID})
    assert r["uuid"] == SR_UUID and r["verdict"] == "healthy"
    assert r["nodes"] == {N1: "ONLINE", N2: "ONLINE", N3: "ONLINE"}
    assert sorted(r["storage-pools"]) == [N1, N2, N3]
    [arb] = r["storage-pools"][N3]
    assert arb["arbiter"] and arb["capacity"] > 0 and 0 <= arb["free-size"] <= arb["capacity"]
    # brick states and heal counts are known from dom0 (glfsheal here on the fetched volfile)
    assert codes(r) == [] and r["heal"] == plugin.HEAL_SOURCE
    assert all(b["heal-pending"] == 0 and b["split-brain"] == 0 for p in r["storage-pools"].values() for b in p)
    json.loads(json.dumps(r))


class NoGlfsheal(FakeGlusterd):
    """A dom0 where glfsheal is not installed (the real lookup, over paths that do not exist)."""

    def factory(self, host):
        from xosan import gluster
        return gluster.GlusterCLI(runner=self, remote_host=host, timeout=5)


def test_without_glfsheal_heal_is_unknown_with_the_reason(monkeypatch):
    from xosan.gluster import cli as gcli
    monkeypatch.setattr(gcli, "GLFSHEAL_PATHS", ("/nonexistent/sbin/glfsheal",))
    glusterd = NoGlfsheal()
    r = health({"sr": SR_UUID}, glusterd=glusterd)
    assert r["verdict"] == "healthy" and codes(r) == ["HEAL_UNKNOWN"]
    [e] = r["errors"]
    assert e["code"] == 0x1070002 and e["level"] == "warning"
    assert "glfsheal is not installed" in e["message"] and "/nonexistent/sbin/glfsheal" in e["message"]
    assert r["heal"].startswith("unknown: glfsheal is not installed")
    assert ("here", "glfsheal") not in glusterd.asked


def test_glfsheal_that_reaches_no_brick_is_unknown_with_its_words():
    # captured: glfsheal with a volfile whose bricks do not answer says it could not fetch the volfile
    r = health({"sr": SR_UUID}, glusterd=FakeGlusterd(glfsheal="glfsheal-info-no-brick.xml"))
    assert codes(r) == ["HEAL_UNKNOWN"]
    assert "Not able to fetch volfile" in r["errors"][0]["message"]
    assert "no brick of the volume answered" in r["errors"][0]["message"]


def test_health_with_a_node_down_lists_node_brick_and_margin():
    glusterd = FakeGlusterd(pool_list="pool-list-node-down.xml", volume_status="volume-status-node-down.xml",
                            glfsheal="heal-info-node-down.xml", glfsheal_split_brain_info="heal-info-node-down.xml")
    r = health({"sr": SR_UUID}, glusterd=glusterd, reach=Reach(N3))
    assert r["verdict"] == "degraded"
    assert r["nodes"][N3] == "DISCONNECTED" and r["nodes"][N1] == "ONLINE"
    # the down brick's count is unknown, the others' are known (0): no HEAL_UNKNOWN
    assert codes(r) == ["NODE_NOT_ONLINE", "BRICK_OFFLINE", "NO_NODE_MAY_FAIL"]
    node = r["errors"][0]
    assert (node["name"], node["status"], node["code"]) == (N3, "DISCONNECTED", 0x1020000)
    assert r["errors"][1]["node"] == N3 and r["errors"][1]["brick"].startswith(N3 + ":")


def test_health_with_quorum_lost_and_unattached_host():
    r = health({"sr": SR_UUID}, api=pool_api(attached=(True, False, True)), reach=Reach(N2, N3))
    assert r["verdict"] == "at-risk"
    assert codes(r)[0] == "QUORUM_LOST" and r["errors"][0]["level"] == "error"
    assert r["nodes"][N2] == "UNREACHABLE" and r["nodes"][N3] == "UNREACHABLE"
    assert "BRICK_STATE_INFERRED" in codes(r) and "NO_NODE_MAY_FAIL" not in codes(r)
    assert [e["host"] for e in r["errors"] if e["error"] == "SR_NOT_ATTACHED"] == ["lab-host-2"]


def test_health_when_no_node_answers_is_one_unreachable_error():
    r = health({"sr": SR_UUID}, reach=Reach(N1, N2, N3))
    assert r["verdict"] == "unknown" and codes(r) == ["GLUSTERD_UNREACHABLE"]
    assert r["errors"][0]["code"] == 0x2010001


def test_health_of_every_sr_and_bad_arguments():
    r = health(api=pool_api(extra_srs=[("Other", "other-uuid")]),
               glusterd=FakeGlusterd(glfsheal="glfsheal-info-no-brick.xml"))
    assert [s["uuid"] for s in r["srs"]] == ["other-uuid", SR_UUID]  # by name: Other, XOSAN
    assert set(e["sr"] for e in r["errors"]) == {SR_UUID, "other-uuid"}
    with pytest.raises(InvalidValue, match="no SR of type xosan has uuid nope"):
        health({"sr": "nope"})
    with pytest.raises(InvalidValue, match="does not take the argument"):
        health({"sr_uuid": SR_UUID})


def test_low_free_space_is_reported_per_brick():
    entry = {"uuid": "u", "name": "n", "verdict": "healthy", "reason": "", "status": "Started", "volume": "v",
             "peers": [], "unreachable": [], "hosts": [], "heal_pending": 0, "split_brain": 0, "may_fail": 1,
             "brick_state": "volume status",
             "bricks": [{"name": "a:/b", "host": "a", "online": True, "arbiter": False, "size_total": 1000,
                         "size_free": 99, "heal_pending": 0, "split_brain": 0},
                        {"name": "c:/b", "host": "c", "online": True, "arbiter": False, "size_total": 1000,
                         "size_free": 100, "heal_pending": 0, "split_brain": 0}]}
    errors = plugin.health_errors(entry)
    assert [(e["error"], e["name"]) for e in errors] == [("STORAGE_POOL_LOW_FREE_SIZE", "a:/b")]


# -- the pre-reboot rule (xosan/gluster/downtime.py) -----------------------------------------------

def verdict(**files):
    return gh.collect(FakeCLI(**files), "xosan")


def keys(refusals):
    return [r.key for r in refusals]


def test_a_healthy_volume_lets_one_node_go_down():
    h = verdict()
    assert h.verdict == gh.HEALTHY
    assert downtime.refusals(h, [N1]) == [] and downtime.refusals(h, [N3]) == []
    # but never two at once (replica 3 arbiter 1 keeps quorum with one node gone only)
    [r] = downtime.refusals(h, [N1, N2])
    assert r.key == "QUORUM_WOULD_BREAK" and N1 in r.message and "quorum" in r.message


def test_a_node_down_refuses_any_other():
    h = verdict(status="volume-status-node-down.xml", pool="pool-list-node-down.xml",
                heal="heal-info-node-down.xml", split="heal-info-node-down.xml")
    got = downtime.refusals(h, [N1])
    assert "BRICK_OFFLINE" in keys(got) and "NODE_NOT_ONLINE" in keys(got) and "QUORUM_WOULD_BREAK" in keys(got)


def test_unknown_heal_is_a_refusal_never_a_zero():
    h = verdict(heal=None, split=None)
    [r] = downtime.refusals(h, [N1], heal_source="asked over --remote-host")
    assert r.key == "HEAL_UNKNOWN" and "--remote-host" in r.message and len(r.params["bricks"]) == 3


def test_pending_heal_and_split_brain_refuse_with_counts():
    h = verdict()
    pending = [gh.BrickHealth(b.brick, b.online, b.size_total, b.size_free, 7 if b.host == N2 else 0,
                                  2 if b.host == N1 else 0) for b in h.bricks]
    h2 = gh.assess(h.info, h.peers, pending)
    got = downtime.refusals(h2, [N3])
    assert keys(got) == ["SPLIT_BRAIN", "HEAL_PENDING"]
    assert got[1].params == {"entries": 7, "nodes": [N2]} and got[0].params == {"entries": 2}
    assert got[1].as_dict()["key"] == "HEAL_PENDING"


def test_a_stopped_volume_refuses():
    h = verdict()
    h.info.status = "Stopped"  # a fresh parse per verdict(): nothing shared is changed
    h = gh.assess(h.info, h.peers, h.bricks)
    got = downtime.refusals(h, [N1])
    assert keys(got)[0] == "VOLUME_NOT_STARTED" and got[0].params["status"] == "Stopped"


# -- fn=can_reboot (dom0) -----------------------------------------------------------------------

class VMs(object):
    def __init__(self, records):
        self.records = records

    def get_all_records(self):
        return dict(self.records)


def api_with_vms():
    api = pool_api()
    api.VM = VMs(dict(("OpaqueRef:vm%d" % i, {
        "is_a_template": False, "other_config": {"xosan-deployment": "xosan", "xosan-host": "host-uuid-%d" % i},
        "xenstore_data": {"vm-data/xosan/ip": ip}}) for i, ip in ((1, N1), (2, N2), (3, N3))))
    api.VM.records["OpaqueRef:tpl"] = {"is_a_template": True, "other_config": {"xosan-deployment": "xosan",
                                                                               "xosan-host": "host-uuid-1"},
                                       "xenstore_data": {"vm-data/xosan/ip": "10.250.78.99"}}
    return api


def can_reboot(args, glusterd=None, reach=None):
    glusterd = glusterd or FakeGlusterd()
    return plugin.reboot_report(args, api_with_vms(), here="host-uuid-1", cli_factory=glusterd.factory,
                                reach=reach or Reach())


def test_can_reboot_from_dom0_says_yes_on_a_healthy_volume_and_finds_the_node():
    r = can_reboot({"host": "lab-host-2"})
    assert r["host"] == {"uuid": "host-uuid-2", "name": "lab-host-2"} and r["ok"] is True, r
    [sr] = r["srs"]
    assert sr["nodes"] == [N2] and sr["refusals"] == []


def test_can_reboot_from_dom0_refuses_on_unknown_heal_with_the_reason(monkeypatch):
    from xosan.gluster import cli as gcli
    monkeypatch.setattr(gcli, "GLFSHEAL_PATHS", ("/nonexistent/sbin/glfsheal",))
    r = can_reboot({"host": "lab-host-2"}, glusterd=NoGlfsheal())
    [sr] = r["srs"]
    assert r["ok"] is False and [e["error"] for e in sr["refusals"]] == ["HEAL_UNKNOWN"]
    assert sr["refusals"][0]["code"] == 0x1070002
    assert "heal state unknown" in r["reason"] and "glfsheal is not installed" in r["reason"]


def lab_capture_as_78(name):
    """A glfsheal answer captured on the xq lab (10.251.95.x, bricks /srv/xosan/brick/xosan), its brick
    names rewritten to those of the captured volume info (10.250.78.x, /tmp/labcap/nI/...)."""
    from test_plugin import data
    text = data(name)
    for i in (1, 2, 3):
        text = text.replace("10.251.95.1%d:/srv/xosan/brick/xosan" % i, "10.250.78.1%d:/tmp/labcap/n%d/brick/xosan"
                            % (i, i))
    return text


def test_can_reboot_from_dom0_refuses_while_heals_are_pending(tmp_path):
    # node 2 killed, 7 entries written meanwhile (captured); glusterd already lists its brick online
    for name in ("glfsheal-info-node-killed.xml", "glfsheal-split-brain-info-node-killed.xml"):
        (tmp_path / name).write_text(lab_capture_as_78(name))
    # (absolute names: test_plugin's data() joins them to its folder, and an absolute one wins)
    glusterd = FakeGlusterd(glfsheal=str(tmp_path / "glfsheal-info-node-killed.xml"),
                            glfsheal_split_brain_info=str(tmp_path / "glfsheal-split-brain-info-node-killed.xml"))
    r = can_reboot({"host": "lab-host-1"}, glusterd=glusterd)
    [sr] = r["srs"]
    got = dict((e["error"], e) for e in sr["refusals"])
    assert r["ok"] is False and sorted(got) == ["HEAL_PENDING", "HEAL_UNKNOWN"], r
    assert got["HEAL_PENDING"]["entries"] == 14 and got["HEAL_PENDING"]["nodes"] == [N1, N3]
    assert got["HEAL_UNKNOWN"]["bricks"] == [N2 + ":/tmp/labcap/n2/brick/xosan"]
    assert "Transport endpoint is not connected" in got["HEAL_UNKNOWN"]["message"]


def test_can_reboot_with_a_node_down_says_quorum_would_break():
    glusterd = FakeGlusterd(pool_list="pool-list-node-down.xml", volume_status="volume-status-node-down.xml")
    r = can_reboot({}, glusterd=glusterd, reach=Reach(N3))  # this host (1) while node 3 is down
    [sr] = r["srs"]
    got = [e["error"] for e in sr["refusals"]]
    assert r["ok"] is False and "QUORUM_WOULD_BREAK" in got and "BRICK_OFFLINE" in got
    assert [e for e in sr["refusals"] if e["error"] == "QUORUM_WOULD_BREAK"][0]["code"] == 0x2080003


def test_can_reboot_of_a_host_without_bricks_is_ok_and_bad_hosts_are_errors():
    r = can_reboot({"host": "host-uuid-3", "nodes": "10.250.78.50"})
    assert r["ok"] is True and r["srs"][0]["note"] == "this host holds no brick of the volume"
    api = api_with_vms()
    del api.VM.records["OpaqueRef:vm3"]
    r = plugin.reboot_report({"host": "host-uuid-3"}, api, here="host-uuid-1",
                             cli_factory=FakeGlusterd().factory, reach=Reach())
    assert r["ok"] is True and "args:nodes=" in r["srs"][0]["note"] and r["srs"][0]["nodes"] == []
    with pytest.raises(InvalidValue, match="no single host"):
        can_reboot({"host": "nope"})
    with pytest.raises(InvalidValue, match="does not take"):
        can_reboot({"hosts": "x"})


# -- xosan check-reboot (pool side, heal counts over SSH) ------------------------------------------

class FakeOps(object):
    """The two things check_reboot asks of Operations."""

    def __init__(self, h):
        self.h = h
        self.inventory = self

    def storage_vms(self):
        return {"lab-host-1": (None, {}, N1), "lab-host-2": (None, {}, N2), "lab-host-3": (None, {}, N3)}

    def health(self):
        return self.h, None

    def host(self, name):
        if name != "lab-host-4":
            raise InvalidValue("host", "no host %s" % name)


def test_check_reboot_pool_side():
    ok = rolling.check_reboot(FakeOps(verdict()), "lab-host-2")
    assert ok.ok and ok.address == N2 and ok.as_dict()["verdict"] == "healthy"
    h = verdict(heal=None, split=None)
    refused = rolling.check_reboot(FakeOps(h), "lab-host-2")
    assert not refused.ok and keys(refused.refusals) == ["HEAL_UNKNOWN"]
    assert rolling.check_reboot(FakeOps(h), "lab-host-4").ok  # no storage VM there
    with pytest.raises(InvalidValue):
        rolling.check_reboot(FakeOps(h), "lab-host-9")


def test_check_reboot_cli_exit_codes(monkeypatch, capsys):
    from xosan.cli import main, rolling as cli_rolling

    class X(object):
        def logout(self):
            pass

    monkeypatch.setattr(cli_rolling.common, "load_manifest", lambda args: None)
    monkeypatch.setattr(cli_rolling.common, "connect", lambda m: X())
    monkeypatch.setattr(cli_rolling.common, "Deployment", lambda x, m, state_dir: None)
    state = {"h": verdict()}
    monkeypatch.setattr(cli_rolling, "Operations", lambda d: FakeOps(state["h"]))
    FakeOps.id = "xosan"
    assert main.main(["check-reboot", "--host", "lab-host-1"]) == 0
    assert "lab-host-1 may go down now" in capsys.readouterr().out
    state["h"] = verdict(status="volume-status-node-down.xml", pool="pool-list-node-down.xml")
    assert main.main(["check-reboot", "--host", "lab-host-1"]) == cli_rolling.EXIT_REFUSED
    err = capsys.readouterr().err
    assert "must not go down now" in err and "brick(s) offline" in err and "without %s" % N1 in err
    assert main.main(["check-reboot", "--host", "lab-host-1", "--json"]) == cli_rolling.EXIT_REFUSED
    out = json.loads(capsys.readouterr().out)
    assert out["ok"] is False and "QUORUM_WOULD_BREAK" in [r["key"] for r in out["refusals"]]


# -- through xapi's path: the plugin file, the simulator, the real XenAPI client ------------------

def test_health_and_can_reboot_through_the_xenapi_client(sim_pool):  # noqa: F811
    sim, x = sim_pool
    host = sorted(x.api.host.get_all(), key=x.api.host.get_name_label)[0]
    h = json.loads(x.api.host.call_plugin(host, "xosan", "health", {}))
    assert h["srs"] == [] and h["errors"] == [] and h["host"]["uuid"] == x.api.host.get_uuid(host)
    r = json.loads(x.api.host.call_plugin(host, "xosan", "can_reboot", {"host": x.api.host.get_uuid(host)}))
    assert r["ok"] is True and r["reason"] == "no SR of type xosan" and r["srs"] == []
    with pytest.raises(XenAPI.Failure) as err:
        x.api.host.call_plugin(host, "xosan", "can_reboot", {"host": "no-such-host"})
    assert err.value.details[:3] == ["XENAPI_PLUGIN_FAILURE", "can_reboot", "InvalidValue"]


# -- on a deployed simulated pool with real storage nodes (lab id xd50, subnet offset 50) -----------

from labpool import pool_fixture  # noqa: E402

pool50 = pool_fixture(3, 50)


@pytest.mark.gluster
def test_rolling_reboot_check_on_a_deployed_pool(pool50, capsys):
    from xosan.cli import main
    from xosan.pool.xapi import Xapi
    pool = pool50
    pool.deployment().run()
    ops = pool.ops()
    # over SSH the heal counts are known: a healthy pool lets any one host go
    for name in ("lab-host-1", "lab-host-2", "lab-host-3"):
        c = rolling.check_reboot(ops, name)
        assert c.ok, (name, c.refusals)
    capsys.readouterr()
    assert main.main(["check-reboot", "--host", "lab-host-2"] + pool.cli_args()) == 0
    assert "lab-host-2 may go down now" in capsys.readouterr().out
    # from dom0 (the plugin) too: glfsheal runs there on the volfile fetched from glusterd
    x = Xapi.connect(pool.server.url, "root", "xosan")
    host = sorted(x.api.host.get_all(), key=x.api.host.get_name_label)[0]
    r = json.loads(x.api.host.call_plugin(host, "xosan", "can_reboot", {"host": "lab-host-2"}))
    [sr] = r["srs"]
    assert r["ok"] is True and sr["refusals"] == [], r
    assert sr["nodes"] == [pool.node_of("lab-host-2").ip]
    h = json.loads(x.api.host.call_plugin(host, "xosan", "health", {}))
    assert h["errors"] == [] and h["srs"][0]["verdict"] == "healthy" and h["srs"][0]["heal"] == plugin.HEAL_SOURCE

    # lab-host-2's storage VM is down (its host rebooting): no other host may go now
    ops.maintenance_enter("lab-host-2")
    c = rolling.check_reboot(pool.ops(), "lab-host-1")
    got = [r.key for r in c.refusals]
    assert not c.ok and "BRICK_OFFLINE" in got and "QUORUM_WOULD_BREAK" in got, c.refusals
    assert main.main(["check-reboot", "--host", "lab-host-3"] + pool.cli_args()) == 2
    assert "must not go down now" in capsys.readouterr().err
    h = json.loads(x.api.host.call_plugin(host, "xosan", "health", {}))
    assert "BRICK_OFFLINE" in [e["error"] for e in h["errors"]]
    # back and healed: allowed again
    pool.ops().maintenance_exit("lab-host-2")
    c = rolling.check_reboot(pool.ops(), "lab-host-1")
    assert c.ok, c.refusals
    x.logout()


# -- heal info from dom0: glfsheal here on the volfile glusterd hands out (xosan/gluster/cli.py) -------

class HealRunner(object):
    """The transport of a --remote-host GlusterCLI: ``system:: getspec`` and glfsheal answered with what
    they printed on the xq lab; the volfile file glfsheal is given is checked while it exists."""

    def __init__(self, heal="glfsheal-info-healthy.xml", split="glfsheal-split-brain-info-healthy.xml",
                 getspec=None, raise_=None):
        from test_plugin import data
        self.data = data
        self.heal, self.split, self.getspec, self.raise_ = heal, split, getspec, raise_
        self.argvs, self.volfiles = [], []

    def __call__(self, cmd, timeout=None, check=True):
        import subprocess
        self.argvs.append(list(cmd))
        if "getspec" in cmd:
            if self.getspec is not None:
                return subprocess.CompletedProcess(cmd, *self.getspec)
            return subprocess.CompletedProcess(cmd, 0, self.data("getspec-xosan.vol"), "")
        if self.raise_ is not None:
            raise self.raise_
        path = cmd[cmd.index("volfile-path") + 1]
        self.volfiles.append(path)
        with open(path) as fh:
            assert fh.read() == self.data("getspec-xosan.vol")
        assert oct(os.stat(path).st_mode & 0o777) == "0o600"
        return subprocess.CompletedProcess(cmd, 0, self.data(self.split if "split-brain-info" in cmd else self.heal),
                                           "")


def remote(runner, glfsheal="/usr/sbin/glfsheal"):
    from xosan import gluster
    return gluster.GlusterCLI(runner=runner, remote_host="10.251.95.11", timeout=5, glfsheal=glfsheal)


def test_heal_info_over_remote_host_runs_glfsheal_here_on_the_fetched_volfile():
    runner = HealRunner()
    entries = remote(runner).heal_info("xosan")
    assert [(e.brick, e.status, e.entries) for e in entries] == [
        ("10.251.95.1%d:/srv/xosan/brick/xosan" % i, "Connected", 0) for i in (1, 2, 3)]
    assert runner.argvs == [
        ["gluster", "--mode=script", "--remote-host=10.251.95.11", "system::", "getspec", "xosan"],
        ["/usr/sbin/glfsheal", "xosan", "--xml", "--nolog", "volfile-path", runner.volfiles[0]]]
    assert not os.path.exists(runner.volfiles[0])  # the temporary volfile is gone
    remote(runner).heal_info("xosan", split_brain=True)
    assert runner.argvs[-1][:3] == ["/usr/sbin/glfsheal", "xosan", "split-brain-info"]


def test_glfsheal_counts_of_a_killed_data_node():
    runner = HealRunner(heal="glfsheal-info-node-killed.xml", split="glfsheal-split-brain-info-node-killed.xml")
    cli = remote(runner)
    volfile = cli.volfile("xosan")
    heal = cli.heal_info_from_volfile("xosan", volfile)
    assert [(e.entries, e.connected) for e in heal] == [(7, True), (None, False), (7, True)]
    assert heal[1].status == "Transport endpoint is not connected"
    split = cli.heal_info_from_volfile("xosan", volfile, split_brain=True)
    assert [e.entries for e in split] == [0, None, 0]
    assert all(not os.path.exists(p) for p in runner.volfiles)


def test_glfsheal_failures_are_gluster_errors_and_leave_no_volfile():
    from xosan.errors import CommandTimeout, GlusterError
    runner = HealRunner(raise_=CommandTimeout(["glfsheal"], None, message="glfsheal did not finish"))
    with pytest.raises(GlusterError, match="did not finish within 20 s"):
        remote(runner).heal_info("xosan")
    import glob
    import tempfile
    assert not glob.glob(os.path.join(tempfile.gettempdir(), "xosan-xosan-*.vol"))
    # no volfile from glusterd (what getspec of a missing volume gives, measured: rc 1, no output): a
    # clear error before glfsheal runs
    runner = HealRunner(getspec=(1, "", ""))
    with pytest.raises(GlusterError, match="getspec xosan on 10.251.95.11 gave no volfile: rc 1, no output"):
        remote(runner).heal_info("xosan")
    runner = HealRunner(getspec=(1, "", "Connection failed. Please check if gluster daemon is operational.\n"))
    with pytest.raises(GlusterError, match="cannot be reached"):
        remote(runner).heal_info("xosan")
    assert all("glfsheal" not in a[0] for a in runner.argvs)


def test_glfsheal_missing_is_a_clear_error(monkeypatch):
    from xosan.errors import GlusterError
    from xosan.gluster import cli as gcli
    monkeypatch.setattr(gcli, "GLFSHEAL_PATHS", ("/nonexistent/a/glfsheal", "/nonexistent/b/glfsheal"))
    with pytest.raises(GlusterError) as err:
        remote(HealRunner(), glfsheal=None).heal_info("xosan")
    assert "glfsheal is not installed" in err.value.message and "glusterfs-server" in err.value.hint


def test_remote_glusterd_fetches_the_volfile_once_and_asks_clients_briefly():
    runner = HealRunner()
    r = plugin.RemoteGlusterd(remote(runner))
    r.heal_info("xosan")
    r.heal_info("xosan", split_brain=True)
    assert [a[3:5] for a in runner.argvs].count(["system::", "getspec"]) == 1
    assert r.heal_asked and r.heal_error is None
    glusterd = FakeGlusterd()
    clients = plugin.RemoteGlusterd(glusterd.factory(N1)).volume_clients("xosan")
    assert glusterd.asked == [(N1, "volume status clients")] and len(clients) == 3
    assert all(c.clients for c in clients)
