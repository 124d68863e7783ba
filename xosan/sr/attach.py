"""sr_attach on this host, in one call: what the driver's attach does, in order.

1. the SM framework's GC must take a xosan SR (gc.check): fail before mounting anything;
2. already attached here (xapi plugs twice after a toolstack restart): relink, ask nothing;
3. the boot order: start this host's storage VM if it is halted (through the XAPI session
   the framework gave the driver; none when xapi is down, for HA's attach from config);
4. wait, at most ``timeout`` seconds, until every replica set has quorum; each check probes
   which servers answer once, and the last probe is the one the mount uses;
5. mount from an answering server (the others as backup volfile servers), link the SR path;
6. answer the servers to remember in sm-config for the next attach: the volume's brick hosts
   as glusterd gave them in step 4, then the servers known before.
"""

from xosan.sr import boot
from xosan.sr import gc as xgc


def attach(vsr, api, host_ref, timeout, log, cleanup=None, poll=2.0):
    # type: (object, object, str, float, object, object, float) -> list
    """Attach the SR of ``vsr`` (a VolumeSR) here; return the servers to remember, or None
    when it was already attached (nothing was asked of the cluster). ``api``: the session's
    xenapi, or None; ``cleanup``: the framework's cleanup module, checked first; ``log``: SMlog."""
    if cleanup is not None:
        xgc.check(cleanup)
    if vsr.is_attached():
        vsr.attach()  # only the SR link, if it went missing
        return None
    volume = vsr.dconf.volume
    if api is not None and host_ref:
        boot.start_local_storage_vm_if_halted(api, host_ref, volume, log)
    info = boot.wait_for_quorum(vsr, timeout, log, poll=poll)
    answering = vsr.answering_servers()
    silent = [s for s in vsr.ordered_servers() if s not in answering]
    log("XOSAN: mounting volume %s from %s%s" % (volume, ", ".join(answering),
                                                  " (no answer from %s)" % ", ".join(silent) if silent else ""))
    vsr.attach()
    return vsr.refreshed_servers(info)
