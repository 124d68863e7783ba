"""The XAPI host plugin ``xosan`` (/etc/xapi.d/plugins/xosan): health of the XOSAN SRs
for Xen Orchestra, scripts and monitoring, from any host of the pool:

    xe host-call-plugin host-uuid=... plugin=xosan fn=status
    xe host-call-plugin host-uuid=... plugin=xosan fn=check
    xe host-call-plugin host-uuid=... plugin=xosan fn=probe args:server=10.0.50.11 [args:volume=xosan]
    xe host-call-plugin host-uuid=... plugin=xosan fn=health [args:sr=UUID]       (XOSTOR's shape)
    xe host-call-plugin host-uuid=... plugin=xosan fn=can_reboot [args:host=UUID]  (rolling reboots)
    xe host-call-plugin host-uuid=... plugin=xosan fn=install_tls args:deployment=ID args:cert=PEM ...

Every function answers a JSON string. The plugin file only dispatches; the logic is here.

dom0 has no SSH key to the storage VMs, so glusterd is asked read-only over the
network (``gluster --remote-host``), from the SR's device-config servers and the
cluster's own list kept in ``sm-config:xosan-servers``, first answering server first.
What that gives, measured on the lab (GlusterFS 10.3):
- ``volume info``, ``volume list``, ``pool list``, ``volume status VOL detail`` and
  ``volume status VOL clients`` work;
- ``volume heal VOL info [split-brain]`` does not as such: the CLI runs glfsheal on THIS
  machine, which fetches the volfile from the local glusterd's socket
  (/var/run/glusterd.socket; none in dom0: "Not able to fetch volfile from glusterd"),
  and ``volume heal VOL statistics heal-count`` is not in glusterd's read-only program
  ("RPC Program procedure not available ... in GlusterD svc cli read-only"). But
  ``system:: getspec VOL`` hands out the client volfile, and glfsheal run here with it
  (``glfsheal VOL [split-brain-info] --xml --nolog volfile-path FILE``) is a client of every brick
  like a FUSE mount: it gives the true counts, in the CLI's XML (0 on a healthy volume,
  7 on each live brick after a data node was killed and 7 files written, 0 again once
  it was back and healed; ~0.03 s a run). So heal and split-brain counts are read from
  dom0 ("heal": HEAL_SOURCE); they are unknown (None, "heal": "unknown: <why>", and
  HEAL_UNKNOWN in fn=health and fn=can_reboot) only when glfsheal is not installed, fails,
  or is not asked because a node does not answer (below);
- a storage node cut off the network (no TCP reset) stays "connected" in the other
  glusterds' pool list until they notice (with the stock glusterd.vol: still so after
  4 min; with the storage VM's transport.tcp-user-timeout, 10 to 15 s), and ``volume
  status`` then blocks in glusterd, holding the volume's cluster lock (others get
  "Another transaction is in progress", up to glusterd's 180 s lock timer). So when a
  brick's node does not answer from this host while glusterd still counts it connected,
  volume status is not asked: the bricks of nodes that do not answer count as down, the
  others as online, and the answer says so ("brick_state"). A node whose processes are
  dead (TCP reset) is seen by glusterd at once, and volume status answers.
"""

import json
import os
import tempfile
import time

from xosan import gluster, proc
from xosan.errors import (CommandFailed, ConfigError, GlusterError, InvalidValue, ServerUnreachable, VolumeNotFound,
                          XosanError)
from xosan.facts import GLUSTERD_PORT, TAG_DEPLOYMENT, TAG_HOST, XS_ADDRESS
from xosan.gluster import downtime, health, parse_volume_clients, parse_volume_status, tls
from xosan.sr import devconfig
from xosan.sr.reachability import order_by_reachability
from xosan.sr.volume_sr import VolumeSR, merge_servers, servers_from_sm_config

SR_TYPE = "xosan"
UNKNOWN = "unknown"  # glusterd could not be asked: no verdict
HEAL_SOURCE = "glfsheal in this dom0, with the volume's volfile from glusterd"
HEAL_NOT_ASKED = "heal info not asked"
BRICK_STATE_STATUS = "volume status"
CLI_TIMEOUT = 10
STATUS_RETRY = 6
INVENTORY = "/etc/xensource-inventory"
DEFAULT_MOUNT_BASE = "/var/run/sr-mount"
# Worst last: an overall verdict is the worst of the SRs'.
RANK = {health.HEALTHY: 0, health.DEGRADED: 1, UNKNOWN: 2, health.AT_RISK: 3}
UNKNOWN_PREFIX = "unknown: "  # "heal" of an SR whose counts could not be read: the reason follows


