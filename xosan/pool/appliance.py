"""The storage VM appliance in a pool: find its template, or import the VHD and make one.

The image is imported once per pool (a 4 GiB disk, half a gigabyte on the wire)
and turned into a template; deploy then copies that template onto each host's
local SR. A template remembers the sha256 of the image it came from
(other_config ``xosan-appliance-sha256``), so a re-run, a second deployment or
``add-host`` finds it instead of uploading again, and a newer image is imported
next to the old one rather than over it (VMs made from the old one keep working).
"""

import hashlib
import json
import os
import time

from xosan.errors import XosanError
from xosan.pool import vhd

SHA_KEY = "xosan-appliance-sha256"
VERSION_KEY = "xosan-appliance-version"
IMPORTED_KEY = "xosan-appliance-imported"
IMPORTED_BY_KEY = "xosan-appliance-imported-by"
MANIFEST_NAME = "manifest.json"
MiB = 1024 ** 2

# An HVM guest booting its first disk through the BIOS (the image has GRUB on the MBR and
# no EFI partition), with the platform flags XCP-ng's Linux templates use.
HVM_BOOT_POLICY = "BIOS order"
HVM_BOOT_PARAMS = {"order": "c", "firmware": "bios"}
PLATFORM = {"acpi": "1", "apic": "true", "pae": "true", "nx": "true", "hpet": "true", "viridian": "false",
            "vga": "std", "videoram": "8", "timeoffset": "0", "device-model": "qemu-upstream-compat",
            "secureboot": "false"}
LVM_TYPES = ("lvm", "lvmoiscsi", "lvmohba")


class ApplianceError(XosanError):
    pass


class Image(object):
    """A built appliance: the VHD, its manifest.json, and what the footer says."""

    def __init__(self, path, manifest, info):
        self.path = path
        self.manifest = manifest
        self.info = info

    version = property(lambda self: str(self.manifest.get("version", "unknown")))
    sha256 = property(lambda self: self.manifest["vhd"]["sha256"])
    virtual_size = property(lambda self: self.info.virtual_size)
    size = property(lambda self: self.info.file_size)

    def describe(self):
        return "%s version %s (%s, %s, %s virtual)" % (
            self.manifest.get("name", "XOSAN storage VM"), self.version, os.path.basename(self.path),
            _size(self.size), _size(self.virtual_size))


