"""tapdisk, the data path XenServer/XCP-ng VMs use, serving one VHD over NBD: for bench/perf.py.

The vendor tapdisk (built from ../shared/vendor/blktap by .ci/build-blktap, /usr/libexec/tapdisk)
needs no blktap kernel device and no /dev/xen for this: ``tap-ctl allocate`` makes the VBD's marker
file, ``attach`` creates the VBD, ``open -a vhd:PATH`` opens the VHD (O_DIRECT, as in dom0) and starts
tapdisk's NBD servers on UNIX sockets in /run/blktap-control (``nbd<pid>.<minor>`` is the new-style
one, the one xapi hands to its NBD clients). fio's nbd engine (libnbd) drives that socket.

One obstacle here: tapdisk raises RLIMIT_MEMLOCK to infinity at start and exits when it cannot
(this container lacks CAP_SYS_RESOURCE; the hard limit is 8 MiB). bench/tapdisk_memlock_shim.c,
LD_PRELOADed into tapdisk only, makes that one call (and mlockall) succeed without effect.
"""

import os
import signal
import subprocess
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TAPDISK = "/usr/libexec/tapdisk"
TAP_CTL = "/usr/sbin/tap-ctl"
VHD_UTIL = "/usr/bin/vhd-util"
CONTROL_DIR = "/run/blktap-control"


class TapdiskUnavailable(Exception):
    pass


def _out(argv, env=None):
    res = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                         env=env, timeout=60)
    if res.returncode != 0:
        raise TapdiskUnavailable("%s failed (rc %d): %s" % (" ".join(argv), res.returncode,
                                                            (res.stderr or res.stdout).strip()))
    return res.stdout.strip()


def build_shim(workdir):
    for tool in (TAPDISK, TAP_CTL, VHD_UTIL):
        if not os.access(tool, os.X_OK):
            raise TapdiskUnavailable("%s is missing (bash .ci/build-blktap installs it)" % tool)
    so = os.path.join(workdir, "tapdisk_memlock_shim.so")
    if not os.path.exists(so):
        _out(["gcc", "-shared", "-fPIC", "-O2", "-o", so, os.path.join(HERE, "tapdisk_memlock_shim.c"), "-ldl"])
    return so


class Tapdisk(object):
    """One tapdisk process serving one VHD; ``stop`` undoes everything ``start`` did."""

    def __init__(self, workdir):
        self.workdir = workdir
        self.pid = self.minor = None

    def start(self, vhd_path, size_mib):
        shim = build_shim(self.workdir)
        if not os.path.exists(vhd_path):
            _out([VHD_UTIL, "create", "-n", vhd_path, "-s", str(size_mib)])
        env = dict(os.environ, LD_PRELOAD=shim)
        self.pid = int(_out([TAP_CTL, "spawn"], env=env).split()[-1])
        marker = _out([TAP_CTL, "allocate"])  # /run/blktap-control/tapdisk/tapdisk-N
        self.minor = int(marker.rsplit("-", 1)[1])
        _out([TAP_CTL, "attach", "-p", str(self.pid), "-m", str(self.minor)])
        _out([TAP_CTL, "open", "-p", str(self.pid), "-m", str(self.minor), "-a", "vhd:%s" % vhd_path])
        sock = self.socket
        deadline = time.time() + 10
        while not os.path.exists(sock):
            if time.time() > deadline:
                raise TapdiskUnavailable("tapdisk %d opened %s but no NBD socket %s" % (self.pid, vhd_path, sock))
            time.sleep(0.1)
        return self

    @property
    def socket(self):
        return os.path.join(CONTROL_DIR, "nbd%d.%d" % (self.pid, self.minor))

    def stop(self):
        if self.pid is None:
            return
        if self.minor is not None:
            for verb in ("close", "detach"):
                subprocess.call([TAP_CTL, verb, "-p", str(self.pid), "-m", str(self.minor)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            subprocess.call([TAP_CTL, "free", "-m", str(self.minor)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 5
        while time.time() < deadline and _alive(self.pid):
            time.sleep(0.1)
        if _alive(self.pid):  # our own tapdisk, by the pid tap-ctl spawn printed
            os.kill(self.pid, signal.SIGKILL)
        self.pid = self.minor = None


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False
