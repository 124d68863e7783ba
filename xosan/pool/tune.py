"""``xosan tune``: bring an existing deployment's volume to the option set new deployments get.

Deploy sets the options once, when it creates the volume; the set changes when a measurement
shows a better one (issue 14 shipped thread counts that made small random I/O faster). A volume
made earlier keeps its old set until someone applies the new one, and nobody should have to
read the release notes and type ``gluster volume set`` on a storage VM to get there. So: read
what glusterd has now (``volume get VOL all``, defaults included), compare with the shipped set
sized for this pool's cores, show the difference, and set only what differs, only when asked.

What it never does: change a creation-only option (sharding, the shard size) on a volume that
holds data, or anything the layout decided (the 2-host server quorum). Safety options of the
virt group (quorum, strict O_DIRECT, sharding) are checked too, so a volume someone loosened by
hand shows up, and is set back on ``--apply`` where that is safe.
"""

from xosan.errors import XosanError
from xosan.gluster import options as gopts
from xosan.pool.inventory import Inventory  # noqa: F401  (the type cores() reads)

SET = "set"            # differs; --apply sets it
SAME = "same"          # already the shipped value
FROZEN = "creation-only"  # differs, but may only be set before the first write: left alone, said so
UNKNOWN = "unknown"    # this glusterd has no such option (an older GlusterFS): left alone, said so

_TRUE = ("on", "yes", "true", "enable")
_FALSE = ("off", "no", "false", "disable")


class TuneError(XosanError):
    """The volume's options could not be read or did not take the values set."""


def normal(value):
    # type: (str) -> str
    """glusterd accepts several spellings of one value (``enable``/``on``, ``51``/``51%``, ``64MB``/
    ``64mb``) and shows back the one it was given; a diff must not call those different."""
    v = (value or "").strip().lower()
    if v in _TRUE:
        return "on"
    if v in _FALSE:
        return "off"
    if v.endswith("%"):
        v = v[:-1].strip()
    return v


class Change(object):
    def __init__(self, option, now, want, why, action, default=False):
        self.option = option
        self.now = now          # None: glusterd does not know the option
        self.want = want
        self.why = why
        self.action = action
        self.default = default  # ``now`` is glusterd's default, nobody set it

    @property
    def target(self):
        """What ``gluster volume set`` names: the volume, or ``all`` for a cluster-wide option."""
        return "all" if self.option in gopts.CLUSTER_WIDE else None

    def as_dict(self):
        return {"option": self.option, "now": self.now, "now_is_default": self.default,
                "would_be": self.want, "action": self.action, "why": self.why}

    def __repr__(self):
        return "Change(%r, %r -> %r, %s)" % (self.option, self.now, self.want, self.action)


def wanted(storage_vcpus=None, dom0_cores=None):
    """(option, value, why) tune compares: the virt group's safety items, then what deploy sets."""
    return list(gopts.SAFETY_OPTIONS) + gopts.vm_image_options(storage_vcpus, dom0_cores)


def diff(current, want):
    # type: (dict, list) -> list
    """Changes, in ``want``'s order, from ``current`` ({option: OptionValue}, parse_volume_get)."""
    changes = []
    for option, value, why in want:
        ov = current.get(option)
        if ov is None:
            changes.append(Change(option, None, value, why, UNKNOWN))
        elif normal(ov.value) == normal(value):
            changes.append(Change(option, ov.value, value, why, SAME, ov.default))
        elif option in gopts.CREATION_ONLY:
            changes.append(Change(option, ov.value, value, why, FROZEN, ov.default))
        else:
            changes.append(Change(option, ov.value, value, why, SET, ov.default))
    return changes


class Cores(object):
    """The core counts the thread options are sized from, and where each came from (the summary
    says so: a guess must not look like a fact)."""

    def __init__(self, storage_vcpus, storage_source, dom0_cores, dom0_source):
        self.storage_vcpus = storage_vcpus
        self.storage_source = storage_source
        self.dom0_cores = dom0_cores
        self.dom0_source = dom0_source

    def as_dict(self):
        return {"storage_vm_vcpus": self.storage_vcpus, "storage_vm_vcpus_from": self.storage_source,
                "dom0_cores": self.dom0_cores, "dom0_cores_from": self.dom0_source}


def _vcpus(rec):
    try:
        n = int(rec.get("VCPUs_at_startup") or rec.get("VCPUs_max"))
    except (TypeError, ValueError):
        return None
    return n if n > 0 else None


