"""Alerts where admins look (xosan/alerts.py): XAPI messages on health changes, once per
change, cleared when healthy again, raised by the pool master only. Against the XAPI
simulator through the real XenAPI client."""

import json

import pytest
import XenAPI

from xosan import alerts, plugin

GiB = 1024 ** 3


@pytest.fixture
def pool(xapi):
    """The simulator with a pool whose master is host1, an SR of type xosan plugged on it."""
    host = xapi.host_ref
    xapi.add("pool", {"master": host, "name_label": "lab"})
    sr = xapi.add("SR", {"type": "xosan", "name_label": "XOSAN", "other_config": {}, "sm_config": {},
                         "PBDs": []})
    pbd = xapi.add("PBD", {"SR": sr, "host": host, "currently_attached": True,
                           "device_config": {"server": "10.250.99.11,10.250.99.12", "volume": "xosan"}})
    xapi.record("SR", sr)["PBDs"] = [pbd]
    session = XenAPI.Session(xapi.url)
    session.xenapi.login_with_password("root", "xosan", "1.0", "tests")
    xapi.api = session.xenapi
    xapi.sr_uuid = xapi.record("SR", sr)["uuid"]
    xapi.sr = sr
    xapi.host_uuid = xapi.record("host", host)["uuid"]
    yield xapi
    session.xenapi.session.logout()


def _sr(uuid, verdict="healthy", reason="every brick online", bricks=(), attached=True):
    return {"uuid": uuid, "name": "XOSAN", "verdict": verdict, "reason": reason,
            "hosts": [{"name": "host1", "uuid": "h1", "attached": attached}],
            "bricks": [{"name": n, "size_total": t, "size_free": f} for n, t, f in bricks]}


def _messages(sim):
    return sorted((m["name"], m["priority"], m["obj_uuid"]) for m in sim.db["message"].values())


def test_a_degraded_sr_is_raised_once_and_cleared_when_healthy(pool):
    api, uuid = pool.api, pool.sr_uuid
    report = {"srs": [_sr(uuid, "degraded", "brick 10.250.99.12:/b down")]}
    assert alerts.run(api, pool.host_uuid, report) == {uuid: {"raised": ["XOSAN_DEGRADED"], "cleared": []}}
    assert _messages(pool) == [("XOSAN_DEGRADED", "3", uuid)]
    body = list(pool.db["message"].values())[0]["body"]
    assert "degraded" in body and "10.250.99.12:/b down" in body
    # every minute after that: nothing new while nothing changes
    for _ in range(3):
        assert alerts.run(api, pool.host_uuid, report) == {uuid: {"raised": [], "cleared": []}}
    assert len(pool.db["message"]) == 1
    # worse: degraded's message goes, at-risk's comes
    report = {"srs": [_sr(uuid, "at-risk", "one more failure stops I/O")]}
    assert alerts.run(api, pool.host_uuid, report)[uuid] == {"raised": ["XOSAN_AT_RISK"], "cleared": ["XOSAN_DEGRADED"]}
    assert _messages(pool) == [("XOSAN_AT_RISK", "2", uuid)]
    # healthy again: the alert is cleared and one informational message says so
    report = {"srs": [_sr(uuid)]}
    assert alerts.run(api, pool.host_uuid, report)[uuid] == {"raised": ["XOSAN_HEALTHY"], "cleared": ["XOSAN_AT_RISK"]}
    assert _messages(pool) == [("XOSAN_HEALTHY", "5", uuid)]
    assert alerts.STATE_KEY not in pool.record("SR", pool.sr)["other_config"]
    assert alerts.run(api, pool.host_uuid, report)[uuid] == {"raised": [], "cleared": []}


def test_state_lives_in_xapi_so_a_new_process_does_not_repeat(pool):
    api, uuid = pool.api, pool.sr_uuid
    report = {"srs": [_sr(uuid, bricks=[("10.250.99.11:/b", 100 * GiB, 5 * GiB), ("10.250.99.12:/b", 100 * GiB,
                                                                                      50 * GiB)])]}
    assert alerts.run(api, pool.host_uuid, report)[uuid]["raised"] == ["XOSAN_BRICK_LOW_SPACE"]
    saved = json.loads(pool.record("SR", pool.sr)["other_config"][alerts.STATE_KEY])
    assert list(saved) == ["XOSAN_BRICK_LOW_SPACE"]
    [msg] = pool.db["message"].values()
    assert saved["XOSAN_BRICK_LOW_SPACE"] == msg["uuid"] and "10.250.99.11:/b (5% free)" in msg["body"]
    assert "10.250.99.12" not in msg["body"]
    # a second session (another run of the timer, or a new master) sees the same state
    other = XenAPI.Session(pool.url)
    other.xenapi.login_with_password("root", "xosan", "1.0", "tests")
    try:
        assert alerts.run(other.xenapi, pool.host_uuid, report)[uuid] == {"raised": [], "cleared": []}
    finally:
        other.xenapi.session.logout()


def test_a_message_the_admin_dismissed_is_not_an_error(pool):
    api, uuid = pool.api, pool.sr_uuid
    alerts.run(api, pool.host_uuid, {"srs": [_sr(uuid, attached=False)]})
    [ref] = list(pool.db["message"])
    api.message.destroy(ref)  # dismissed in XenCenter
    assert alerts.run(api, pool.host_uuid, {"srs": [_sr(uuid)]})[uuid] == {"raised": ["XOSAN_HEALTHY"],
                                                                          "cleared": ["XOSAN_NOT_ATTACHED"]}


