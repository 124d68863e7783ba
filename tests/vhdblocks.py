"""Write and read whole data blocks of a dynamic VHD, as a guest's writes through tapdisk
would land (tapdisk cannot run here). Enough to put known data into a VHD chain and check
it after the real GC coalesced it; the VHD layout is the public spec's (footer, dynamic
header, BAT of big-endian sector offsets, each block a sector bitmap then its data)."""

import os
import struct

SECTOR = 512
EMPTY = 0xFFFFFFFF


def _layout(fh):
    fh.seek(SECTOR)
    header = fh.read(1024)
    assert header[:8] == b"cxsparse", "not a dynamic VHD"
    table = struct.unpack(">Q", header[16:24])[0]
    entries = struct.unpack(">I", header[28:32])[0]
    block_size = struct.unpack(">I", header[32:36])[0]
    bitmap = ((block_size // SECTOR // 8 + SECTOR - 1) // SECTOR) * SECTOR
    return table, entries, block_size, bitmap


def block_size(path):
    with open(path, "rb") as fh:
        return _layout(fh)[2]


def write_block(path, block, data):
    """Allocate ``block`` (if needed) and fill it with ``data`` (exactly one block)."""
    with open(path, "r+b") as fh:
        table, entries, size, bitmap = _layout(fh)
        assert len(data) == size and block < entries
        fh.seek(table + 4 * block)
        offset = struct.unpack(">I", fh.read(4))[0]
        if offset == EMPTY:
            fh.seek(-SECTOR, os.SEEK_END)
            footer_at = fh.tell()
            footer = fh.read(SECTOR)
            offset = footer_at // SECTOR
            fh.seek(footer_at)
            fh.write(b"\xff" * bitmap + data + footer)
            fh.seek(table + 4 * block)
            fh.write(struct.pack(">I", offset))
        else:
            fh.seek(offset * SECTOR)
            fh.write(b"\xff" * bitmap + data)
        fh.flush()
        os.fsync(fh.fileno())


def read_block(path, block):
    """The block's data in this one file, or None when the file does not hold it."""
    with open(path, "rb") as fh:
        table, entries, size, bitmap = _layout(fh)
        fh.seek(table + 4 * block)
        offset = struct.unpack(">I", fh.read(4))[0]
        if offset == EMPTY:
            return None
        fh.seek(offset * SECTOR + bitmap)
        return fh.read(size)


def set_keyhash(path, nonce, digest):
    """Write a key hash into the VHD's batmap header (blktap's struct dd_batmap_hdr: cookie 8,
    batmap offset 8, size 4, version 4, checksum 4, marker 1, then keyhash: set 1, nonce 32,
    hash 32), as `vhd-util key -s` would; the batmap checksum covers the map, not the header."""
    assert len(nonce) == 32 and len(digest) == 32
    with open(path, "r+b") as fh:
        table, entries, _, _ = _layout(fh)
        at = table + ((entries * 4 + SECTOR - 1) // SECTOR) * SECTOR
        fh.seek(at)
        assert fh.read(8) == b"tdbatmap", "no batmap header after the BAT"
        fh.seek(at + 29)
        fh.write(b"\x01" + nonce + digest)
        fh.flush()
        os.fsync(fh.fileno())