def heal_unknown(why):
    return UNKNOWN_PREFIX + why


def heal_unknown_reason(heal):
    """Why the counts are unknown, from a "heal" value (None when they are known)."""
    return heal[len(UNKNOWN_PREFIX):] if heal and heal.startswith(UNKNOWN_PREFIX) else None


class RemoteGlusterd(object):
    """One glusterd asked over --remote-host, each read-only query asked once.

    heal info is glfsheal run here on the volfile this glusterd hands out (module doc), the
    volfile fetched once for both heal questions; ``heal_error`` keeps why it failed, which
    health.collect can only report as unknown counts."""

    def __init__(self, cli):
        self.cli = cli
        self._info = {}
        self._peers = None
        self._volfile = {}
        self.heal_error = None
        self.heal_asked = False

    def where(self):
        return self.cli.where()

    def volume_info(self, volume):
        if volume not in self._info:
            self._info[volume] = self.cli.volume_info(volume)
        return self._info[volume]

    def pool_list(self):
        if self._peers is None:
            self._peers = self.cli.pool_list()
        return self._peers

    def _briefly(self, args, parse, what):
        """One try, plus a few seconds of retries while another transaction (e.g. the same
        query from another host) holds the volume's lock: a monitoring call answers fast."""
        deadline = time.time() + STATUS_RETRY
        while True:
            try:
                return parse(self.cli.run_xml(args, what))
            except ServerUnreachable:
                raise
            except GlusterError as exc:
                if "Another transaction" not in exc.message or time.time() >= deadline:
                    raise
            time.sleep(1)

    def volume_status(self, volume, detail=True):
        return self._briefly(["volume", "status", volume] + (["detail"] if detail else []),
                             parse_volume_status, "volume status")

    def volume_clients(self, volume):
        """Who each brick counts connected: health.collect sees a client that has not reconnected."""
        return self._briefly(["volume", "status", volume, "clients"], parse_volume_clients,
                             "volume status clients")

    def heal_info(self, volume, split_brain=False):
        self.heal_asked = True
        try:
            if volume not in self._volfile:
                self._volfile[volume] = self.cli.volfile(volume)
            return self.cli.heal_info_from_volfile(volume, self._volfile[volume], split_brain)
        except GlusterError as exc:
            self.heal_error = exc.message
            raise


def _remote(host):
    return gluster.remote_cli(host, CLI_TIMEOUT)


def _unique(items):
    out = []
    for i in items:
        if i not in out:
            out.append(i)
    return out


def _unknown(result, reason, info=None, peers=None):
    result.update({"verdict": UNKNOWN, "reason": reason, "may_fail": None, "heal_pending": None,
                   "split_brain": None, "capacity": {"total": None, "free": None},
                   "peers": [{"host": p.hostname, "connected": p.connected} for p in peers or []],
                   "bricks": [], "type": info.type if info else None, "status": info.status if info else None})
    return result


def volume_health(servers, volume, cli_factory=None, reach=None):
    # type: (list, str, object, object) -> dict
    """Health of ``volume`` as this host sees it: health.collect's verdict (as_dict) plus
    ``asked`` (the glusterd that answered), ``unreachable`` (nodes that do not answer
    from here), ``brick_state`` (where the brick states come from) and ``heal``."""
    return volume_health_and_verdict(servers, volume, cli_factory, reach)[0]


