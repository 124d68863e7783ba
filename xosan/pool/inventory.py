"""What the pool has, and which of it a deployment made.

The ``xosan-deployment`` tag on each object is the only record of ownership (there is
no state file to lose or to disagree with the pool), so every piece asks here instead
of remembering refs between runs.
"""

from xosan import facts
from xosan.errors import DeployError, XosanError
from xosan.pool import planner, storage_vm

GiB = 1024 ** 3
MiB = 1024 ** 2

# SR types a storage VM's disks may go on: a host's own disks, never shared storage (a
# storage VM must boot with every other host down).
LOCAL_SR_TYPES = ("lvm", "ext", "xfs", "file", "zfs", "largeblock")


def free_bytes(sr):
    return int(sr["physical_size"]) - int(sr["physical_utilisation"])


def brick_bytes(storage, host_name, sr, own_bytes=0, wanted=None):
    """The data disk of the storage VM on ``host_name``, on local SR ``sr``: ``wanted`` (a new
    brick matching the volume's others), else what ``storage`` (the manifest's StorageSpec)
    asks. ``own_bytes``: this deployment's disks already on the SR, which a re-run reuses and so
    counts as free. Raises DeployError when it does not fit or leaves a brick too small to use."""
    free = free_bytes(sr) + own_bytes
    if wanted:
        size = wanted
    elif storage.brick_size == "all":
        size = (free - storage.reserve) // MiB * MiB
    else:
        size = storage.brick_size
    if size > free:
        raise DeployError("host %s: brick size %s does not fit on SR %r (%s free)" % (
            host_name, planner.format_bytes(size), sr["name_label"], planner.format_bytes(free)),
            hint="Lower storage.brick-size or use brick-size: all" if not wanted else
            "Free space on the local SR: the new brick must be as large as the volume's others")
    if size < GiB:
        raise DeployError("host %s: only %s free on SR %r after the %s reserve" % (
            host_name, planner.format_bytes(max(size, 0)), sr["name_label"],
            planner.format_bytes(storage.reserve)), hint="Free space on the local SR")
    return size


class Inventory(object):
    def __init__(self, xapi, deployment_id):
        self.x = xapi
        self.api = xapi.api
        self.id = deployment_id

    def mine(self, cls):
        """(ref, record) of this deployment's objects of class ``cls``."""
        recs = self.x.call(getattr(self.api, cls).get_all_records)
        return [(r, rec) for r, rec in recs.items()
                if rec.get("other_config", {}).get(facts.TAG_DEPLOYMENT) == self.id]

    def master(self):
        return self.x.call(self.api.pool.get_master, self.x.call(self.api.pool.get_all)[0])

    def host(self, name):
        refs = self.x.call(self.api.host.get_by_name_label, name)
        if not refs:
            raise XosanError("no host named %r in the pool" % name)
        return refs[0], self.x.call(self.api.host.get_record, refs[0])

    def chosen_hosts(self, wanted):
        """(ref, record) of the hosts ``wanted`` names ("all", or names in order), at least 2."""
        recs = self.x.call(self.api.host.get_all_records)
        by_name = dict((rec["name_label"], (ref, rec)) for ref, rec in recs.items())
        if wanted == "all":
            chosen = sorted(by_name.values(), key=lambda rr: rr[1]["name_label"])
        else:
            missing = [h for h in wanted if h not in by_name]
            if missing:
                raise DeployError("hosts not in the pool: %s" % ", ".join(missing),
                                  hint="Pool hosts: %s" % ", ".join(sorted(by_name)))
            chosen = [by_name[h] for h in wanted]
        if len(chosen) < 2:
            raise DeployError("XOSAN needs at least 2 hosts, the pool has %d" % len(chosen))
        return chosen

    def pool_hosts(self):
        """[(name, ref)] of every host of the pool, by name: every one mounts the SR."""
        recs = self.x.call(self.api.host.get_all_records)
        return sorted((rec["name_label"], ref) for ref, rec in recs.items())

    def local_sr(self, host_ref, host_rec, name="auto"):
        """(ref, record) of the host's local SR with the most free space (or the one ``name``d)."""
        srs = self.x.call(self.api.SR.get_all_records)
        pbds = self.x.call(self.api.PBD.get_all_records)
        local = []
        for pbd in pbds.values():
            sr = srs.get(pbd["SR"])
            if pbd["host"] == host_ref and sr and not sr["shared"] and sr.get("content_type") == "user" \
                    and sr["type"] in LOCAL_SR_TYPES:
                local.append((pbd["SR"], sr))
        if name != "auto":
            local = [(r, s) for r, s in local if s["name_label"] == name]
        if not local:
            raise DeployError("host %s has no local SR%s to carve a data disk from" % (
                host_rec["name_label"], "" if name == "auto" else " named %r" % name),
                hint="Give storage.sr the name of the host's local SR, or add a local disk SR")
        return max(local, key=lambda rs: free_bytes(rs[1]))

    def own_bytes_on(self, sr_ref):
        """Size of this deployment's disks on an SR."""
        return sum(int(rec["virtual_size"]) for _, rec in self.mine("VDI") if rec.get("SR") == sr_ref)

    def storage_vms(self):
        """{host name: (vm ref, vm record, storage address)} of this deployment."""
        hosts = self.x.call(self.api.host.get_all_records)
        by_uuid = dict((h["uuid"], h["name_label"]) for h in hosts.values())
        out = {}
        for ref, rec in self.mine("VM"):
            out[by_uuid.get(rec["other_config"].get(facts.TAG_HOST), "?")] = (ref, rec, address_of(rec))
        return out

    def volfile_servers(self):
        # type: () -> list
        """The storage addresses the SR's dom0s mount from, in the order they try them (its PBDs'
        device-config ``server``, see xosan/sr/volume_sr.py); [] before the SR exists."""
        for _, rec in self.mine("SR"):
            for pbd in rec.get("PBDs", []):
                dconf = self.x.call(self.api.PBD.get_record, pbd).get("device_config", {})
                return [s.strip() for s in dconf.get("server", "").split(",") if s.strip()]
        return []

    def storage_vm_of(self, host_name):
        vms = self.storage_vms()
        if host_name not in vms:
            raise XosanError("host %s has no XOSAN storage VM" % host_name,
                             hint="Hosts with one: %s" % ", ".join(sorted(vms)))
        return vms[host_name]

    def data_disk_bytes(self, vm_rec):
        """The data disk's size (device 1 and up: device 0 is the appliance's system disk)."""
        sizes = []
        for vbd in vm_rec["VBDs"]:
            if self.x.call(self.api.VBD.get_userdevice, vbd) == "0":
                continue
            vdi = self.x.call(self.api.VBD.get_VDI, vbd)
            if vdi and vdi != "OpaqueRef:NULL":
                sizes.append(int(self.x.call(self.api.VDI.get_virtual_size, vdi)))
        if not sizes:
            raise XosanError("cannot tell the data disk size of %s" % vm_rec["name_label"])
        return max(sizes)


def address_of(vm_rec):
    """A storage VM's storage address, as deploy wrote it into its xenstore_data."""
    return storage_vm.from_xenstore_data(vm_rec.get("xenstore_data")).get("ip")
