"""Health changes of XOSAN SRs as XAPI messages, where admins already look.

XenCenter and Xen Orchestra show a pool's XAPI messages as alerts, so an admin who never
runs ``xosan status`` still sees a volume go degraded. xosan-alerts.timer runs this every
minute on every host; only the pool master acts, so a pool raises each alert once and
goes on raising them after the master role moves.

Once per change, not every minute: the alerts in force for an SR (code -> message uuid)
are kept in the SR's ``other_config:xosan-alerts``, in XAPI itself, so neither a restart
nor a new master repeats them. When a condition ends, its message is destroyed; when an SR
with alerts becomes healthy again, one informational message says so.

A heal that does not progress: the host plugin counts pending heals from dom0 (glfsheal on the
volume's volfile, see xosan/plugin.py). The self-heal daemons sweep every
``cluster.heal-timeout`` (10 s in XOSAN's option set), so a count that has not gone down for
HEAL_STALL seconds is a heal that is stuck (a brick that cannot be written, a split-brain
the daemons will not pick a side in), not a slow one; while it lasts the volume has one copy
fewer of the files involved. The count and since when it has not gone down are kept in
XAPI too (``other_config:xosan-heal-watch``), for the same reason as the alerts.
"""

import datetime
import json
import os
import sys
import time

from xosan import metrics, plugin
from xosan.gluster import health, tls

STATE_KEY = "xosan-alerts"
HEAL_WATCH_KEY = "xosan-heal-watch"
HEAL_STALL = 600  # s without the pending count going down: sixty sweeps of the self-heal daemons
LOW_SPACE = plugin.LOW_FREE_PERCENT / 100.0  # the host plugin's threshold, as a share of the brick

# XAPI message priorities as XenCenter and XO rank them: 1 is the most urgent, 5 information.
PRIORITY = {"XOSAN_AT_RISK": 2, "XOSAN_UNREACHABLE": 2, "XOSAN_DEGRADED": 3, "XOSAN_BRICK_LOW_SPACE": 3,
            "XOSAN_NOT_ATTACHED": 3, "XOSAN_HEAL_STALLED": 3, "XOSAN_CERT_EXPIRING": 3, "XOSAN_HEALTHY": 5}
# Days before this host's GlusterFS certificate of the SR's deployment expires that it is raised: time
# to renew the certificates (docs/security-tls.md) in a maintenance window, not on the day.
CERT_WARN_DAYS = 30
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


def cert_conditions(sr, now=None, root=None):
    # type: (dict, object, str) -> dict
    """{"XOSAN_CERT_EXPIRING": sentence} when this host's certificate of the SR's deployment (installed
    by the host plugin's fn=install_tls) expires within CERT_WARN_DAYS, else {}. The master's is read:
    deploy signs every dom0's certificate at the same time, so it stands for the pool's; no file
    (TLS not used) or an unreadable one raises nothing here."""
    volume = sr.get("volume")
    if not volume:
        return {}
    try:
        path = tls.file_paths(tls.cert_dir(volume, root or tls.CERT_ROOT))["cert"]
        if not os.path.exists(path):
            return {}
        expiry = tls.not_after(path)
    except tls.TLSConfigError:
        return {}
    days = tls.days_left(expiry, now)
    if days >= CERT_WARN_DAYS:
        return {}
    when = ("expired on %s" % expiry.strftime("%Y-%m-%d")) if days < 0 else (
        "expires on %s (%d days)" % (expiry.strftime("%Y-%m-%d"), days))
    return {"XOSAN_CERT_EXPIRING": "XOSAN SR %s: the GlusterFS TLS certificate of this host %s; past it this host "
                                   "cannot connect to the bricks. Renew the deployment's certificates "
                                   "(docs/security-tls.md)." % (sr.get("name") or sr["uuid"], when)}


def heal_pending(sr):
    # type: (dict) -> object
    """The SR's pending heal entries summed over its bricks, or None when any brick's count is
    unknown (a count missing one brick cannot show progress or its absence)."""
    counts = [b.get("heal_pending") for b in sr.get("bricks") or []]
    if not counts or any(c is None for c in counts):
        return None
    return sum(counts)


