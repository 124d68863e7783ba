"""The boot-order problem: at host boot xapi plugs PBDs before it starts VMs,
but the volume lives in the storage VMs. So an attach first makes sure this
host's storage VM runs, then waits (bounded) for the volume to have quorum.
"""

import os
import time

from xosan import facts
from xosan.errors import GlusterError, QuorumTimeout, ServerUnreachable, VolumeNotFound
from xosan.gluster import health
from xosan.gluster import tls


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


def start_local_storage_vm_if_halted(api, host_ref, volume, log):
    """start_local_storage_vm for an attach: a VM that cannot be started is not an error here
    (the quorum wait that follows says what is missing); returns the names started."""
    try:
        return start_local_storage_vm(api, host_ref, volume, log)
    except Exception as exc:
        log("XOSAN: could not start the local storage VM: %s" % exc)
        return []


def quorum_state(vsr):
    # type: (object) -> tuple
    """(True, "", VolumeInfo) when every replica/disperse set of ``vsr``'s volume (a VolumeSR)
    can take writes, else (False, why, None). Probes reachability once (``vsr`` keeps the
    answer for the mount that follows). Without a gluster CLI in dom0 it can only count
    answering nodes (VolumeInfo None)."""
    servers, volume = vsr.servers, vsr.dconf.volume
    up, down = vsr.probe_reachability()
    if not up:
        return False, "no storage node answers (%s)" % ", ".join(servers), None
    if not vsr.has_gluster_cli():
        if len(up) * 2 > len(servers):
            return True, "", None
        return False, "only %d of %d storage nodes answer (no gluster CLI here to ask more)" % (
            len(up), len(servers)), None
    last, refused = None, 0
    for host in up:
        try:
            h = health.collect(vsr.cli(host), volume, with_heal=False)
        except VolumeNotFound:
            raise  # waiting does not make a volume appear: say so now
        except GlusterError as exc:
            last = str(exc)
            refused += isinstance(exc, ServerUnreachable)
            continue
        if not h.info.started:
            return False, "volume %s is not started" % volume, None
        sets = health.replica_sets(h.info, h.bricks)
        short = [g for g in sets if health.set_tolerance(h.info, g) < 0]
        if short:
            return False, "%d replica set(s) below quorum, bricks down: %s" % (
                len(short), ", ".join(b.name for g in short for b in g if not b.online)), None
        return True, "", h.info
    why = last or "glusterd did not answer"
    if refused == len(up):
        why = without_management_tls(why)
    return False, why, None


def without_management_tls(why, switch=None):
    # type: (str, object) -> str
    """Every node's port 24007 took the TCP connection, yet no glusterd answered the CLI: what a
    storage VM under management TLS does to a host that speaks plain TCP. A host without the
    switch file is such a host (one that joined the pool after the deployment, say): the reason
    then says how to give it its certificate, instead of only "cannot be reached"."""
    switch = switch or tls.SECURE_ACCESS
    if os.path.exists(switch):
        return why
    return ("%s; port 24007 answers but glusterd does not: if the deployment runs management TLS, this "
            "host lacks its certificate and %s: re-run `xosan deploy` (it gives every pool host its "
            "certificate)" % (why, switch))


def wait_for_quorum(vsr, timeout, log, poll=2.0):
    """Wait until ``vsr``'s volume can take writes and return its VolumeInfo (None without a
    gluster CLI); QuorumTimeout names what was missing. The servers found answering by the
    last check are the ones ``vsr`` mounts from."""
    volume = vsr.dconf.volume
    deadline = time.time() + timeout
    logged = None
    while True:
        ok, why, info = quorum_state(vsr)
        if ok:
            if logged is not None:
                log("XOSAN: volume %s has quorum" % volume)
            return info
        if why != logged:
            log("XOSAN: waiting for quorum on volume %s: %s" % (volume, why))
            logged = why
        if time.time() >= deadline:
            raise QuorumTimeout("volume %s has no quorum after %d s: %s" % (volume, timeout, why),
                                hint="Start the halted storage VMs (xosan status shows them); "
                                     "device-config:attach-timeout sets how long attach waits")
        time.sleep(poll)