def volume_health_and_verdict(servers, volume, cli_factory=None, reach=None):
    # type: (list, str, object, object) -> tuple
    """volume_health's answer and the health.VolumeHealth behind it (None when glusterd gave no
    verdict): the pre-reboot check needs the object to ask health.without_nodes."""
    make = cli_factory or _remote
    reach = reach or order_by_reachability
    result = {"volume": volume, "servers": list(servers), "asked": None, "unreachable": [],
              "heal": heal_unknown(HEAL_NOT_ASKED), "brick_state": None}
    up, down = reach(servers)
    result["unreachable"] = list(down)
    if not up:
        result["heal"] = heal_unknown("no storage node answers")
        return _unknown(result, "no storage node answers on TCP port 24007 from this host (tried %s)"
                        % ", ".join(servers)), None
    remote = info = peers = None
    errors = []
    for host in up:
        candidate = RemoteGlusterd(make(host))
        try:
            [info] = candidate.volume_info(volume)
            peers = candidate.pool_list()
        except VolumeNotFound as exc:
            return _unknown(result, str(exc)), None
        except (GlusterError, ValueError) as exc:
            errors.append("%s: %s" % (host, exc))
            continue
        remote = candidate
        result["asked"] = host
        break
    if remote is None:
        return _unknown(result, "glusterd did not answer (%s)" % "; ".join(errors)), None

    # Every brick's node, from here: the servers list may miss some.
    others = [h for h in info.hosts() if h not in up and h not in down]
    if others:
        down = down + reach(others)[1]
    result["unreachable"] = [h for h in merge_servers(servers, info.hosts()) if h in down]
    lost = [h for h in info.hosts() if h in down]
    connected = {p.uuid for p in peers if p.connected}
    stale = _unique(b.host for b in info.bricks if b.host in lost and b.host_uuid in connected)

    h = None
    if stale:
        why = ("volume status not asked: glusterd on %s still counts %s as connected and would "
               "stall until it notices" % (result["asked"], ", ".join(stale)))
        result["heal"] = heal_unknown("heal info not asked while %s does not answer" % ", ".join(stale))
    else:
        try:
            h = health.collect(remote, volume)
            result["brick_state"] = BRICK_STATE_STATUS
        except GlusterError as exc:
            why = "volume status failed: %s" % exc
        if remote.heal_error:
            result["heal"] = heal_unknown(remote.heal_error)
        elif remote.heal_asked:
            result["heal"] = HEAL_SOURCE
        elif h is not None and not h.info.started:
            result["heal"] = heal_unknown("volume %s is %s" % (volume, h.info.status.lower()))
    inferred = h is None
    if inferred:
        if not lost:
            return _unknown(result, "glusterd on %s cannot report the bricks (%s); every storage node "
                                    "answers from this host" % (result["asked"], why), info, peers), None
        bricks = [health.BrickHealth(b, b.host not in lost) for b in info.bricks]
        h = health.assess(info, peers, bricks)
        result["brick_state"] = ("inferred from this host: bricks of nodes that do not answer (%s) count "
                                 "as down, the others as online; %s" % (", ".join(lost), why))
    d = h.as_dict()
    # as_dict sums unknown counts as 0: say unknown when no brick could tell.
    if all(b.heal_pending is None for b in h.bricks):
        d["heal_pending"] = None
    if all(b.split_brain is None for b in h.bricks):
        d["split_brain"] = None
    if inferred:
        d["reason"] = "%s (seen from this host: no answer from %s)" % (h.reason, ", ".join(lost))
        d["capacity"] = {"total": None, "free": None}
    result.update(d)
    return result, h


# -- the pool's SRs ---------------------------------------------------------------------------

def this_host_uuid():
    """This host's uuid, from xapi's inventory."""
    try:
        with open(INVENTORY) as fh:
            for line in fh:
                key, _, value = line.strip().partition("=")
                if key == "INSTALLATION_UUID":
                    return value.strip().strip("'\"")
    except OSError:
        pass
    return None


def sr_health(sr, pbds, hosts, here=None, cli_factory=None, reach=None):
    """One SR of type xosan: its identity, where it is plugged, and its volume's health."""
    return sr_health_and_verdict(sr, pbds, hosts, here, cli_factory, reach)[0]


def sr_health_and_verdict(sr, pbds, hosts, here=None, cli_factory=None, reach=None):
    """sr_health's entry and its health.VolumeHealth (None when there is no verdict)."""
    entry = {"uuid": sr["uuid"], "name": sr.get("name_label", ""), "hosts": []}
    dconf = None
    for pbd_ref in sr.get("PBDs", []):
        pbd = pbds.get(pbd_ref)
        if pbd is None:
            continue
        host = hosts.get(pbd["host"], {})
        entry["hosts"].append({"name": host.get("name_label", pbd["host"]), "uuid": host.get("uuid"),
                               "attached": bool(pbd.get("currently_attached"))})
        if dconf is None or host.get("uuid") == here:
            dconf = pbd.get("device_config", {})
    try:
        if dconf is None:
            raise ConfigError("PBD", "SR %s has no PBD: no device-config to find its volume" % sr["uuid"])
        conf = devconfig.parse(dconf)
    except ConfigError as exc:
        entry.update(_unknown({"volume": None, "servers": [], "asked": None, "unreachable": [],
                               "heal": heal_unknown(HEAL_NOT_ASKED), "brick_state": None}, str(exc)))
        return entry, None
    servers = merge_servers(conf.servers, servers_from_sm_config(sr.get("sm_config")))
    result, h = volume_health_and_verdict(servers, conf.volume, cli_factory, reach)
    entry.update(result)
    return entry, h