def test_only_the_master_acts(pool):
    other = pool.add("host", {"name_label": "host2", "enabled": True, "PBDs": [], "other_config": {}})
    report = {"srs": [_sr(pool.sr_uuid, "degraded", "x")]}
    assert alerts.run(pool.api, pool.record("host", other)["uuid"], report) == {}
    assert pool.db["message"] == {}


def test_an_sr_no_storage_node_answers_is_raised_from_the_real_report(pool):
    """The whole path from plugin.status_report: nothing answers on 10.250.99.x here."""
    report = plugin.status_report(pool.api, pool.host_uuid, reach=lambda servers: ([], list(servers)))
    [sr] = report["srs"]
    assert sr["verdict"] == plugin.UNKNOWN
    assert alerts.run(pool.api, pool.host_uuid, report)[pool.sr_uuid]["raised"] == ["XOSAN_UNREACHABLE"]
    [msg] = pool.db["message"].values()
    assert msg["priority"] == "2" and "10.250.99.11" in msg["body"]


def test_conditions_codes_are_stable():
    assert set(alerts.PRIORITY) == {"XOSAN_AT_RISK", "XOSAN_UNREACHABLE", "XOSAN_DEGRADED", "XOSAN_BRICK_LOW_SPACE",
                                    "XOSAN_NOT_ATTACHED", "XOSAN_HEAL_STALLED", "XOSAN_CERT_EXPIRING", "XOSAN_HEALTHY"}
    assert alerts.conditions(_sr("u")) == {}
    assert set(alerts.conditions(_sr("u", "degraded", attached=False))) == {"XOSAN_DEGRADED", "XOSAN_NOT_ATTACHED"}


def _healing(uuid, pending, online=True):
    """An SR whose bricks are all online (or the last one down) with ``pending`` heals on the first."""
    return {"uuid": uuid, "name": "XOSAN", "volume": "xosan", "verdict": "degraded", "reason": "heal pending",
            "hosts": [{"name": "host1", "uuid": "h1", "attached": True}],
            "bricks": [{"name": "n1:/b", "online": True, "heal_pending": pending},
                       {"name": "n2:/b", "online": True, "heal_pending": None if pending is None else 0},
                       {"name": "n3:/b", "online": online, "heal_pending": None if pending is None else 0}]}


class Clock(object):
    def __init__(self):
        self.now = 1000000.0

    def __call__(self):
        return self.now


def _codes(sim):
    return sorted(m["name"] for m in sim.db["message"].values())


def test_a_heal_that_does_not_go_down_for_ten_minutes_is_raised_once(pool):
    clock = Clock()
    for pending in (40, 40, 41, 41):  # one sweep a minute, the count never going down
        alerts.reconcile(pool.api, _healing(pool.sr_uuid, pending), clock)
        clock.now += 60
    assert _codes(pool) == ["XOSAN_DEGRADED"]  # 3 minutes: a slow heal, not a stuck one
    clock.now += alerts.HEAL_STALL
    done = alerts.reconcile(pool.api, _healing(pool.sr_uuid, 41), clock)
    assert done["raised"] == ["XOSAN_HEAL_STALLED"]
    [body] = [m["body"] for m in pool.db["message"].values() if m["name"] == "XOSAN_HEAL_STALLED"]
    assert "41 file(s)" in body and "not fewer for 14 minutes" in body and "heal xosan info split-brain" in body
    clock.now += 60
    assert alerts.reconcile(pool.api, _healing(pool.sr_uuid, 41), clock)["raised"] == []  # once per change
    # the count unknown for a minute (glfsheal failed): the alert stays, nothing new
    assert alerts.reconcile(pool.api, _healing(pool.sr_uuid, None), clock) == {"raised": [], "cleared": []}
    # the heal moves again: the stall is over, the degraded verdict stays until 0
    clock.now += 60
    assert alerts.reconcile(pool.api, _healing(pool.sr_uuid, 12), clock)["cleared"] == ["XOSAN_HEAL_STALLED"]
    assert _codes(pool) == ["XOSAN_DEGRADED"]


def test_a_heal_going_down_is_never_stalled_and_a_brick_down_is_not_a_stuck_heal(pool):
    clock = Clock()
    for pending in range(100, 0, -5):  # 20 minutes of a slow but steady heal
        alerts.reconcile(pool.api, _healing(pool.sr_uuid, pending), clock)
        clock.now += 60
    assert "XOSAN_HEAL_STALLED" not in _codes(pool)
    # a node down for an hour: heals pile up and cannot end; that is XOSAN_DEGRADED's to say
    for _ in range(60):
        alerts.reconcile(pool.api, _healing(pool.sr_uuid, 300, online=False), clock)
        clock.now += 60
    assert "XOSAN_HEAL_STALLED" not in _codes(pool)
    # back: the clock starts at its return, so a long outage does not raise the alert at once
    assert alerts.reconcile(pool.api, _healing(pool.sr_uuid, 300), clock)["raised"] == []
    sr = pool.api.SR.get_by_uuid(pool.sr_uuid)
    assert json.loads(pool.api.SR.get_other_config(sr)[alerts.HEAL_WATCH_KEY]) == {"pending": 300,
                                                                                   "since": clock.now}
    # healed: the watch is gone from the SR's other-config
    alerts.reconcile(pool.api, _healing(pool.sr_uuid, 0), clock)
    assert alerts.HEAL_WATCH_KEY not in pool.api.SR.get_other_config(sr)