def watch_heal(watch, pending, now):
    # type: (dict, object, float) -> tuple
    """(new watch, seconds the pending count has not gone down, or None). ``watch`` is the
    previous {"pending": n, "since": t}: the clock starts when heals appear and starts again
    each time the count goes down; an unknown count keeps the watch as it was."""
    if pending is None:
        return watch, None
    if pending == 0:
        return {}, None
    last = watch.get("pending")
    if not isinstance(last, int) or pending < last or not isinstance(watch.get("since"), (int, float)):
        return {"pending": pending, "since": now}, 0.0
    return {"pending": max(pending, last), "since": watch["since"]}, now - watch["since"]


def stalled_sentence(sr, pending, seconds):
    return ("XOSAN SR %s: %d file(s) waiting for self-heal, not fewer for %d minutes: the heal is stuck "
            "and those files have one copy fewer until it ends. See `xosan status` (heal column) and the "
            "self-heal daemon's log (/var/log/glusterfs/glustershd.log) on the storage VMs; "
            "`gluster volume heal %s info split-brain` on one of them lists files it will not heal by itself."
            % (sr.get("name") or sr["uuid"], pending, seconds // 60, sr.get("volume") or "VOLUME"))


def _load(api, sr_ref, key):
    raw = api.SR.get_other_config(sr_ref).get(key)
    try:
        state = json.loads(raw) if raw else {}
    except ValueError:
        state = {}
    return state if isinstance(state, dict) else {}


def _save(api, sr_ref, key, state):
    api.SR.remove_from_other_config(sr_ref, key)
    if state:
        api.SR.add_to_other_config(sr_ref, key, json.dumps(state, sort_keys=True))


def _destroy(api, message_uuid):
    try:
        api.message.destroy(api.message.get_by_uuid(message_uuid))
    except Exception:  # already dismissed by the admin: nothing left to clear
        pass


def reconcile(api, sr, clock=time.time, cert_root=None):
    # type: (object, dict, object, str) -> dict
    """Bring one SR's messages in line with its conditions; returns {"raised": [codes],
    "cleared": [codes]}."""
    sr_ref = api.SR.get_by_uuid(sr["uuid"])
    before = _load(api, sr_ref, STATE_KEY)
    now = conditions(sr)
    now.update(cert_conditions(sr, datetime.datetime.utcfromtimestamp(clock()), cert_root))
    old_watch = _load(api, sr_ref, HEAL_WATCH_KEY)
    pending = heal_pending(sr)
    if not all(b.get("online") for b in sr.get("bricks") or []):
        watch, still = {}, None  # a brick down: no heal can end; XOSAN_DEGRADED says why, not this
    else:
        watch, still = watch_heal(old_watch, pending, clock())
    if watch != old_watch:
        _save(api, sr_ref, HEAL_WATCH_KEY, watch)
    if still is not None and still >= HEAL_STALL:
        now["XOSAN_HEAL_STALLED"] = stalled_sentence(sr, pending, int(still))
    elif pending is None and "XOSAN_HEAL_STALLED" in before:
        now["XOSAN_HEAL_STALLED"] = None  # count unknown this minute: neither raised again nor cleared
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
        _save(api, sr_ref, STATE_KEY, state)
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
    """The timer's job on every host: the alerts (the master only) and, where node_exporter's
    textfile directory exists, this host's metrics file, from one report."""
    import argparse
    parser = argparse.ArgumentParser(prog="python3 -m xosan.alerts")
    parser.add_argument("--textfile-dir", default=metrics.TEXTFILE_DIR,
                        help="node_exporter's textfile collector directory (skipped when absent)")
    args = parser.parse_args(argv)
    import XenAPI  # dom0's SDK; imported here so that the module loads where it is absent
    session = XenAPI.xapi_local()
    session.xenapi.login_with_password("root", "", "1.0", "xosan-alerts")
    try:
        here = plugin.this_host_uuid()
        master = is_master(session.xenapi, here)
        feed = os.path.isdir(args.textfile_dir)
        report = plugin.status_report(session.xenapi, here) if (master or feed) else None
        if feed:
            metrics.write(metrics.render(report, here), args.textfile_dir)
        done = run(session.xenapi, here, report) if master else {}
    finally:
        session.xenapi.session.logout()
    for uuid, what in sorted(done.items()):
        if what["raised"] or what["cleared"]:
            sys.stdout.write("SR %s: raised %s; cleared %s\n" % (uuid, ", ".join(what["raised"]) or "nothing",
                                                                ", ".join(what["cleared"]) or "nothing"))
    return 0

if __name__ == "__main__":
    sys.exit(main())