def status_report(api, here=None, cli_factory=None, reach=None):
    # type: (object, str, object, object) -> dict
    """Every SR of type xosan of the pool, as seen from this host (``api`` = session.xenapi)."""
    here = here or this_host_uuid()
    hosts = api.host.get_all_records()
    pbds = api.PBD.get_all_records()
    me = [{"name": h.get("name_label"), "uuid": h["uuid"]} for h in hosts.values() if h.get("uuid") == here]
    srs = [sr_health(rec, pbds, hosts, here, cli_factory, reach)
           for rec in sorted(api.SR.get_all_records().values(), key=lambda r: (r.get("name_label", ""), r["uuid"]))
           if rec.get("type") == SR_TYPE]
    return {"host": me[0] if me else {"name": None, "uuid": here}, "heal": HEAL_SOURCE, "srs": srs}


def check_report(report):
    # type: (dict) -> dict
    """The short answer for monitoring: ok only when every XOSAN SR is healthy and attached
    on every host that has a PBD for it."""
    items = []
    for sr in report["srs"]:
        detached = [h["name"] for h in sr["hosts"] if not h["attached"]]
        reason = sr["reason"]
        if detached:
            reason = "%s; not attached on %s" % (reason, ", ".join(detached))
        items.append({"uuid": sr["uuid"], "name": sr["name"], "verdict": sr["verdict"], "reason": reason,
                      "ok": sr["verdict"] == health.HEALTHY and not detached})
    if not items:
        return {"ok": False, "verdict": UNKNOWN, "reason": "no SR of type xosan in this pool", "srs": []}
    worst = max((i["verdict"] for i in items), key=lambda v: RANK.get(v, RANK[UNKNOWN]))
    bad = [i for i in items if not i["ok"]]
    reason = "; ".join("%s: %s" % (i["name"], i["reason"]) for i in (bad or items))
    return {"ok": not bad, "verdict": worst, "reason": reason, "srs": items}


PROBE_ARGS = ("server", "volume")


def probe_report(args, api=None, cli_factory=None, mount_base=None, port=GLUSTERD_PORT):
    # type: (dict, object, object, str, int) -> dict
    """Volumes on a server (args server=...), or the SR uuids on a volume (and volume=...).
    The servers that answer on glusterd's ``port`` are asked first."""
    unknown = sorted(k for k in args if k not in PROBE_ARGS)
    if unknown:
        # a typo (volum=xosan) would otherwise list the volumes instead of the SRs on one
        raise InvalidValue(unknown[0], "probe does not take the argument %s" % devconfig.shown(unknown[0]),
                           hint="its arguments are %s, e.g. xe host-call-plugin host-uuid=... plugin=xosan "
                                "fn=probe args:server=10.0.50.11 [args:volume=xosan]" % " and ".join(PROBE_ARGS))
    if not (args.get("server") or "").strip():
        raise XosanError("probe needs the argument server (a storage node address)",
                         hint="e.g. xe host-call-plugin host-uuid=... plugin=xosan fn=probe "
                              "args:server=10.0.50.11 [args:volume=xosan]")
    conf = devconfig.parse({"server": args["server"], "volume": args.get("volume") or ""}, require_volume=False)
    base = mount_base or DEFAULT_MOUNT_BASE
    vsr = VolumeSR(conf, base, None, cli_factory=cli_factory or _remote, port=port)
    if conf.volume is None:
        return {"servers": conf.servers, "volumes": vsr.list_volumes()}
    known = {}
    if api is not None:
        known = {rec["uuid"]: rec.get("name_label", "") for rec in api.SR.get_all_records().values()}
    uuids = vsr.probe()
    return {"servers": conf.servers, "volume": conf.volume, "sr_uuids": uuids,
            "srs": [{"uuid": u, "name": known.get(u)} for u in uuids]}


