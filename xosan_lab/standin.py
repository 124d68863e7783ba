"""A stand-in for the appliance image, for the lab and the tests.

The lab's storage VMs are network namespaces, so the disk deploy imports is
never booted there; what matters is that deploy goes through the same steps as
on a pool (check the image and its manifest, upload it, make the template, copy
it per host). This writes a small, valid dynamic VHD and a manifest.json in
the format `make appliance` writes, marked as a stand-in. Give the real
build/appliance/manifest.json instead to import the real image into the lab.
"""

import hashlib
import json
import os
import subprocess

from xosan import __version__

MiB = 1024 ** 2


def make_standin(folder, virtual_mib=64):
    """Write ``<folder>/xosan-storage-vm-lab.vhd`` and its manifest.json; return the manifest's path."""
    os.makedirs(folder, exist_ok=True)
    name = "xosan-storage-vm-lab.vhd"
    path = os.path.join(folder, name)
    if os.path.exists(path):
        os.unlink(path)
    # blktap's own tool, as XenServer makes VHDs (.ci/build-blktap installs it)
    subprocess.run(["/usr/bin/vhd-util", "create", "-n", path, "-s", str(virtual_mib)], check=True)
    with open(path, "rb") as fh:
        data = fh.read()
    from xosan.pool import vhd
    info = vhd.read_info(path)
    manifest = {
        "name": "XOSAN storage VM (lab stand-in)",
        "version": "%s-lab" % __version__,
        "lab_stand_in": "an empty disk: the lab's storage VMs are network namespaces and never boot it",
        "vhd": {"file": name, "file_bytes": len(data), "format": "vpc (VHD), dynamic",
                "sha256": hashlib.sha256(data).hexdigest(), "virtual_bytes": info.virtual_size},
    }
    out = os.path.join(folder, "manifest.json")
    with open(out, "w") as fh:
        json.dump(manifest, fh, indent=2, sort_keys=True)
        fh.write("\n")
    return out