def _size(n):
    return "%d MiB" % (n // MiB) if n >= MiB else "%d KiB" % max(1, n // 1024)


def sha256_file(path, chunk=4 * MiB):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            block = fh.read(chunk)
            if not block:
                return h.hexdigest()
            h.update(block)


def load_image(path, key=None, verify=True):
    # type: (str, str, bool) -> Image
    """The VHD (or its manifest.json) at ``path``, checked against each other before anything is created.

    ``key``, if given, is the manifest key or flag the path came from: messages start with it.
    """
    try:
        return _load_image(path, verify)
    except (ApplianceError, vhd.VhdError) as exc:
        raise ApplianceError("%s%s" % (key + ": " if key else "", exc.message), exc.hint)


def _load_image(path, verify):
    path = os.path.abspath(os.path.expanduser(path))
    if os.path.isdir(path):
        path = os.path.join(path, MANIFEST_NAME)
    if not os.path.exists(path):
        raise ApplianceError("%s does not exist" % path,
                             hint="Build the appliance with `make appliance` (build/appliance/) or give its path")
    if os.path.basename(path) == MANIFEST_NAME:
        manifest_path = path
        manifest = _read_manifest(manifest_path)
        path = os.path.join(os.path.dirname(manifest_path), manifest["vhd"]["file"])
        if not os.path.exists(path):
            raise ApplianceError("%s names the image %s, which is not there" % (manifest_path, manifest["vhd"]["file"]),
                                 hint="Keep the VHD next to its manifest.json")
    else:
        manifest_path = os.path.join(os.path.dirname(path), MANIFEST_NAME)
        if not os.path.exists(manifest_path):
            raise ApplianceError("no %s next to %s" % (MANIFEST_NAME, path),
                                 hint="Keep the manifest.json that `make appliance` wrote next to the VHD")
        manifest = _read_manifest(manifest_path)
        if manifest["vhd"]["file"] != os.path.basename(path):
            raise ApplianceError("%s describes %s, not %s" % (
                manifest_path, manifest["vhd"]["file"], os.path.basename(path)),
                hint="Give the VHD that manifest describes, or the manifest itself")
    info = vhd.read_info(path)
    if int(manifest["vhd"].get("virtual_bytes", info.virtual_size)) != info.virtual_size:
        raise ApplianceError("%s is %d bytes virtual, its manifest says %s" % (
            path, info.virtual_size, manifest["vhd"]["virtual_bytes"]),
            hint="The VHD and manifest.json come from different builds: build again")
    if verify:
        actual = sha256_file(path)
        if actual != manifest["vhd"]["sha256"]:
            raise ApplianceError("%s has sha256 %s, its manifest says %s" % (
                path, actual, manifest["vhd"]["sha256"]),
                hint="The file is corrupt or from another build: copy or build it again")
    return Image(path, manifest, info)


def _read_manifest(path):
    try:
        with open(path) as fh:
            manifest = json.load(fh)
    except (OSError, ValueError) as exc:
        raise ApplianceError("cannot read %s: %s" % (path, exc))
    vhd_part = manifest.get("vhd") if isinstance(manifest, dict) else None
    if not isinstance(vhd_part, dict) or not all(isinstance(vhd_part.get(k), str) for k in ("file", "sha256")):
        raise ApplianceError("%s is not an appliance manifest (no vhd.file / vhd.sha256)" % path,
                             hint="Give the manifest.json that `make appliance` wrote")
    return manifest


# -- in the pool ---------------------------------------------------------------------------------------

def templates(x):
    """(ref, record) of the pool's imported appliance templates, newest import first."""
    recs = x.call(x.api.VM.get_all_records)
    found = [(r, rec) for r, rec in recs.items()
             if rec.get("is_a_template") and rec.get("other_config", {}).get(SHA_KEY)]
    return sorted(found, key=lambda rr: rr[1]["other_config"].get(IMPORTED_KEY, ""), reverse=True)


def find_template(x, sha256=None, name=None):
    """The template for image ``sha256``; without it, the newest imported one, else one named ``name``."""
    mine = templates(x)
    if sha256:
        for ref, rec in mine:
            if rec["other_config"][SHA_KEY] == sha256:
                return ref
        return None
    if mine:
        return mine[0][0]
    if name:
        for ref, rec in x.call(x.api.VM.get_all_records).items():
            if rec.get("is_a_template") and rec["name_label"] == name:
                return ref
    return None


def import_template(x, image, sr, name, imported_by, progress=None):
    # type: (object, Image, str, str, str, object) -> str
    """VDI on ``sr`` <- the VHD over HTTP, then an HVM template booting it. Returns the template.

    Half-made objects are removed when a step fails, so a re-run starts clean.
    ``progress(text)`` gets a line every 10% of the upload.
    """
    say = progress or (lambda text: None)
    api = x.api
    host = upload_host(x, sr)
    vdi = template = None
    try:
        vdi = x.call(api.VDI.create, {
            "name_label": "%s %s system disk" % (name, image.version),
            "name_description": "XOSAN storage VM appliance %s (sha256 %s)" % (image.version, image.sha256[:16]),
            "SR": sr, "virtual_size": str(image.virtual_size), "type": "user", "sharable": False,
            "read_only": False, "other_config": {}, "xenstore_data": {}, "sm_config": {}, "tags": []})
        _upload(x, vdi, image, say, host)
        template = x.call(api.VM.create, template_record(name, image))
        x.call(api.VBD.create, {
            "VM": template, "VDI": vdi, "userdevice": "0", "bootable": True, "mode": "RW", "type": "Disk",
            "empty": False, "unpluggable": False, "other_config": {"owner": "true"},
            "qos_algorithm_type": "", "qos_algorithm_params": {}})
        # marked last: only a whole template is found by find_template
        for k, v in ((VERSION_KEY, image.version), (IMPORTED_BY_KEY, imported_by),
                     (IMPORTED_KEY, time.strftime("%Y%m%dT%H:%M:%SZ", time.gmtime())),
                     (SHA_KEY, image.sha256)):
            x.call(api.VM.add_to_other_config, template, k, v)
        x.call(api.VDI.add_to_other_config, vdi, SHA_KEY, image.sha256)
    except XosanError:
        for fn, ref in ((api.VM.destroy, template), (api.VDI.destroy, vdi)):
            if ref:
                try:
                    x.call(fn, ref)
                except XosanError:
                    pass
        raise
    return template


def upload_host(x, sr):
    """Where the upload must go: None for the master, or the address of the one host that sees ``sr``.

    Also refuses an SR xapi cannot write a VHD into: on LVM SRs that do not store VHDs
    (sm-config use_vhd) new volumes are not zeroed and xapi's vhd-tool stops with
    "unimplemented: prezeroed" after the upload.
    """
    rec = x.call(x.api.SR.get_record, sr)
    if rec["type"] in LVM_TYPES and rec.get("sm_config", {}).get("use_vhd") != "true":
        raise ApplianceError("SR %r (type %s, raw LVM volumes) cannot take a VHD import" % (
            rec["name_label"], rec["type"]), hint="Choose another SR with vm.image-sr (e.g. an ext or NFS SR)")
    if rec.get("shared") or rec.get("content_type") == "iso":
        if rec.get("content_type") == "iso":
            raise ApplianceError("SR %r holds ISOs, not VM disks" % rec["name_label"],
                                 hint="Choose a disk SR with vm.image-sr")
        return None
    hosts = [x.call(x.api.PBD.get_host, pbd) for pbd in rec["PBDs"]]
    master = x.call(x.api.pool.get_master, x.call(x.api.pool.get_all)[0])
    if not hosts or master in hosts:
        return None
    return x.call(x.api.host.get_address, hosts[0])


def _upload(x, vdi, image, say, host=None):
    task = x.call(x.api.task.create, "XOSAN appliance import", "import_raw_vdi of %s" % image.path)
    marks = set()

    def sent(done, total):
        tenth = done * 10 // total
        if tenth not in marks and (tenth % 2 == 0 or done == total):
            marks.add(tenth)
            say("uploading %s: %d%% (%s of %s)" % (os.path.basename(image.path), done * 100 // total,
                                                  _size(done), _size(total)))

    try:
        x.upload("/import_raw_vdi", {"vdi": vdi, "format": "vhd", "task_id": task}, image.path, progress=sent,
                 host=host)
    except XosanError:
        try:
            x.call(x.api.task.destroy, task)
        except XosanError:
            pass
        raise
    x.wait_task(task, timeout=600)


def template_record(name, image):
    """A VM.create record for a 1-vCPU, 1 GiB HVM guest: every field xapi's datamodel requires
    (no default), plus a few with defaults that matter here; nothing deprecated.

    deploy sets memory and vCPUs per storage VM from the manifest; these are the template's defaults.
    """
    mem = str(1024 * MiB)
    return {
        "name_label": name,
        "name_description": "XOSAN storage VM appliance %s: clone or copy it through `xosan deploy`, "
                            "not by hand" % image.version,
        "user_version": "1", "is_a_template": True, "affinity": "OpaqueRef:NULL",
        "memory_target": mem, "memory_static_max": mem, "memory_dynamic_max": mem,
        "memory_dynamic_min": mem, "memory_static_min": str(512 * MiB),
        "VCPUs_params": {}, "VCPUs_max": "1", "VCPUs_at_startup": "1",
        "actions_after_shutdown": "destroy", "actions_after_reboot": "restart",
        "actions_after_crash": "restart",
        "PV_bootloader": "", "PV_kernel": "", "PV_ramdisk": "", "PV_args": "", "PV_bootloader_args": "",
        "PV_legacy_args": "",
        "HVM_boot_policy": HVM_BOOT_POLICY, "HVM_boot_params": dict(HVM_BOOT_PARAMS),
        "HVM_shadow_multiplier": 1.0, "platform": dict(PLATFORM), "PCI_bus": "",
        "other_config": {"xosan-appliance-manifest-built": str(image.manifest.get("built", ""))},
        "recommendations": "", "xenstore_data": {}, "tags": [], "has_vendor_device": False,
    }


def remove_template(x, template):
    """Destroy a template and the disks it owns (its imported system disk)."""
    vdis = []
    for vbd in x.call(x.api.VM.get_VBDs, template):
        vdi = x.call(x.api.VBD.get_VDI, vbd)
        if vdi and vdi != "OpaqueRef:NULL":
            vdis.append(vdi)
    x.call(x.api.VM.destroy, template)
    for vdi in vdis:
        x.call(x.api.VDI.destroy, vdi)
