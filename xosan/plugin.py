"""The XAPI host plugin ``xosan`` (/etc/xapi.d/plugins/xosan): health of the XOSAN SRs
for Xen Orchestra, scripts and monitoring, from any host of the pool:

    xe host-call-plugin host-uuid=... plugin=xosan fn=status
    xe host-call-plugin host-uuid=... plugin=xosan fn=check
    xe host-call-plugin host-uuid=... plugin=xosan fn=probe args:server=10.0.50.11 [args:volume=xosan]

Every function answers a JSON string. The plugin file only dispatches; the logic is here.

dom0 has no SSH key to the storage VMs, so glusterd is asked read-only over the
network (``gluster --remote-host``), from the SR's device-config servers and the
cluster's own list kept in ``sm-config:xosan-servers``, first answering server first.
What that gives, measured on the lab (GlusterFS 10.3):
- ``volume info``, ``volume list``, ``pool list``, ``volume status VOL detail`` work;
- ``volume heal VOL info [split-brain]`` does not: the CLI runs glfsheal on THIS
  machine, which fetches the volfile from the local glusterd's socket
  (/var/run/glusterd.socket; none in dom0: "Not able to fetch volfile from glusterd"),
  and ``volume heal VOL statistics heal-count`` is not in glusterd's read-only program
  ("RPC Program procedure not available ... in GlusterD svc cli read-only"). So heal
  and split-brain counts are unknown here (None, "heal": "unknown over --remote-host"):
  ``xosan status`` (SSH to a storage VM) has them;
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
import time

from xosan import gluster
from xosan.errors import ConfigError, GlusterError, ServerUnreachable, VolumeNotFound, XosanError
from xosan.gluster import health, parse_volume_status
from xosan.sr import devconfig
from xosan.sr.reachability import GLUSTERD_PORT, order_by_reachability
from xosan.sr.volume_sr import VolumeSR, merge_servers, servers_from_sm_config

SR_TYPE = "xosan"
UNKNOWN = "unknown"  # glusterd could not be asked: no verdict
HEAL_UNKNOWN = "unknown over --remote-host"
BRICK_STATE_STATUS = "volume status"
CLI_TIMEOUT = 10
STATUS_RETRY = 6
INVENTORY = "/etc/xensource-inventory"
DEFAULT_MOUNT_BASE = "/var/run/sr-mount"
# Worst last: an overall verdict is the worst of the SRs'.
RANK = {health.HEALTHY: 0, health.DEGRADED: 1, UNKNOWN: 2, health.AT_RISK: 3}


class RemoteGlusterd(object):
    """One glusterd asked over --remote-host, each read-only query asked once.

    heal info cannot be asked from dom0 (see the module doc): it raises GlusterError,
    which health.collect reports as unknown heal counts."""

    def __init__(self, cli):
        self.cli = cli
        self._info = {}
        self._peers = None

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

    def volume_status(self, volume, detail=True):
        """One try, plus a few seconds of retries while another transaction (e.g. the same
        query from another host) holds the volume's lock: a monitoring call answers fast."""
        args = ["volume", "status", volume] + (["detail"] if detail else [])
        deadline = time.time() + STATUS_RETRY
        while True:
            try:
                return parse_volume_status(self.cli.run_xml(args, "volume status"))
            except ServerUnreachable:
                raise
            except GlusterError as exc:
                if "Another transaction" not in exc.message or time.time() >= deadline:
                    raise
            time.sleep(1)

    def heal_info(self, volume, split_brain=False):
        raise GlusterError("heal info is %s: glfsheal only asks the glusterd of the machine it runs on"
                           % HEAL_UNKNOWN)


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
    make = cli_factory or _remote
    reach = reach or order_by_reachability
    result = {"volume": volume, "servers": list(servers), "asked": None, "unreachable": [],
              "heal": HEAL_UNKNOWN, "brick_state": None}
    up, down = reach(servers)
    result["unreachable"] = list(down)
    if not up:
        return _unknown(result, "no storage node answers on TCP port 24007 from this host (tried %s)"
                        % ", ".join(servers))
    remote = info = peers = None
    errors = []
    for host in up:
        candidate = RemoteGlusterd(make(host))
        try:
            [info] = candidate.volume_info(volume)
            peers = candidate.pool_list()
        except VolumeNotFound as exc:
            return _unknown(result, str(exc))
        except (GlusterError, ValueError) as exc:
            errors.append("%s: %s" % (host, exc))
            continue
        remote = candidate
        result["asked"] = host
        break
    if remote is None:
        return _unknown(result, "glusterd did not answer (%s)" % "; ".join(errors))

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
    else:
        try:
            h = health.collect(remote, volume)
            result["brick_state"] = BRICK_STATE_STATUS
        except GlusterError as exc:
            why = "volume status failed: %s" % exc
    inferred = h is None
    if inferred:
        if not lost:
            return _unknown(result, "glusterd on %s cannot report the bricks (%s); every storage node "
                                    "answers from this host" % (result["asked"], why), info, peers)
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
    return result


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
                               "heal": HEAL_UNKNOWN, "brick_state": None}, str(exc)))
        return entry
    servers = merge_servers(conf.servers, servers_from_sm_config(sr.get("sm_config")))
    entry.update(volume_health(servers, conf.volume, cli_factory, reach))
    return entry


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
    return {"host": me[0] if me else {"name": None, "uuid": here}, "heal": HEAL_UNKNOWN, "srs": srs}


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


def probe_report(args, api=None, cli_factory=None, mount_base=None, port=GLUSTERD_PORT):
    # type: (dict, object, object, str, int) -> dict
    """Volumes on a server (args server=...), or the SR uuids on a volume (and volume=...).
    The servers that answer on glusterd's ``port`` are asked first."""
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


# -- the functions xapi calls: (session, args) -> string ---------------------------------------

def _json(value):
    return json.dumps(value, indent=2, sort_keys=True)


def status(session, args):
    return _json(status_report(session.xenapi))


def check(session, args):
    return _json(check_report(status_report(session.xenapi)))


def probe(session, args):
    return _json(probe_report(args, session.xenapi))


FUNCTIONS = {"status": status, "check": check, "probe": probe}