# -- health in XOSTOR's shape ------------------------------------------------------------------
#
# XO asks XOSTOR ``host.call_plugin(master, "linstor-manager", "healthCheck", {groupName})`` and gets
# {"nodes": {name: status}, "storage-pools": {...}, "resources": {...}, "errors": [{"code": int, ...}]}
# (xcp-ng/sm drivers/linstor-manager, HealthCheckError). The codes pack a level, a type and a value
# the same way here, so a UI that shows XOSTOR's errors shows these; types 0x10000-0x40000 mean what
# they mean for XOSTOR, 0x60000 and up are XOSAN's own. The numbers never change meaning: a new
# condition gets a new number (tests/test_plugin_health.py pins the table).

LEVEL_WARN = 0x1000000
LEVEL_ERR = 0x2000000
TYPE_GENERIC, TYPE_NODE, TYPE_STORAGE_POOL, TYPE_VOLUME = 0x10000, 0x20000, 0x30000, 0x40000
TYPE_BRICK, TYPE_HEAL, TYPE_QUORUM, TYPE_SR = 0x60000, 0x70000, 0x80000, 0x90000

ERROR_CODES = {
    "GENERIC_UNEXPECTED": LEVEL_ERR | TYPE_GENERIC | 0,
    "GLUSTERD_UNREACHABLE": LEVEL_ERR | TYPE_GENERIC | 1,   # XOSTOR: GENERIC_LINSTOR_UNREACHABLE
    "NODE_NOT_ONLINE": LEVEL_WARN | TYPE_NODE | 0,          # same params as XOSTOR: name, status
    "STORAGE_POOL_UNKNOWN_FREE_SIZE": LEVEL_ERR | TYPE_STORAGE_POOL | 0,
    "STORAGE_POOL_LOW_FREE_SIZE": LEVEL_WARN | TYPE_STORAGE_POOL | 2,
    "VOLUME_NOT_STARTED": LEVEL_ERR | TYPE_VOLUME | 1,
    "BRICK_OFFLINE": LEVEL_WARN | TYPE_BRICK | 0,
    "BRICK_STATE_INFERRED": LEVEL_WARN | TYPE_BRICK | 1,
    "HEAL_PENDING": LEVEL_WARN | TYPE_HEAL | 0,
    "SPLIT_BRAIN": LEVEL_ERR | TYPE_HEAL | 1,
    "HEAL_UNKNOWN": LEVEL_WARN | TYPE_HEAL | 2,
    "QUORUM_LOST": LEVEL_ERR | TYPE_QUORUM | 0,
    "NO_NODE_MAY_FAIL": LEVEL_WARN | TYPE_QUORUM | 2,
    "QUORUM_WOULD_BREAK": LEVEL_ERR | TYPE_QUORUM | 3,
    "SR_NOT_ATTACHED": LEVEL_WARN | TYPE_SR | 0,
}
LOW_FREE_PERCENT = 10.0


def _error(key, message, **params):
    d = dict(params)
    d.update({"code": ERROR_CODES[key], "error": key, "message": message,
              "level": "error" if ERROR_CODES[key] & LEVEL_ERR else "warning"})
    return d