def cores(inventory, manifest_vcpus=None):
    # type: (Inventory, object) -> Cores
    """Storage VM vCPUs from this deployment's VMs (the fewest: one brick set is as fast as its
    slowest node), else the manifest's ``vm.vcpus``; dom0 cores from the pool's control domains
    (every host's dom0 mounts the volume, the fewest counts), else the measured default."""
    vm = [n for n in (_vcpus(rec) for _, rec in inventory.mine("VM")) if n]
    if vm:
        storage = Cores(min(vm), "its storage VMs' VCPUs_at_startup", None, None)
    elif manifest_vcpus:
        storage = Cores(int(manifest_vcpus), "the manifest's vm.vcpus", None, None)
    else:
        storage = Cores(gopts.MEASURED_CORES, "assumed (no storage VM found)", None, None)
    recs = inventory.x.call(inventory.api.VM.get_all_records)
    dom0 = [n for n in (_vcpus(rec) for rec in recs.values() if rec.get("is_control_domain")) if n]
    if dom0:
        storage.dom0_cores, storage.dom0_source = min(dom0), "the pool's control domains (fewest)"
    else:
        storage.dom0_cores = gopts.MEASURED_CORES
        storage.dom0_source = "assumed: XAPI shows no control domain"
    return storage


class TunePlan(object):
    def __init__(self, volume, cores_, changes):
        self.volume = volume
        self.cores = cores_
        self.changes = changes

    def to_set(self):
        return [c for c in self.changes if c.action == SET]

    def left(self):
        return [c for c in self.changes if c.action in (FROZEN, UNKNOWN)]

    def as_dict(self):
        return {"volume": self.volume, "cores": self.cores.as_dict(),
                "to_set": len(self.to_set()), "left_alone": len(self.left()),
                "changes": [c.as_dict() for c in self.changes]}


def plan(cli, volume, cores_):
    """What ``--apply`` would do to ``volume``, read through ``cli`` (a GlusterCLI on a storage VM)."""
    current = cli.volume_get(volume)
    return TunePlan(volume, cores_, diff(current, wanted(cores_.storage_vcpus, cores_.dom0_cores)))


def apply(cli, tplan, progress=None):
    """Set what differs, in order, then read glusterd's view again and fail if any option did not
    take. ``volume set`` is online: glusterd hands bricks and clients the new graph, nothing is
    remounted or restarted. Returns the plan as re-read (every change SAME when it worked)."""
    for c in tplan.to_set():
        cli.volume_set(c.target or tplan.volume, c.option, c.want)
        if progress:
            progress("set %s %s (was %s)" % (c.option, c.want, c.now))
    after = plan(cli, tplan.volume, tplan.cores)
    still = after.to_set()
    if still:
        raise TuneError("after volume set, glusterd still has %s" % ", ".join(
            "%s=%s (wanted %s)" % (c.option, c.now, c.want) for c in still))
    return after


def _short(why, width):
    """The first clause of a reason, to keep the summary on one screen (--json has it whole)."""
    for sep in ("; ", ": ", ". ", " ("):
        i = why.find(sep)
        if 0 < i:
            why = why[:i]
    return why if len(why) <= width else why[:width - 3].rstrip() + "..."


def summary(tplan, applied=False, width=130):
    """The lines ``xosan tune`` prints: what differs and why, what is left alone and why, sizes used."""
    c = tplan.cores
    lines = ["Volume %s: sized for %d storage VM vCPUs (%s) and %d dom0 cores (%s)."
             % (tplan.volume, c.storage_vcpus, c.storage_source, c.dom0_cores, c.dom0_source)]
    todo = tplan.to_set()
    shown = todo + tplan.left()
    if shown:
        w = max(len(ch.option) for ch in shown)
        lines.append("  %-*s  %-14s %-10s %s" % (w, "option", "now", "would be", "why"))
        for ch in shown:
            now = "(none)" if ch.now is None else ch.now + (" (default)" if ch.default else "")
            if ch.action == SET:
                why = _short(ch.why, max(20, width - w - 30))
            elif ch.action == FROZEN:
                why = "left alone: creation-only, the volume already holds data"
            else:
                why = "left alone: this GlusterFS has no such option"
            lines.append("  %-*s  %-14s %-10s %s" % (w, ch.option, now, ch.want, why))
    same = len(tplan.changes) - len(shown)
    if applied:
        lines.append("Applied: every one of the %d options XOSAN sets now has the shipped value "
                     "(read back from glusterd)." % (len(tplan.changes) - len(tplan.left())))
    elif todo:
        lines.append("%d option(s) differ, %d already as shipped. Dry run: nothing changed." % (len(todo), same))
        lines.append("`xosan tune --apply` sets them online: gluster volume set, the bricks and every dom0's "
                     "FUSE client switch to the new settings without a remount; VMs keep running.")
        later = sorted(ch.option for ch in todo if ch.option in gopts.ON_NEXT_CONNECTION)
        if later:
            lines.append("Except %s: applied to connections made after it (a dom0 gets it at its next SR "
                         "re-plug or reboot)." % ", ".join(later))
    else:
        lines.append("Nothing to change: all %d options XOSAN sets are as shipped%s."
                     % (same, "" if not tplan.left() else " (besides those left alone above)"))
    return lines
