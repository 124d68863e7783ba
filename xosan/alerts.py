"""Health changes of XOSAN SRs as XAPI messages, where admins already look.

XenCenter and Xen Orchestra show a pool's XAPI messages as alerts, so an admin who never
runs ``xosan status`` still sees a volume go degraded. xosan-alerts.timer runs this every
minute on every host; only the pool master acts, so a pool raises each alert once and
goes on raising them after the master role moves.

Once per change, not every minute: the alerts in force for an SR (code -> message uuid)
are kept in the SR's ``other_config:xosan-alerts``, in XAPI itself, so neither a restart
nor a new master repeats them. When a condition ends, its message is destroyed; when an SR
with alerts becomes healthy again, one informational message says so.

What dom0 cannot see: heal and split-brain counts (glusterd answers those only to a
storage VM, see xosan/plugin.py), so a heal that does not progress is left to
``xosan status`` (SSH to a storage VM) rather than guessed here.
"""

import json
import sys

from xosan import plugin
from xosan.gluster import health

STATE_KEY = "xosan-alerts"
LOW_SPACE = plugin.LOW_FREE_PERCENT / 100.0  # the host plugin's threshold, as a share of the brick

# XAPI message priorities as XenCenter and XO rank them: 1 is the most urgent, 5 information.
PRIORITY = {"XOSAN_AT_RISK": 2, "XOSAN_UNREACHABLE": 2, "XOSAN_DEGRADED": 3, "XOSAN_BRICK_LOW_SPACE": 3,
            "XOSAN_NOT_ATTACHED": 3, "XOSAN_HEALTHY": 5}
VERDICT_CODE = {health.DEGRADED: "XOSAN_DEGRADED", health.AT_RISK: "XOSAN_AT_RISK", plugin.UNKNOWN: "XOSAN_UNREACHABLE"}


def conditions(sr):
    # type: (dict) -> dict
    """{code: sentence} of what is wrong with one SR of plugin.status_report. The codes are
    stable: monitoring and the host plugin's callers may match on them."""
    found = {}
    code = VERDICT_CODE.get(sr.get("verdict"))
    if code:
        found[code] = "XOSAN SR %s is %s: %s" % (sr.get("name") or sr["uuid"], sr["verdict"], sr.get("reason"))
    low = []
    for b in sr.get("bricks") or []:
        total, free = b.get("size_total"), b.get("size_free")
        if total and free is not None and free < LOW_SPACE * total:
            low.append("%s (%d%% free)" % (b["name"], 100 * free // total))
    if low:
        found["XOSAN_BRICK_LOW_SPACE"] = ("XOSAN SR %s: bricks under %d%% free: %s. Free space in the SR (delete "
                                          "snapshots or VDIs) or add hosts (xosan add-host)."
                                          % (sr.get("name") or sr["uuid"], 100 * LOW_SPACE, ", ".join(low)))
    detached = [h["name"] for h in sr.get("hosts") or [] if not h.get("attached")]
    if detached:
        found["XOSAN_NOT_ATTACHED"] = ("XOSAN SR %s is not attached on %s: VMs there cannot use it. "
                                       "Repair it with xe pbd-plug (or Repair in XenCenter / XO)."
                                       % (sr.get("name") or sr["uuid"], ", ".join(detached)))
    return found


def _state(api, sr_ref):
    raw = api.SR.get_other_config(sr_ref).get(STATE_KEY)
    try:
        state = json.loads(raw) if raw else {}
    except ValueError:
        state = {}
    return state if isinstance(state, dict) else {}


def _save(api, sr_ref, state):
    api.SR.remove_from_other_config(sr_ref, STATE_KEY)
    if state:
        api.SR.add_to_other_config(sr_ref, STATE_KEY, json.dumps(state, sort_keys=True))


def _destroy(api, message_uuid):
    try:
        api.message.destroy(api.message.get_by_uuid(message_uuid))
    except Exception:  # already dismissed by the admin: nothing left to clear
        pass


def reconcile(api, sr):
    # type: (object, dict) -> dict
    """Bring one SR's messages in line with its conditions; returns {"raised": [codes],
    "cleared": [codes]}."""
    sr_ref = api.SR.get_by_uuid(sr["uuid"])
    before = _state(api, sr_ref)
    now = conditions(sr)
    raised, cleared = [], []
    state = {}
    for code, uuid in sorted(before.items()):
        if code in now:
            state[code] = uuid
        else:
            _destroy(api, uuid)
            cleared.append(code)
    for code in sorted(now):
        if code not in state:
            ref = api.message.create(code, str(PRIORITY[code]), "SR", sr["uuid"], now[code])
            state[code] = api.message.get_record(ref)["uuid"]
            raised.append(code)
    if cleared and not now:
        api.message.create("XOSAN_HEALTHY", str(PRIORITY["XOSAN_HEALTHY"]), "SR", sr["uuid"],
                           "XOSAN SR %s is healthy again (cleared: %s)" % (sr.get("name") or sr["uuid"],
                                                                           ", ".join(cleared)))
        raised.append("XOSAN_HEALTHY")
    if state != before:
        _save(api, sr_ref, state)
    return {"raised": raised, "cleared": cleared}


def is_master(api, host_uuid):
    pools = api.pool.get_all()
    return bool(pools) and api.host.get_uuid(api.pool.get_master(pools[0])) == host_uuid


def run(api, here=None, report=None):
    # type: (object, str, dict) -> dict
    """One pass: {sr uuid: reconcile's answer}, or {} on a host that is not the master."""
    here = here or plugin.this_host_uuid()
    if not is_master(api, here):
        return {}
    report = report if report is not None else plugin.status_report(api, here)
    return dict((sr["uuid"], reconcile(api, sr)) for sr in report["srs"])


def main(argv=None):
    import XenAPI  # dom0's SDK; imported here so that the module loads where it is absent
    session = XenAPI.xapi_local()
    session.xenapi.login_with_password("root", "", "1.0", "xosan-alerts")
    try:
        done = run(session.xenapi)
    finally:
        session.xenapi.session.logout()
    for uuid, what in sorted(done.items()):
        if what["raised"] or what["cleared"]:
            sys.stdout.write("SR %s: raised %s; cleared %s\n" % (uuid, ", ".join(what["raised"]) or "nothing",
                                                                ", ".join(what["cleared"]) or "nothing"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