def health_errors(entry):
    # type: (dict) -> list
    """The errors of one sr_health entry, each with its stable code, worst conditions first."""
    errors = []
    if entry.get("verdict") == UNKNOWN:
        return [_error("GLUSTERD_UNREACHABLE", entry.get("reason") or "no verdict")]
    if entry.get("status") and entry["status"] != "Started":
        errors.append(_error("VOLUME_NOT_STARTED", "volume %s is %s" % (entry["volume"], entry["status"]),
                             name=entry["volume"], status=entry["status"]))
    if entry.get("split_brain"):
        errors.append(_error("SPLIT_BRAIN", "%d file(s) in split-brain" % entry["split_brain"],
                             entries=entry["split_brain"]))
    sq = entry.get("server_quorum")
    if (sq is not None and not sq["met"]) or "quorum lost" in (entry.get("reason") or ""):
        errors.append(_error("QUORUM_LOST", entry["reason"]))
    for p in entry.get("peers", []):
        if p["host"] != "localhost" and not p["connected"]:
            errors.append(_error("NODE_NOT_ONLINE", "storage node %s is not connected" % p["host"],
                                 name=p["host"], status="DISCONNECTED"))
    for host in entry.get("unreachable", []):
        if not any(p["host"] == host and not p["connected"] for p in entry.get("peers", [])):
            errors.append(_error("NODE_NOT_ONLINE", "storage node %s does not answer from this host" % host,
                                 name=host, status="UNREACHABLE"))
    for b in entry.get("bricks", []):
        if not b["online"]:
            errors.append(_error("BRICK_OFFLINE", "brick %s is offline" % b["name"], brick=b["name"],
                                 node=b["host"]))
        elif b.get("size_total") and b.get("size_free") is not None:
            if b["size_free"] * 100.0 / b["size_total"] < LOW_FREE_PERCENT:
                errors.append(_error("STORAGE_POOL_LOW_FREE_SIZE", "brick %s has under %d %% free"
                                     % (b["name"], LOW_FREE_PERCENT), name=b["name"], threshold=LOW_FREE_PERCENT))
        elif entry.get("brick_state") == BRICK_STATE_STATUS:
            errors.append(_error("STORAGE_POOL_UNKNOWN_FREE_SIZE", "brick %s reports no size" % b["name"],
                                 name=b["name"]))
    if entry.get("brick_state") not in (None, BRICK_STATE_STATUS):
        errors.append(_error("BRICK_STATE_INFERRED", entry["brick_state"]))
    if entry.get("heal_pending"):
        errors.append(_error("HEAL_PENDING", "%d entries waiting for self-heal" % entry["heal_pending"],
                             entries=entry["heal_pending"]))
    if entry.get("heal_pending") is None:
        errors.append(_error("HEAL_UNKNOWN", "heal and split-brain counts: %s"
                             % entry.get("heal", heal_unknown(HEAL_NOT_ASKED))))
    if entry.get("may_fail") == 0 and not any(e["error"] == "QUORUM_LOST" for e in errors):
        errors.append(_error("NO_NODE_MAY_FAIL", "one more storage node down stops I/O"))
    for h in entry.get("hosts", []):
        if not h["attached"]:
            errors.append(_error("SR_NOT_ATTACHED", "the SR is not attached on %s" % h["name"], host=h["name"]))
    return errors


def health_entry(entry):
    """One SR in XOSTOR's shape: ``nodes`` (storage node -> ONLINE | DISCONNECTED | UNREACHABLE),
    ``storage-pools`` (node -> its bricks with free-size / capacity), ``errors``; plus XOSAN's own
    verdict, reason and bricks."""
    nodes = {}
    down = set(entry.get("unreachable", []))
    for p in entry.get("peers", []):
        if p["host"] != "localhost":
            nodes[p["host"]] = "ONLINE" if p["connected"] else "DISCONNECTED"
    for b in entry.get("bricks", []):
        nodes.setdefault(b["host"], "ONLINE")
    for host in down:
        if nodes.get(host) != "DISCONNECTED":
            nodes[host] = "UNREACHABLE"
    pools = {}
    for b in entry.get("bricks", []):
        pools.setdefault(b["host"], []).append({
            "name": b["name"], "arbiter": b["arbiter"], "online": b["online"],
            "free-size": b["size_free"] if b["size_free"] is not None else -1,
            "capacity": b["size_total"] if b["size_total"] is not None else -1,
            "heal-pending": b["heal_pending"], "split-brain": b["split_brain"]})
    return {"uuid": entry["uuid"], "name": entry["name"], "volume": entry.get("volume"),
            "asked": entry.get("asked"), "verdict": entry["verdict"], "reason": entry["reason"],
            "may_fail": entry.get("may_fail"), "heal": entry.get("heal"),
            "nodes": nodes, "storage-pools": pools, "hosts": entry.get("hosts", []),
            "errors": health_errors(entry)}


HEALTH_ARGS = ("sr",)


def _only(args, allowed, fn):
    unknown = sorted(k for k in args if k not in allowed)
    if unknown:
        raise InvalidValue(unknown[0], "%s does not take the argument %s" % (fn, devconfig.shown(unknown[0])),
                           hint="its arguments are: %s" % (", ".join(allowed) or "none"))


def health_report(args, api, here=None, cli_factory=None, reach=None):
    # type: (dict, object, str, object, object) -> dict
    """``fn=health [args:sr=UUID]``: every XOSAN SR (or the one asked) in XOSTOR's shape."""
    _only(args, HEALTH_ARGS, "health")
    report = status_report(api, here, cli_factory, reach)
    srs = report["srs"]
    wanted = (args.get("sr") or "").strip()
    if wanted:
        srs = [s for s in srs if s["uuid"] == wanted]
        if not srs:
            raise InvalidValue("sr", "no SR of type xosan has uuid %s" % wanted,
                               hint="xe sr-list type=xosan lists them")
    entries = [health_entry(s) for s in srs]
    if wanted:
        return entries[0]
    return {"host": report["host"], "srs": entries,
            "errors": [dict(e, sr=s["uuid"]) for s in entries for e in s["errors"]]}


