"""Just enough of the VHD format to check an image before XAPI is handed it.

XAPI's ``/import_raw_vdi?format=vhd`` needs a VDI at least as big as the VHD's
virtual size, and fails late (after the whole upload) on a file that is not a
VHD. Reading the 512-byte footer first gives the size to create the VDI with
and turns a wrong file into an error that names it, before any object exists.
"""

import os
import struct

from xosan.errors import XosanError

FOOTER_SIZE = 512
COOKIE = b"conectix"
DISK_TYPES = {2: "fixed", 3: "dynamic", 4: "differencing"}


class VhdError(XosanError):
    pass


class VhdInfo(object):
    """``virtual_size`` in bytes, ``disk_type`` ("fixed" | "dynamic" | "differencing"), ``file_size``."""

    def __init__(self, virtual_size, disk_type, file_size):
        self.virtual_size = virtual_size
        self.disk_type = disk_type
        self.file_size = file_size

    def __repr__(self):
        return "VhdInfo(virtual_size=%d, disk_type=%r, file_size=%d)" % (
            self.virtual_size, self.disk_type, self.file_size)


def footer_checksum(footer):
    # type: (bytes) -> int
    """One's complement of the byte sum, the checksum field (bytes 64-67) counted as zero."""
    total = sum(bytearray(footer[:64])) + sum(bytearray(footer[68:]))
    return (~total) & 0xFFFFFFFF


def parse_footer(footer, where="the file"):
    # type: (bytes, str) -> tuple
    """(virtual_size, disk type name) from a 512-byte footer; VhdError when it is not one."""
    if len(footer) != FOOTER_SIZE or footer[:8] != COOKIE:
        raise VhdError("%s is not a VHD (no 'conectix' footer)" % where,
                       hint="Give the .vhd that `make appliance` wrote (build/appliance/)")
    (stored,) = struct.unpack(">I", footer[64:68])
    if stored != footer_checksum(footer):
        raise VhdError("%s has a damaged VHD footer (checksum mismatch)" % where,
                       hint="The file is truncated or corrupt: copy or build it again")
    (size,) = struct.unpack(">Q", footer[48:56])
    (kind,) = struct.unpack(">I", footer[60:64])
    if kind not in DISK_TYPES:
        raise VhdError("%s has an unknown VHD disk type %d" % (where, kind))
    return size, DISK_TYPES[kind]


def read_info(path):
    # type: (str) -> VhdInfo
    """Check ``path`` is a whole VHD (footer at the end, and the copy at the start for sparse disks)."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            length = fh.tell()
            if length < FOOTER_SIZE:
                raise VhdError("%s is not a VHD (%d bytes)" % (path, length))
            fh.seek(length - FOOTER_SIZE)
            footer = fh.read(FOOTER_SIZE)
            fh.seek(0)
            head = fh.read(FOOTER_SIZE)
    except OSError as exc:
        raise VhdError("cannot read %s: %s" % (path, exc.strerror or exc))
    size, kind = parse_footer(footer, path)
    if kind != "fixed" and head != footer:
        raise VhdError("%s: the VHD's header copy of the footer differs from the footer" % path,
                       hint="The file is truncated or corrupt: copy or build it again")
    if kind == "differencing":
        raise VhdError("%s is a differencing VHD (it needs its parent)" % path,
                       hint="Give a whole disk image: qemu-img convert -O vpc makes one")
    return VhdInfo(size, kind, length)
