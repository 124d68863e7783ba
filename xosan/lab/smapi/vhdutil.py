"""Test double of dom0's ``vhdutil``, built on ``qemu-img`` (Debian's qemu-utils).

The files it makes are real dynamic VHDs, so what lands on the GlusterFS
volume is what dom0 would write. Leaves out: differencing (child) VHDs,
the hidden flag and parent locators (qemu-img cannot write them), so
snapshots in this double are full copies and chains are always depth 1.
"""

import json
import os
import subprocess

import util

MIN_VHD_SIZE = 2 * 1024 * 1024
MAX_VHD_SIZE = 2040 * 1024 * 1024 * 1024
MAX_CHAIN_SIZE = 30
VDI_TYPE_VHD = "vhd"
VDI_TYPE_RAW = "aio"
FILE_EXTN_VHD = ".vhd"
FILE_EXTN_RAW = ".raw"
FILE_EXTN = {VDI_TYPE_VHD: FILE_EXTN_VHD, VDI_TYPE_RAW: FILE_EXTN_RAW}
LOCK_TYPE_SR = "sr"
VHD_BLOCK_SIZE = 2 * 1024 * 1024


class VHDInfo(object):
    def __init__(self, uuid):
        self.uuid = uuid
        self.path = None
        self.sizeVirt = -1
        self.sizePhys = -1
        self.hidden = False
        self.parentUuid = ""
        self.parentPath = None
        self.error = 0


def validate_and_round_vhd_size(size):
    if size < 0 or size > MAX_VHD_SIZE:
        raise util.SMException("VHD size %d out of range" % size)
    size = max(size, MIN_VHD_SIZE)
    return (size + VHD_BLOCK_SIZE - 1) // VHD_BLOCK_SIZE * VHD_BLOCK_SIZE


def create(path, size, static=False, msize=0):
    util.pread2(["qemu-img", "create", "-q", "-f", "vpc", "-o",
                 "subformat=%s,force_size=on" % ("fixed" if static else "dynamic"), path, str(size)])


def _info(path):
    return json.loads(util.pread2(["qemu-img", "info", "--output=json", "-f", "vpc", path]))


def getSizeVirt(path):
    return int(_info(path)["virtual-size"])


def getSizePhys(path):
    return os.stat(path).st_size


def getDepth(path):
    return 1


def hasParent(path):
    return False


def getHidden(path):
    return 0


def setHidden(path, hidden=True):
    util.SMlog("vhdutil double: hidden flag not stored for %s" % path)


def setSizeVirt(path, size, jFile):
    """qemu cannot resize VHDs in place: copy into a larger image, then swap."""
    tmp = path + ".resize"
    create(tmp, size)
    try:
        util.pread2(["qemu-img", "convert", "-n", "-f", "vpc", "-O", "vpc", path, tmp])
        os.rename(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def revert(path, jFile):
    pass


def copy(src, dst):
    """Full copy (the double's snapshot); sparse where the file system allows."""
    subprocess.check_call(["cp", "--sparse=always", src, dst])


def getKeyHash(path):
    return None


def getAllVHDs(pattern, extractUuidFunction, vgName=None, parents=False, exitOnError=False):
    import glob
    result = {}
    for path in sorted(glob.glob(pattern)):
        uuid = extractUuidFunction(path)
        info = VHDInfo(uuid)
        info.path = os.path.basename(path)
        try:
            info.sizeVirt = getSizeVirt(path)
            info.sizePhys = getSizePhys(path)
        except (util.CommandException, ValueError, OSError):
            info.error = 1
        result[uuid] = info
    return result