# -- may this host go down (rolling reboot / update)? -----------------------------------------

REBOOT_ARGS = ("host", "nodes")


def storage_nodes_of(api, host_uuid, volume):
    """The storage addresses of ``host_uuid``'s storage VMs of deployment ``volume``, from XAPI."""
    out = []
    for rec in api.VM.get_all_records().values():
        oc = rec.get("other_config") or {}
        if rec.get("is_a_template") or oc.get(TAG_DEPLOYMENT) != volume or oc.get(TAG_HOST) != host_uuid:
            continue
        ip = (rec.get("xenstore_data") or {}).get(XS_ADDRESS)
        if ip:
            out.append(ip)
    return out


def reboot_report(args, api, here=None, cli_factory=None, reach=None):
    # type: (dict, object, str, object, object) -> dict
    """``fn=can_reboot [args:host=UUID] [args:nodes=IP,...]``: whether ``host`` (default: this one)
    may go down now, per XOSAN SR, with every reason it may not (xosan/gluster/downtime.py).
    The heal counts come from glfsheal in this dom0 (module doc); when they cannot be read it
    answers ok=false with HEAL_UNKNOWN and the reason: it never says yes on a guess."""
    _only(args, REBOOT_ARGS, "can_reboot")
    here = here or this_host_uuid()
    target = (args.get("host") or "").strip() or here
    hosts = api.host.get_all_records()
    by_uuid = dict((rec["uuid"], rec) for rec in hosts.values())
    if target not in by_uuid:
        by_name = [rec for rec in hosts.values() if rec.get("name_label") == target]
        if len(by_name) != 1:
            raise InvalidValue("host", "no single host of this pool has uuid or name %s" % target,
                               hint="xe host-list lists them")
        target = by_name[0]["uuid"]
    given = [n.strip() for n in (args.get("nodes") or "").split(",") if n.strip()]
    pbds = api.PBD.get_all_records()
    items = []
    for rec in sorted(api.SR.get_all_records().values(), key=lambda r: (r.get("name_label", ""), r["uuid"])):
        if rec.get("type") != SR_TYPE:
            continue
        entry, h = sr_health_and_verdict(rec, pbds, hosts, here, cli_factory, reach)
        nodes = given or storage_nodes_of(api, target, entry.get("volume"))
        item = {"uuid": entry["uuid"], "name": entry["name"], "volume": entry.get("volume"), "nodes": nodes}
        if h is None:
            item["refusals"] = [_error("GLUSTERD_UNREACHABLE", entry["reason"])]
        elif not downtime.holds_bricks(h, nodes):
            item["refusals"] = []
            item["note"] = ("this host holds no brick of the volume" if nodes else
                            "this host has no storage VM of deployment %s (found by its XAPI tags); for a "
                            "volume xosan did not deploy, pass args:nodes=<its brick addresses>" % entry.get("volume"))
        else:
            item["refusals"] = [_error(r.key, r.message, **r.params) for r in downtime.refusals(
                h, nodes, heal_source=heal_unknown_reason(entry.get("heal")))]
        item["ok"] = not item["refusals"]
        items.append(item)
    bad = [i for i in items if not i["ok"]]
    reason = "; ".join("%s: %s" % (i["name"], "; ".join(r["message"] for r in i["refusals"])) for i in bad)
    return {"host": {"uuid": target, "name": by_uuid[target].get("name_label")}, "ok": not bad,
            "reason": reason or ("no XOSAN SR depends on this host's storage" if items else "no SR of type xosan"),
            "srs": items}


# -- the deployment's certificate for this dom0's FUSE client ----------------------------------

INSTALL_TLS_ARGS = ("deployment", "cert", "key", "ca")
INSTALL_TLS_OPTIONAL = ("management",)  # "yes": also management TLS (MGMT_DIR files and the switch file)


