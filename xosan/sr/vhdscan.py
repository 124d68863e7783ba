"""One vhd-util pass, in parallel, for FileSR's scan of a xosan SR.

xapi scans every shared SR every 30 s and after VDI operations. FileSR._loadvdis (which the
driver inherits) asks vhd-util about the VHDs twice: one `vhd-util scan -f` for the tree, then
one `vhd-util key -p` PROCESS PER VHD for its encryption key hash. On a replicated GlusterFS
volume each file vhd-util opens costs a few milliseconds (blktap fsyncs every file it closes,
even read-only, and each fsync is a locked transaction on every brick; its reads are O_DIRECT):
1,000 VDIs took 22 s per scan, measured by bench/scan.py.

vhd-util scan prints the key hash itself with -M, and takes a list of files: so the scan here
is the same vhd-util scan, of the same files, with -M, split across a few processes (the cost
is latency per file, not CPU), and the key hashes come from it. Its lines are parsed by the
framework's own parser (vhdutil._parseVHDInfo): the VHDInfo records FileSR gets are the ones it
would have got. Whatever this does not cover (an LVM scan, parents only, a path not scanned, a
framework without that parser) goes to the framework's own functions.
"""

import contextlib
import glob
import os
import threading

PROCESSES = 4


@contextlib.contextmanager
def one_pass(vhdutil, log):
    """While active, ``vhdutil.getAllVHDs`` scans in one parallel pass with key hashes, and
    ``vhdutil.getKeyHash`` answers from it (``vhdutil``: the framework's module)."""
    parse = getattr(vhdutil, "_parseVHDInfo", None)
    if parse is None:
        log("xosan: vhdutil._parseVHDInfo is missing: SR scan uses one vhd-util key process per VHD")
        yield
        return
    stock_all, stock_key = vhdutil.getAllVHDs, vhdutil.getKeyHash
    key_hashes = {}

    def get_all_vhds(pattern, extractUuidFunction, vgName=None, parentsOnly=False, exitOnError=False):
        if vgName or parentsOnly:
            return stock_all(pattern, extractUuidFunction, vgName, parentsOnly, exitOnError)
        files = sorted(glob.glob(pattern))
        folder = os.path.dirname(pattern)
        outputs = _scan(vhdutil, files, log)
        vhds = {}
        for line in "\n".join(outputs).split("\n"):
            if not line.strip():
                continue
            info = parse(line, extractUuidFunction)
            if not info:
                log("WARN: vhdinfo line doesn't parse correctly: %s" % line)
                continue
            if info.error != 0 and exitOnError:
                return {}
            vhds[info.uuid] = info
            key_hashes[os.path.join(folder, info.path)] = _key_hash(line)
        return vhds

    def get_key_hash(path):
        if path in key_hashes:
            return key_hashes[path]
        return stock_key(path)

    vhdutil.getAllVHDs, vhdutil.getKeyHash = get_all_vhds, get_key_hash
    try:
        yield
    finally:
        vhdutil.getAllVHDs, vhdutil.getKeyHash = stock_all, stock_key


def _key_hash(line):
    """The key hash of a `vhd-util scan -M` line: None when the VHD has none (vhdutil.getKeyHash
    answers None for vhd-util key's 'none')."""
    for field in line.split():
        if field.startswith("keyhash="):
            return field[len("keyhash="):] or None
    return None


def _scan(vhdutil, files, log):
    """`vhd-util scan -f -M FILES` in up to PROCESSES parallel runs; on a failure the run is
    repeated with -c (go on past a bad VHD) as the framework's getAllVHDs does."""
    if not files:
        return []
    chunks = [files[i::PROCESSES] for i in range(min(PROCESSES, len(files)))]
    outputs = [None] * len(chunks)
    errors = []

    def run(i):
        cmd = [vhdutil.VHD_UTIL, "scan", "-f", "-M"] + chunks[i]
        try:
            try:
                outputs[i] = vhdutil.ioretry(cmd)
            except Exception as exc:
                log("WARN: vhd scan failed: output: %s" % exc)
                outputs[i] = vhdutil.ioretry(cmd[:4] + ["-c"] + cmd[4:])
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(chunks))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return outputs
