"""Whether a host of a deployment may go down now (a rolling reboot or update), as seen from the
machine that runs ``xosan``: through SSH to a storage VM, so, unlike the host plugin in dom0, with
the heal and split-brain counts (glfsheal runs next to a glusterd there)."""

from xosan.gluster import downtime


class RebootCheck(object):
    def __init__(self, host, address, h, refusals):
        self.host = host
        self.address = address   # the host's storage VM address, None when it has none
        self.health = h
        self.refusals = refusals

    @property
    def ok(self):
        return not self.refusals

    def as_dict(self):
        return {"host": self.host, "node": self.address, "ok": self.ok,
                "verdict": self.health.verdict if self.health else None,
                "refusals": [r.as_dict() for r in self.refusals]}


def check_reboot(ops, host_name):
    # type: (object, str) -> RebootCheck
    """``ops``: an Operations. A host without a storage VM of this deployment may always go down
    (its dom0 mount is one client among others)."""
    vms = ops.storage_vms()
    if host_name not in vms:
        ops.inventory.host(host_name)  # an unknown host name is an error, not a yes
        return RebootCheck(host_name, None, None, [])
    _, _, ip = vms[host_name]
    h, _ = ops.health()
    return RebootCheck(host_name, ip, h, downtime.refusals(h, [ip], heal_source="no heal answer over SSH"))