def install_tls_report(args, root=None):
    # type: (dict, str) -> dict
    """``fn=install_tls args:deployment=ID args:cert=PEM args:key=PEM args:ca=PEM``: put this dom0's
    certificate of deployment ID where the volume options make its FUSE client read it
    (xosan/gluster/tls.py cert_dir; the key 0600). The deployer has no SSH to the dom0s, but XAPI
    reaches every host of the pool, so this is how each one gets its files. The certificate must
    chain to the CA given and belong to the key, checked before anything is written: a wrong pair
    would show only as every brick refusing this host."""
    _only(args, INSTALL_TLS_ARGS + INSTALL_TLS_OPTIONAL, "install_tls")
    management = (args.get("management") or "no").strip().lower()
    if management not in ("yes", "no"):
        raise InvalidValue("management", "install_tls takes management=yes or management=no, not %r" % management)
    for k in INSTALL_TLS_ARGS:
        if not (args.get(k) or "").strip():
            raise InvalidValue(k, "install_tls needs %s" % devconfig.shown(k),
                               hint="its arguments are: %s" % ", ".join(INSTALL_TLS_ARGS))
    try:
        folder = tls.cert_dir(args["deployment"].strip(), root or tls.CERT_ROOT)
        files = {tls.OWN_CERT: tls.check_pem(tls.OWN_CERT, args["cert"]),
                 tls.PRIVATE_KEY: tls.check_pem(tls.PRIVATE_KEY, args["key"]),
                 tls.CA_LIST: tls.check_pem(tls.CA_LIST, args["ca"])}
    except tls.TLSConfigError as exc:
        raise InvalidValue("cert", exc.message, hint=exc.hint)
    scratch = tempfile.mkdtemp(prefix="xosan-tls-")
    try:
        tmp = tls.write_files(scratch, files)
        try:
            proc.run(["openssl", "verify", "-CAfile", tmp[tls.CA_LIST], tmp[tls.OWN_CERT]])
            pub_cert = proc.run(["openssl", "x509", "-noout", "-pubkey", "-in", tmp[tls.OWN_CERT]]).stdout
            pub_key = proc.run(["openssl", "pkey", "-pubout", "-in", tmp[tls.PRIVATE_KEY]]).stdout
        except CommandFailed as exc:
            raise InvalidValue("cert", "the certificate does not verify against the CA given: %s" % exc.message)
        if not pub_cert.strip() or pub_cert != pub_key:
            raise InvalidValue("key", "the key given is not the certificate's key")
        expiry = tls.not_after(tmp[tls.OWN_CERT])
    finally:
        for name in os.listdir(scratch):
            os.unlink(os.path.join(scratch, name))
        os.rmdir(scratch)
    paths = tls.write_files(folder, files)
    report = {"deployment": args["deployment"].strip(), "folder": folder, "files": sorted(paths.values()),
              "not_after": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"), "management": management == "yes"}
    if management == "yes":
        # The same files where the CLI and the FUSE client's volfile fetch read them (no option moves
        # that path), then the switch they read at start: from the next mount on, this dom0 talks to
        # glusterd over TLS only. A mount already running keeps its plain connection.
        mgmt_dir = tls.parse_mgmt_dir(proc.run(["sh", "-c", tls.MGMT_DIR_PROBE]).stdout)
        mgmt = tls.write_files(os.path.join(root, mgmt_dir.lstrip("/")) if root else mgmt_dir, files)
        switch = os.path.join(root, tls.SECURE_ACCESS.lstrip("/")) if root else tls.SECURE_ACCESS
        report["switch_was_on"] = os.path.exists(switch)
        os.makedirs(os.path.dirname(switch), exist_ok=True)
        with open(switch, "a"):
            pass
        report["files"] = sorted(list(paths.values()) + list(mgmt.values()) + [switch])
    return report


# -- the functions xapi calls: (session, args) -> string ---------------------------------------

def _json(value):
    return json.dumps(value, indent=2, sort_keys=True)


def status(session, args):
    return _json(status_report(session.xenapi))


def check(session, args):
    return _json(check_report(status_report(session.xenapi)))


def probe(session, args):
    return _json(probe_report(args, session.xenapi))


def health_fn(session, args):
    return _json(health_report(args, session.xenapi))


def can_reboot(session, args):
    return _json(reboot_report(args, session.xenapi))


def install_tls(session, args):
    return _json(install_tls_report(args))


FUNCTIONS = {"status": status, "check": check, "probe": probe, "health": health_fn, "can_reboot": can_reboot,
             "install_tls": install_tls}
