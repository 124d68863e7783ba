"""The boot-order problem: at host boot xapi plugs PBDs before it starts VMs,
but the volume lives in the storage VMs. So an attach first makes sure this
host's storage VM runs, then waits (bounded) for the volume to have quorum.
"""

import time

from xosan import facts, gluster
from xosan.errors import GlusterError, QuorumTimeout, VolumeNotFound
from xosan.gluster import health
from xosan.sr.reachability import order_by_reachability
from xosan.sr.volume_sr import gluster_cli_available


def local_storage_vms(api, host_ref, volume):
    # type: (object, str, str) -> list
    """(ref, record) of the XOSAN storage VMs of ``volume`` that belong on ``host_ref``."""
    host_uuid = api.host.get_uuid(host_ref)
    found = []
    for ref, rec in api.VM.get_all_records().items():
        oc = rec.get("other_config", {})
        if rec.get("is_a_template") or oc.get(facts.TAG_DEPLOYMENT) != volume:
            continue
        if oc.get(facts.TAG_HOST) == host_uuid or rec.get("affinity") == host_ref:
            found.append((ref, rec))
    return found


def start_local_storage_vm(api, host_ref, volume, log):
    """Start this host's storage VM if it is halted; returns the names started."""
    started = []
    for ref, rec in local_storage_vms(api, host_ref, volume):
        if rec["power_state"] == "Halted":
            log("XOSAN: starting storage VM %s on this host before attaching" % rec["name_label"])
            api.VM.start_on(ref, host_ref, False, False)
            started.append(rec["name_label"])
        elif rec["power_state"] in ("Paused", "Suspended"):
            log("XOSAN: storage VM %s is %s; not touching it" % (rec["name_label"], rec["power_state"].lower()))
    return started


def quorum_state(servers, volume, cli_factory=None):
    # type: (list, str, object) -> tuple
    """(True, "", VolumeInfo) when every replica/disperse set can take writes, else
    (False, why, None). Without a gluster CLI in dom0 it can only count answering nodes."""
    up, down = order_by_reachability(servers)
    if not up:
        return False, "no storage node answers (%s)" % ", ".join(servers), None
    if cli_factory is None and not gluster_cli_available():
        if len(up) * 2 > len(servers):
            return True, "", None
        return False, "only %d of %d storage nodes answer (no gluster CLI here to ask more)" % (
            len(up), len(servers)), None
    make = cli_factory or gluster.remote_cli
    last = None
    for host in up:
        try:
            h = health.collect(make(host), volume, with_heal=False)
        except VolumeNotFound:
            raise  # waiting does not make a volume appear: say so now
        except GlusterError as exc:
            last = str(exc)
            continue
        if not h.info.started:
            return False, "volume %s is not started" % volume, None
        sets = health.replica_sets(h.info, h.bricks)
        short = [g for g in sets if health.set_tolerance(h.info, g) < 0]
        if short:
            return False, "%d replica set(s) below quorum, bricks down: %s" % (
                len(short), ", ".join(b.name for g in short for b in g if not b.online)), None
        return True, "", h.info
    return False, last or "glusterd did not answer", None


def wait_for_quorum(servers, volume, timeout, log, cli_factory=None, poll=2.0):
    """Wait until the volume can take writes and return its VolumeInfo (None without a gluster
    CLI); QuorumTimeout names what was missing."""
    deadline = time.time() + timeout
    logged = None
    while True:
        ok, why, info = quorum_state(servers, volume, cli_factory)
        if ok:
            return info
        if why != logged:
            log("XOSAN: waiting for quorum on volume %s: %s" % (volume, why))
            logged = why
        if time.time() >= deadline:
            raise QuorumTimeout("volume %s has no quorum after %d s: %s" % (volume, timeout, why),
                                hint="Start the halted storage VMs (xosan status shows them); "
                                     "device-config:attach-timeout sets how long attach waits")
        time.sleep(poll)


def prepare_attach(api, host_ref, servers, volume, timeout, log):
    """Everything an attach does before mounting; returns the VolumeInfo glusterd gave (or None).
    ``api`` may be None (no xapi: HA config)."""
    if api is not None and host_ref:
        try:
            start_local_storage_vm(api, host_ref, volume, log)
        except Exception as exc:  # a VM we cannot start is reported by the quorum wait below
            log("XOSAN: could not start the local storage VM: %s" % exc)
    return wait_for_quorum(servers, volume, timeout, log)
