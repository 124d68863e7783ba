"""Benchmark: the VM-image data path, raw XFS brick vs a stock volume vs XOSAN's volume, in ONE lab.

One lab (id pf1, 10.250.235.0/24): three storage nodes, one XFS brick disk each (a loop device).
On those same disks: the raw brick (fio inside node 1, on its XFS), a replica 3 arbiter 1 volume
with GlusterFS's stock options ("stock") and one with XOSAN's option set ("xosan", the virt group
plus xosan/gluster/options.py, applied the way the lab and deploy apply it). Both volumes are
FUSE-mounted here, as dom0 mounts them. fio (libaio, direct=1, as tapdisk opens VHDs O_DIRECT) runs
every row on every target; rounds are interleaved (round r runs row 1 on raw, stock, xosan in a
rotated order, then row 2, ...), each cell is the median of the rounds. Around each fio run, the
CPU seconds (utime + stime, /proc/<pid>/stat) of the FUSE client process and of the volume's three
brick processes are read: reported per GiB moved (1M rows) and per 100k I/Os (4K rows).

Targets (issue 14): XOSAN/stock >= 1.5 on 4K random read and write at iodepth 16, >= 1.0 on the
1M rows; XOSAN's FUSE client CPU per 4K I/O no higher than stock's on every 4K row. Exit 1 when
a target is missed or any cell is unmeasured.

--study NAMES: the option study (docs/performance.md). Each candidate (CANDIDATES below) gets a
fresh volume with XOSAN's set plus that candidate, measured interleaved against a fresh XOSAN
baseline volume on the 4K iodepth-16 rows; results are appended to --out (JSON lines).
--study-report FILE prints the markdown table of a results file.

Runs as root. Hold /tmp/xosan-labtests.lock around it (flock) on a shared machine.
Usage: python bench/perf.py [--runtime S] [--rounds N] [--long] [--extra OPT=VAL,...]
       python bench/perf.py --study evt2,cio-off,... --out results.jsonl
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

from xosan.errors import XosanError  # noqa: E402
from xosan.gluster import parse_volume_status  # noqa: E402
from xosan.gluster.options import volume_set_commands  # noqa: E402
from xosan_lab.cluster import Lab  # noqa: E402

from tapdisk import Tapdisk  # noqa: E402  (bench/tapdisk.py)

LAB_ID = "pf1"
SUBNET = "10.250.235"
LAYOUT = ["replica", "3", "arbiter", "1"]
CLK = os.sysconf("SC_CLK_TCK")
GIB = 1024.0 ** 3

# key, label, fio rw, block size, iodepth, extra fio arguments
ROWS = [
    ("seqread", "1M seq read, qd16", "read", "1M", 16, []),
    ("seqwrite", "1M seq write, qd16", "write", "1M", 16, []),
    ("rr1", "4K rand read, qd1", "randread", "4k", 1, []),
    ("rr16", "4K rand read, qd16", "randread", "4k", 16, []),
    ("rw1", "4K rand write, qd1", "randwrite", "4k", 1, []),
    ("rw16", "4K rand write, qd16", "randwrite", "4k", 16, []),
    ("mix16", "4K 70/30 read/write, qd16", "randrw", "4k", 16, ["--rwmixread=70"]),
]
ROW = dict((r[0], r) for r in ROWS)
RATIO_TARGETS = {"rr16": 1.5, "rw16": 1.5, "seqread": 1.0, "seqwrite": 1.0}
STUDY_ROWS = ("rr16", "rw16")

# XOSAN's option set before issue 14 shipped the measured winners (on top of the virt group): the
# main table keeps it as a target ("prev") so the gain of the shipped set is measured, not assumed.
PREVIOUS_OPTIONS = [
    ("features.shard-block-size", "64MB"), ("cluster.lookup-optimize", "off"),
    ("network.ping-timeout", "4"), ("server.tcp-user-timeout", "4"), ("cluster.heal-timeout", "10"),
]

# Stock options with the one change that makes a volume keep O_DIRECT's promise (a write returns once
# the bricks have it, not from the client's write-behind buffer): what stock is worth to a VM whose
# tapdisk opens its VHD O_DIRECT. A column of the main table with --stock-direct; no target.
STOCK_DIRECT = [("performance.strict-o-direct", "on")]

# The study's candidates: volume options set on a fresh XOSAN volume before it starts, FUSE mount
# options, XFS mount options of a second brick disk, or a lab-wide MTU (measured by toggling).
CANDIDATES = [
    ("control", {}, "a second, identical XOSAN volume: what 'no difference' looks like"),
    ("evt2", {"vol": [("client.event-threads", "2"), ("server.event-threads", "2")]},
     "client/server event-threads = cores (2 here; virt group: 4)"),
    ("cio-off", {"vol": [("performance.client-io-threads", "off")]}, "client io-threads off (virt: on)"),
    ("iot4", {"vol": [("performance.io-thread-count", "4")]}, "brick io-thread-count 4 (default 16)"),
    ("ctime-off", {"vol": [("features.ctime", "off")]}, "no ctime xattr updates on each write"),
    ("eager-off", {"vol": [("cluster.eager-lock", "disable")]}, "eager-lock off (virt: enable)"),
    ("postop0", {"vol": [("cluster.post-op-delay-secs", "0")]}, "AFR post-op delay 0 (default 1 s)"),
    ("aio", {"vol": [("storage.linux-aio", "on")]}, "bricks use Linux AIO"),
    ("uring", {"vol": [("storage.linux-io_uring", "on")]}, "bricks use io_uring"),
    ("shard4m", {"vol": [("features.shard-block-size", "4MB")]}, "4 MB shards (XOSAN: 64 MB)"),
    ("shard512m", {"vol": [("features.shard-block-size", "512MB")]}, "512 MB shards"),
    ("wb-off", {"vol": [("performance.write-behind", "off")]}, "write-behind off (virt: on)"),
    ("remote-dio", {"vol": [("network.remote-dio", "enable")]},
     "client drops O_DIRECT before the bricks (virt: disable)"),
    ("strict-off", {"vol": [("performance.strict-o-direct", "off")]}, "strict-o-direct off (virt: on)"),
    ("rdthr4", {"mount": ["reader-thread-count=4"]}, "FUSE reader threads 4 (default 1)"),
    ("timeouts", {"mount": ["attribute-timeout=30", "entry-timeout=30", "negative-timeout=30"]},
     "FUSE attribute/entry/negative timeouts 30 s (default 1/1/0)"),
    ("lru0", {"mount": ["lru-limit=0"]}, "FUSE inode lru-limit 0 = unlimited (default 65536)"),
    ("dio-on", {"mount": ["direct-io-mode=enable"]}, "FUSE direct-io-mode=enable"),
    ("dio-off", {"mount": ["direct-io-mode=disable"]}, "FUSE direct-io-mode=disable"),
    ("xfs-same", {"xfs": "noatime,inode64"}, "control: a second brick disk, same XFS options"),
    ("xfs-log", {"xfs": "noatime,inode64,logbufs=8,logbsize=256k"}, "second brick disk, bigger XFS log buffers"),
    ("mtu9000", {"mtu": 9000}, "MTU 9000 on the storage network (toggled, same volume)"),
    # The brick and AFR path per write (issue 14, after the gfapi run showed FUSE is not the gap):
    ("iot-pass", {"vol": [("performance.iot-pass-through", "on")]},
     "bricks' io-threads pass fops through (no thread hand-off per fop)"),
    ("full-lock-no", {"vol": [("cluster.full-lock", "no")]},
     "AFR locks only the written range, not the whole file (default yes)"),
    ("postop3", {"vol": [("cluster.post-op-delay-secs", "3")]}, "AFR post-op delay 3 s (default 1 s)"),
    ("durab-off", {"vol": [("cluster.ensure-durability", "off")]},
     "AFR does not fsync its changelog updates (default on)"),
    ("rhm3", {"vol": [("cluster.read-hash-mode", "3")]},
     "reads go to the data brick with the fewest outstanding reads (default 1: by file id)"),
    ("rhm0", {"vol": [("cluster.read-hash-mode", "0")]},
     "every read to the first data brick that is up (default 1: by file id, i.e. by shard)"),
    ("evt1", {"vol": [("client.event-threads", "1"), ("server.event-threads", "1")]},
     "client/server event-threads 1 (shipped: the cores, 2 here)"),
    # XOSAN's set with one of its options back at GlusterFS's default: where XOSAN's ~10-25 % lag
    # behind a stock volume that keeps O_DIRECT (--stock-direct) comes from.
    ("shard-off", {"vol": [("features.shard", "off")]},
     "no sharding (a VHD is one file: a heal copies all of it)"),
    ("iot16", {"vol": [("performance.io-thread-count", "16")]}, "brick io-thread-count back to 16"),
    ("cio-on", {"vol": [("performance.client-io-threads", "on")]}, "client io-threads back on"),
    ("heal600", {"vol": [("cluster.heal-timeout", "600")]},
     "self-heal daemon's index crawl every 600 s (default; XOSAN: 10 s)"),
    ("ping42", {"vol": [("network.ping-timeout", "42"), ("server.tcp-user-timeout", "0")]},
     "ping-timeout 42 s and no TCP user timeout (defaults; XOSAN: 4 s, 4 s)"),
    ("probe", {"vol": [("performance.client-io-threads", "off"), ("client.event-threads", "2"),
                       ("server.event-threads", "2"), ("performance.io-thread-count", "4"),
                       ("features.ctime", "off")]}, "the issue's probe combination"),
]
CAND = dict((c[0], c) for c in CANDIDATES)


def log(msg):
    sys.stderr.write("[perf %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


# -- processes and their CPU ----------------------------------------------------------------

def cpu_seconds(pids):
    total = 0.0
    for pid in pids:
        with open("/proc/%d/stat" % pid) as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / float(CLK)
    return total


def fuse_pids(mountpoint):
    """The glusterfs FUSE client process(es) serving ``mountpoint`` (their last argument)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as fh:
                argv = fh.read().split(b"\0")
        except OSError:
            continue
        argv = [a.decode(errors="replace") for a in argv if a]
        if argv and os.path.basename(argv[0]).startswith("glusterfs") and argv[-1] == mountpoint:
            out.append(int(d))
    return out


def client_pid(mountpoint):
    """The glusterfs FUSE client serving ``mountpoint``."""
    pids = fuse_pids(mountpoint)
    if pids:
        return pids[0]
    raise RuntimeError("no glusterfs client process for %s" % mountpoint)


def brick_pids(lab, volume):
    out = lab.nodes[0].gluster(["volume", "status", volume, "--xml"]).stdout
    bricks, _ = parse_volume_status(out)
    pids = [b.pid for b in bricks if b.online and b.pid]
    if len(pids) != 3:
        raise RuntimeError("volume %s: %d of 3 bricks online" % (volume, len(pids)))
    return pids


# -- targets: where fio runs ---------------------------------------------------------------

class Target(object):
    """A place fio runs: a file on the raw brick (inside node 1) or on a FUSE mount here, opened
    O_DIRECT with libaio; or (``nbd``) tapdisk's NBD socket, tapdisk serving a VHD on a FUSE mount."""

    def __init__(self, name, path, runner=None, client=None, bricks=(), nbd=None, extra_client=(), gfapi=None):
        self.name, self.path, self.runner = name, path, runner
        self.client, self.bricks = client, list(bricks)
        self.nbd, self.extra_client = nbd, list(extra_client)
        self.gfapi = gfapi  # (volume, volfile server): fio is the GlusterFS client itself, no FUSE

    def pids(self):
        return ([self.client] if self.client else []) + self.extra_client, self.bricks

    def io_args(self):
        if self.nbd:
            return ["--ioengine=nbd", "--uri=nbd+unix:///?socket=%s" % self.nbd]
        if self.gfapi:
            return ["--ioengine=gfapi_async", "--volume=%s" % self.gfapi[0], "--brick=%s" % self.gfapi[1],
                    "--filename=%s" % self.path, "--direct=1"]
        return ["--filename=%s" % self.path, "--ioengine=libaio", "--direct=1"]

    def run(self, argv, timeout):
        if self.runner is not None:
            return self.runner(argv, timeout)
        return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              universal_newlines=True, timeout=timeout)


def fio_argv(target, rw, bs, iodepth, size, runtime, extra=()):
    return (["fio", "--name=bench"] + target.io_args() +
            ["--size=%s" % size, "--rw=%s" % rw, "--bs=%s" % bs, "--iodepth=%d" % iodepth,
             "--time_based", "--runtime=%d" % runtime, "--randrepeat=0", "--norandommap",
             "--output-format=json"] + list(extra))


def layout(target, size):
    """Write the test file once, so no row measures allocation (shard creation, VHD blocks)."""
    argv = (["fio", "--name=layout"] + target.io_args() +
            ["--size=%s" % size, "--rw=write", "--bs=1M", "--iodepth=16"] +
            ([] if target.nbd else ["--end_fsync=1"]))
    res = target.run(argv, timeout=600)
    if res.returncode != 0:
        raise RuntimeError("layout on %s failed: %s" % (target.name, res.stderr.strip()[-400:]))


def measure(target, row, size, runtime):
    """One fio run: {"value": IOPS or MiB/s, "client": CPU s, "bricks": CPU s, "ios", "bytes"}, or None."""
    key, _, rw, bs, iodepth, extra = row
    client, bricks = target.pids()
    try:
        c0, b0 = cpu_seconds(client), cpu_seconds(bricks)
        res = target.run(fio_argv(target, rw, bs, iodepth, size, runtime, extra), timeout=runtime + 120)
        c1, b1 = cpu_seconds(client), cpu_seconds(bricks)
    except (OSError, subprocess.TimeoutExpired, XosanError) as exc:
        log("%s %s: %s" % (target.name, key, exc))
        return None
    if res.returncode != 0:
        log("%s %s: fio rc %d: %s" % (target.name, key, res.returncode, res.stderr.strip()[-400:]))
        return None
    try:
        job = json.loads(res.stdout[res.stdout.index("{"):])["jobs"][0]
    except (ValueError, KeyError, IndexError) as exc:
        log("%s %s: unreadable fio output (%s)" % (target.name, key, exc))
        return None
    ios = job["read"]["total_ios"] + job["write"]["total_ios"]
    nbytes = job["read"]["io_bytes"] + job["write"]["io_bytes"]
    if job.get("error") or ios == 0:
        log("%s %s: fio moved nothing (error %s)" % (target.name, key, job.get("error")))
        return None
    secs = (job["read"]["runtime"] or job["write"]["runtime"]) / 1000.0
    if target.gfapi:  # the client is fio's own process: its CPU as fio measured it over the run
        c1, c0 = (job["usr_cpu"] + job["sys_cpu"]) / 100.0 * secs, 0.0
    if bs == "1M":
        value = nbytes / 1048576.0 / secs
    else:
        value = job["read"]["iops"] + job["write"]["iops"]
    return {"value": value, "client": c1 - c0, "bricks": b1 - b0, "ios": ios, "bytes": nbytes}


# -- the lab --------------------------------------------------------------------------------

class PerfLab(object):
    def __init__(self, work, brick_size):
        self.work = work
        self.lab = Lab.new(work, lab_id=LAB_ID, subnet=SUBNET)
        self.brick_size = brick_size
        self.mounts = []
        self.extra_disks = []  # (node, loop device, mount point inside the node)
        self.tapdisks = []

    def up(self):
        self.lab.up(3, brick_size=self.brick_size)
        return self

    def create(self, name, xosan=True, extra=(), brick_root=None):
        """A started replica 3 arbiter 1 volume; with ``xosan`` the VM-image option set as
        create_volume applies it, then ``extra`` (option, value) pairs, all before the start."""
        lab = self.lab
        nodes = lab.nodes
        paths = [os.path.join(brick_root, name) if brick_root else n.brick_path(name) for n in nodes]
        if brick_root:
            for n, p in zip(nodes, paths):
                n.run(["mkdir", "-p", p])
        cli = lab.node_cli(nodes[0])
        cli.volume_create(name, ["%s:%s" % (n.ip, p) for n, p in zip(nodes, paths)], LAYOUT)
        if xosan:
            for _, _, target, option, value in volume_set_commands(name):
                cli.volume_set(target, option, value)
        for option, value in extra:
            cli.volume_set(name, option, value)
        cli.volume_start(name)
        lab.state["volumes"].append(name)
        lab.save()

    def delete(self, name):
        n0 = self.lab.nodes[0]
        n0.gluster(["volume", "stop", name, "force"], check=False)
        n0.gluster(["volume", "delete", name], check=False)

    def mount(self, volume, options=()):
        mp = os.path.join(self.work, "mnt-%s" % volume)
        os.makedirs(mp, exist_ok=True)
        nodes = self.lab.nodes
        opts = ["backup-volfile-servers=%s:%s" % (nodes[1].ip, nodes[2].ip)] + list(options)
        subprocess.check_call(["mount", "-t", "glusterfs", "-o", ",".join(opts),
                               "%s:/%s" % (nodes[0].ip, volume), mp])
        self.mounts.append(mp)
        deadline = time.time() + 30
        while time.time() < deadline:  # mount.glusterfs may return before the bricks answer
            if os.path.isdir(mp) and os.statvfs(mp).f_blocks > 0:
                break
            time.sleep(0.5)
        return mp

    def umount(self, mp):
        subprocess.call(["umount", mp])
        if os.path.ismount(mp):
            subprocess.call(["umount", "-l", mp])
        if mp in self.mounts:
            self.mounts.remove(mp)

    def fuse_target(self, label, volume, mount_options=(), filename="bench.img"):
        mp = self.mount(volume, mount_options)
        return Target(label, os.path.join(mp, filename), client=client_pid(mp),
                      bricks=brick_pids(self.lab, volume))

    def tapdisk_target(self, label, volume, size_mib):
        """tapdisk serving a VHD on ``volume``'s FUSE mount; fio reaches it over NBD. The client CPU
        counted is the FUSE client's plus tapdisk's (both run in dom0)."""
        mp = self.mount(volume)
        td = Tapdisk(self.work)
        self.tapdisks.append(td)
        td.start(os.path.join(mp, "bench.vhd"), size_mib)
        return Target(label, os.path.join(mp, "bench.vhd"), client=client_pid(mp), extra_client=[td.pid],
                      bricks=brick_pids(self.lab, volume), nbd=td.socket)

    def gfapi_target(self, label, volume):
        """fio's gfapi engine on ``volume``: the same volume and bricks, no FUSE (libgfapi in the
        client process, what a tapdisk driver on libgfapi would be). Client CPU = fio's process."""
        return Target(label, "bench-gfapi.img", bricks=brick_pids(self.lab, volume),
                      gfapi=(volume, self.lab.nodes[0].ip))

    def raw_target(self):
        n1 = self.lab.nodes[0]
        folder = os.path.join(n1.brick_mount, "raw")
        n1.run(["mkdir", "-p", folder])

        def runner(argv, timeout):
            return n1.run(argv, timeout=timeout, check=False)
        return Target("raw", os.path.join(folder, "bench.img"), runner=runner)

    def second_disk(self, xfs_options):
        """Another loop-device XFS disk on every node, mounted with ``xfs_options``: its brick root."""
        root = "/srv/xosan/disk2"
        for n in self.lab.nodes:
            image = os.path.join(n.state["dir"], "disk2.img")
            with open(image, "wb") as fh:
                fh.truncate(self.brick_size)
            dev = subprocess.check_output(["losetup", "-f", "--show", image], universal_newlines=True).strip()
            self.extra_disks.append((n, dev, root))
            subprocess.check_call(["mkfs.xfs", "-q", "-f", "-i", "size=512", dev])
            n.run(["mkdir", "-p", root])
            n.run(["mount", "-t", "xfs", "-o", xfs_options, dev, root])
        return root

    def drop_second_disks(self):
        for n, _dev, root in self.extra_disks:
            if n.running():
                n.run(["umount", root], check=False)
        for _, dev, _ in self.extra_disks:
            for _ in range(50):
                if subprocess.call(["losetup", "-d", dev], stderr=subprocess.DEVNULL) == 0:
                    break
                time.sleep(0.2)
        self.extra_disks = []

    def set_mtu(self, mtu):
        s = self.lab.state
        links = [s["bridge"]] + [n.state["veth"] for n in self.lab.nodes]
        for link in links[1:]:
            subprocess.check_call(["ip", "link", "set", link, "mtu", str(mtu)])
        subprocess.check_call(["ip", "link", "set", links[0], "mtu", str(mtu)])
        for n in self.lab.nodes:
            subprocess.check_call(["ip", "-n", n.state["netns"], "link", "set", "eth0", "mtu", str(mtu)])

    def down(self):
        for td in self.tapdisks:
            try:
                td.stop()
            except Exception as exc:  # keep tearing down
                log("tapdisk %s: %s" % (td.pid, exc))
        for mp in list(self.mounts):
            self.umount(mp)
        try:
            self.drop_second_disks()
        finally:
            self.lab.down()


# -- running rounds ---------------------------------------------------------------------------

def interleaved(targets, rows, rounds, size, runtime, between=None):
    """results[row key][target name] = [measurement or None, ...]: rounds interleaved, order rotated."""
    results = dict((r[0], dict((t.name, []) for t in targets)) for r in rows)
    for rnd in range(rounds):
        if between:
            between(rnd)
        for row in rows:
            order = targets[rnd % len(targets):] + targets[:rnd % len(targets)]
            for t in order:
                m = measure(t, row, size, runtime)
                results[row[0]][t.name].append(m)
                log("round %d %-6s %-8s %s" % (rnd + 1, row[0], t.name,
                                                "%.0f" % m["value"] if m else "UNMEASURED"))
    return results


def med(ms, field="value"):
    vals = [m[field] for m in ms if m]
    return statistics.median(vals) if vals else None


def cpu_per_unit(ms, field, row):
    """Median CPU seconds per GiB (1M rows) or per 100k I/Os (4K rows)."""
    vals = []
    for m in ms:
        if m:
            vals.append(m[field] / (m["bytes"] / GIB) if row[3] == "1M" else m[field] / (m["ios"] / 1e5))
    return statistics.median(vals) if vals else None


def round_ratios(num, den):
    return [a["value"] / b["value"] for a, b in zip(num, den) if a and b]


def complete(ms, rounds):
    return len(ms) == rounds and all(ms)


# -- the main table ---------------------------------------------------------------------------

def fmt(v, spec="%.0f"):
    return "-" if v is None else spec % v


def main_table(args):
    work = tempfile.mkdtemp(prefix="xosan-perf-")
    pl = PerfLab(work, args.brick_size)
    rows = [ROW[k] for k in args.rows.split(",")] if args.rows else ROWS
    extra = parse_extra(args.extra)
    if args.tapdisk:
        names = ["stock-td", "xosan-td"]
    else:
        names = (["raw", "stock"] + ([] if args.no_prev else ["prev"]) + ["xosan"] +
                 (["xosan+"] if extra or args.extra_mount else []) + (["gfapi"] if args.gfapi else []) +
                 (["stock-dio"] if args.stock_direct else []))
    t0 = time.time()
    try:
        pl.up()
        pl.create("stock", xosan=False)
        pl.create("xosan", xosan=True)
        if args.tapdisk:
            mib = parse_size_mib(args.size)
            targets = [pl.tapdisk_target("stock-td", "stock", mib), pl.tapdisk_target("xosan-td", "xosan", mib)]
        else:
            targets = [pl.raw_target(), pl.fuse_target("stock", "stock")]
            if "prev" in names:
                pl.create("prev", xosan=False, extra=[("group", "virt")] + PREVIOUS_OPTIONS)
                targets.append(pl.fuse_target("prev", "prev"))
            targets.append(pl.fuse_target("xosan", "xosan"))
        if "gfapi" in names:
            targets.append(pl.gfapi_target("gfapi", "xosan"))
        if "stock-dio" in names:
            pl.create("stockdio", xosan=False, extra=STOCK_DIRECT)
            targets.append(pl.fuse_target("stock-dio", "stockdio"))
        if "xosan+" in names:
            pl.create("xplus", xosan=True, extra=extra)
            targets.append(pl.fuse_target("xosan+", "xplus", args.extra_mount.split(",") if args.extra_mount else ()))
        for t in targets:
            layout(t, args.size)
        log("lab up and files laid out in %.0f s" % (time.time() - t0))
        results = interleaved(targets, rows, args.rounds, args.size, args.runtime)
    finally:
        pl.down()
    ok = print_main(results, rows, names, args, extra, time.time() - t0)
    return 0 if ok else 1


def parse_size_mib(text):
    units = {"K": 1.0 / 1024, "M": 1, "G": 1024}
    t = text.strip().upper().rstrip("B").rstrip("I")
    return int(float(t[:-1]) * units[t[-1]]) if t[-1] in units else int(t) // 1048576


def parse_extra(text):
    out = []
    for item in (text or "").split(","):
        if item.strip():
            k, v = item.split("=", 1)
            out.append((k.strip(), v.strip()))
    return out


def ratio_of(meds, a, b):
    return meds[a] / meds[b] if meds.get(a) and meds.get(b) else None


def print_main(results, rows, names, args, extra, elapsed):
    ok = True
    td = args.tapdisk
    st, xo = ("stock-td", "xosan-td") if td else ("stock", "xosan")
    raw = None if td else "raw"
    print("XOSAN data-path benchmark%s: one lab, 3 nodes, one XFS brick disk each (loop device); "
          "fio %s, %d s per run, %d interleaved rounds, medians; %s %s; %.0f s total"
          % (" through tapdisk" if td else "", "nbd engine -> tapdisk's NBD socket" if td else "libaio direct=1",
             args.runtime, args.rounds, "VHD" if td else "file", args.size, elapsed))
    if td:
        print("stock-td / xosan-td = the vendor tapdisk (/usr/libexec/tapdisk) serving a dynamic VHD on the "
              "FUSE mount of the stock / XOSAN volume (replica 3 arbiter 1); client CPU = FUSE client + tapdisk")
    else:
        print("raw = fio on node 1's XFS brick; stock = replica 3 arbiter 1, no options; xosan = the same "
              "layout with XOSAN's option set (virt group + xosan/gluster/options.py)%s%s"
              % ("; prev = the virt group + XOSAN's options before issue 14 (%s)"
                 % ",".join("%s=%s" % kv for kv in PREVIOUS_OPTIONS) if "prev" in names else "",
                 "; xosan+ = xosan's set + %s%s" % (",".join("%s=%s" % kv for kv in extra),
                                                  " mount " + args.extra_mount if args.extra_mount else "")
                 if "xosan+" in names else ""))
        if "gfapi" in names:
            print("gfapi = the xosan volume through fio's gfapi_async engine (libgfapi in fio's process, "
                  "O_DIRECT, no FUSE): what a data path without FUSE would get; its client CPU is fio's "
                  "own (usr+sys), not comparable 1:1 with a FUSE daemon's; not a shipped path, no target")
    if "stock-dio" in names:
        print("stock-dio = stock options + %s: a stock volume that keeps O_DIRECT's promise (write-behind "
              "no longer acknowledges O_DIRECT writes before the bricks have them); no target"
              % ",".join("%s=%s" % kv for kv in STOCK_DIRECT))
    print("units: MiB/s (1M rows), IOPS (4K rows). CPU: seconds of the FUSE client / of the volume's 3 "
          "brick processes, per GiB (1M rows) or per 100k I/Os (4K rows); (rounds) = min-max of the per-round ratio")
    hdr = ["row"] + names + ["%s/%s" % (xo, st), "(rounds)"]
    if raw:
        hdr += (["stock/raw", "xosan/raw"] + (["prev/stock", "xosan/prev", "(rounds)"] if "prev" in names else []) +
                (["xosan+/stock"] if "xosan+" in names else []) +
                (["gfapi/stock", "(rounds)", "gfapi/xosan", "gfapi cli CPU"] if "gfapi" in names else []) +
                (["stock-dio/stock", "xosan/stock-dio", "(rounds)", "cli CPU stock-dio"]
                 if "stock-dio" in names else []))
    hdr += ["target", "cli CPU st/xo", "brick CPU st/xo"]
    print("| " + " | ".join(hdr) + " |")
    print("|" + "---|" * len(hdr))
    for row in rows:
        key = row[0]
        cells = [row[1]]
        meds = {}
        for n in names:
            ms = results[key][n]
            if not complete(ms, args.rounds):
                ok = False
                cells.append("UNMEASURED (%d/%d)" % (sum(1 for m in ms if m), args.rounds))
                meds[n] = None
            else:
                meds[n] = med(ms)
                cells.append(fmt(meds[n]))
        ratio = ratio_of(meds, xo, st)
        rr = round_ratios(results[key][xo], results[key][st])
        cells.append(fmt(ratio, "%.2f"))
        cells.append("%.2f-%.2f" % (min(rr), max(rr)) if rr else "-")
        if raw:
            cells.append(fmt(ratio_of(meds, st, raw), "%.2f"))
            cells.append(fmt(ratio_of(meds, xo, raw), "%.2f"))
            if "prev" in names:
                cells.append(fmt(ratio_of(meds, "prev", st), "%.2f"))
                cells.append(fmt(ratio_of(meds, xo, "prev"), "%.2f"))
                pr = round_ratios(results[key][xo], results[key]["prev"])
                cells.append("%.2f-%.2f" % (min(pr), max(pr)) if pr else "-")
            if "xosan+" in names:
                cells.append(fmt(ratio_of(meds, "xosan+", st), "%.2f"))
            if "gfapi" in names:
                cells.append(fmt(ratio_of(meds, "gfapi", st), "%.2f"))
                gr = round_ratios(results[key]["gfapi"], results[key][st])
                cells.append("%.2f-%.2f" % (min(gr), max(gr)) if gr else "-")
                cells.append(fmt(ratio_of(meds, "gfapi", xo), "%.2f"))
                cells.append(fmt(cpu_per_unit(results[key]["gfapi"], "client", row), "%.2f"))
            if "stock-dio" in names:
                cells.append(fmt(ratio_of(meds, "stock-dio", st), "%.2f"))
                cells.append(fmt(ratio_of(meds, xo, "stock-dio"), "%.2f"))
                sr = round_ratios(results[key][xo], results[key]["stock-dio"])
                cells.append("%.2f-%.2f" % (min(sr), max(sr)) if sr else "-")
                cells.append(fmt(cpu_per_unit(results[key]["stock-dio"], "client", row), "%.2f"))
        notes = []
        if key in RATIO_TARGETS:
            good = ratio is not None and ratio >= RATIO_TARGETS[key]
            ok = ok and good
            notes.append(">= %.1f %s" % (RATIO_TARGETS[key], "met" if good else "MISSED"))
        cs = cpu_per_unit(results[key][st], "client", row)
        cx = cpu_per_unit(results[key][xo], "client", row)
        if row[3] == "4k":
            good = cs is not None and cx is not None and cx <= cs
            ok = ok and good
            notes.append("cli CPU <= stock %s" % ("met" if good else "MISSED"))
        cells.append("; ".join(notes) or "-")
        cells.append("%s / %s" % (fmt(cs, "%.2f"), fmt(cx, "%.2f")))
        cells.append("%s / %s" % (fmt(cpu_per_unit(results[key][st], "bricks", row), "%.2f"),
                                  fmt(cpu_per_unit(results[key][xo], "bricks", row), "%.2f")))
        print("| " + " | ".join(cells) + " |")
    print("verdict: %s" % ("every target met" if ok else "target MISSED or row UNMEASURED (exit 1)"))
    sys.stdout.flush()
    return ok


# -- the study ----------------------------------------------------------------------------------

def study(args):
    names = [n.strip() for n in args.study.split(",") if n.strip()]
    unknown = [n for n in names if n not in CAND]
    if unknown:
        raise SystemExit("unknown candidates %s; known: %s" % (unknown, ", ".join(CAND)))
    rows = [ROW[k] for k in STUDY_ROWS]
    work = tempfile.mkdtemp(prefix="xosan-perfstudy-")
    pl = PerfLab(work, args.brick_size)
    ok = True
    t0 = time.time()
    try:
        pl.up()
        pl.create("xosan")
        base = pl.fuse_target("xosan", "xosan")
        layout(base, args.size)
        for i, name in enumerate(names):
            spec = CAND[name][1]
            log("candidate %s: %s" % (name, CAND[name][2]))
            rec = {"candidate": name, "what": CAND[name][2], "spec": spec, "runtime": args.runtime,
                   "rounds": args.rounds, "time": time.strftime("%Y-%m-%d %H:%M"), "rows": {}}
            try:
                res = study_one(pl, base, i, spec, rows, args)
            except Exception as exc:  # a candidate that breaks the volume is a result too
                ok = False
                rec["failed"] = "%s: %s" % (type(exc).__name__, str(exc)[-600:])
                log("%s FAILED: %s" % (name, rec["failed"]))
                with open(args.out, "a") as fh:
                    fh.write(json.dumps(rec) + "\n")
                continue
            for row in rows:
                b, c = res[row[0]]["xosan"], res[row[0]]["cand"]
                good = complete(b, args.rounds) and complete(c, args.rounds)
                ok = ok and good
                rec["rows"][row[0]] = {
                    "base": med(b), "cand": med(c), "ratio": (med(c) / med(b)) if good else None,
                    "round_ratios": round_ratios(c, b),
                    "cli_base": cpu_per_unit(b, "client", row), "cli_cand": cpu_per_unit(c, "client", row),
                    "brick_base": cpu_per_unit(b, "bricks", row), "brick_cand": cpu_per_unit(c, "bricks", row)}
            with open(args.out, "a") as fh:
                fh.write(json.dumps(rec) + "\n")
            log("%s: %s" % (name, ", ".join("%s %.2f" % (k, v["ratio"] or 0) for k, v in rec["rows"].items())))
    finally:
        pl.down()
    log("study of %d candidates in %.0f s" % (len(names), time.time() - t0))
    return 0 if ok else 1


def study_one(pl, base, i, spec, rows, args):
    if "mtu" in spec:
        return study_mtu(pl, base, spec["mtu"], rows, args)
    vol = "c%d" % i
    root = None
    cand = None
    try:
        root = pl.second_disk(spec["xfs"]) if "xfs" in spec else None
        pl.create(vol, extra=spec.get("vol", []), brick_root=root)
        cand = pl.fuse_target("cand", vol, spec.get("mount", []))
        layout(cand, args.size)
        return interleaved([base, cand], rows, args.rounds, args.size, args.runtime)
    finally:
        if cand is not None:
            pl.umount(os.path.dirname(cand.path))
        pl.delete(vol)
        if root:
            pl.drop_second_disks()


def study_mtu(pl, base, mtu, rows, args):
    """Same volume, MTU toggled between 1500 and ``mtu``; the client remounted after each switch so
    its TCP connections negotiate the new MSS. Result names: "xosan" at 1500, "cand" at ``mtu``."""
    vol_mp = os.path.dirname(base.path)
    results = dict((r[0], {"xosan": [], "cand": []}) for r in rows)
    try:
        for rnd in range(args.rounds):
            order = [("xosan", 1500), ("cand", mtu)]
            if rnd % 2:
                order.reverse()
            for label, m in order:
                pl.set_mtu(m)
                pl.umount(vol_mp)
                t = pl.fuse_target(label, "xosan")
                t.path = base.path
                for row in rows:
                    results[row[0]][label].append(measure(t, row, args.size, args.runtime))
                    log("round %d %-6s mtu %d %s" % (rnd + 1, row[0], m, results[row[0]][label][-1] and
                                                    "%.0f" % results[row[0]][label][-1]["value"]))
    finally:
        pl.set_mtu(1500)
        pl.umount(vol_mp)
        t = pl.fuse_target("xosan", "xosan")
        base.client, base.bricks = t.client, t.bricks
    return results


def study_report(path):
    recs = [json.loads(line) for line in open(path) if line.strip()]
    print("| candidate | what | 4K rand read qd16: base -> cand IOPS (ratio; rounds) | "
          "4K rand write qd16: base -> cand (ratio; rounds) | client CPU s/100k I/O base -> cand (read; write) |")
    print("|---|---|---|---|---|")
    for r in recs:
        cells = [r["candidate"], r["what"]]
        if r.get("failed"):
            errs = [ln.strip() for ln in r["failed"].splitlines() if "error" in ln.lower()] or [r["failed"]]
            print("| " + " | ".join(cells + ["FAILED: %s" % errs[-1][:200], "-", "-"]) + " |")
            continue
        for k in STUDY_ROWS:
            v = r["rows"][k]
            rr = v["round_ratios"]
            cells.append("%s -> %s (**%s**; %s)" % (
                fmt(v["base"]), fmt(v["cand"]), fmt(v["ratio"], "%.2f"),
                "%.2f-%.2f" % (min(rr), max(rr)) if rr else "-"))
        cells.append("; ".join("%s -> %s" % (fmt(r["rows"][k]["cli_base"], "%.1f"),
                                              fmt(r["rows"][k]["cli_cand"], "%.1f")) for k in STUDY_ROWS))
        print("| " + " | ".join(cells) + " |")
    return 0


# -- where a 4K write at iodepth 1 goes (gluster volume profile) ---------------------------------

def profile(args):
    """One 4K random write run at iodepth 1 on each volume with glusterd's brick-side profile on: per
    brick, how many of each fop one write costs and their latency, to set against the 1/IOPS the
    client sees (the rest is the network and the FUSE client). Prints gluster's own tables."""
    work = tempfile.mkdtemp(prefix="xosan-perfprof-")
    pl = PerfLab(work, args.brick_size)
    row = ROW[args.profile_row]
    try:
        pl.up()
        n0 = pl.lab.nodes[0]
        for name, xosan in (("stock", False), ("xosan", True)):
            pl.create(name, xosan=xosan)
            t = pl.fuse_target(name, name)
            layout(t, args.size)
            n0.gluster(["volume", "profile", name, "start"])
            n0.gluster(["volume", "profile", name, "info", "clear"])
            m = measure(t, row, args.size, args.runtime)
            out = n0.gluster(["volume", "profile", name, "info", "incremental"]).stdout
            print("== %s: %s, %s" % (name, row[1], "%.0f IOPS, %.0f us per I/O as the client sees it" % (
                m["value"], 1e6 / m["value"] * row[4]) if m else "UNMEASURED"))
            for line in out.splitlines():
                if line.strip() and not line.startswith("-"):
                    print("   " + line.rstrip())
            sys.stdout.flush()
    finally:
        pl.down()
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runtime", type=int, default=5, help="seconds per fio run (default 5)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3, at least 3)")
    ap.add_argument("--long", action="store_true", help="30 s runs, 5 rounds")
    ap.add_argument("--size", default="512M", help="test file size (default 512M)")
    ap.add_argument("--brick-size", type=int, default=6 * 1024 ** 3)
    ap.add_argument("--rows", help="comma-separated subset of: %s" % ",".join(ROW))
    ap.add_argument("--extra", help="a 4th target xosan+: XOSAN's set plus OPT=VAL,...")
    ap.add_argument("--no-prev", action="store_true",
                    help="leave out the 'prev' target (XOSAN's option set before issue 14)")
    ap.add_argument("--stock-direct", action="store_true",
                    help="a column more: stock options + performance.strict-o-direct on (stock keeping O_DIRECT)")
    ap.add_argument("--extra-mount", help="FUSE mount options of xosan+ (comma-separated)")
    ap.add_argument("--gfapi", action="store_true",
                    help="a column more: the XOSAN volume through fio's gfapi engine (no FUSE), with its ratios")
    ap.add_argument("--tapdisk", action="store_true",
                    help="the same rows through tapdisk (NBD) on the stock and XOSAN volumes (issue 14 item 3)")
    ap.add_argument("--study", help="candidates (comma-separated) or 'all': %s" % ",".join(CAND))
    ap.add_argument("--out", default="perf-study.jsonl", help="--study results file (appended)")
    ap.add_argument("--study-report", metavar="FILE", help="print the markdown table of a results file")
    ap.add_argument("--profile", action="store_true",
                    help="gluster volume profile of one --profile-row run on the stock and XOSAN volumes")
    ap.add_argument("--profile-row", default="rw1", choices=sorted(ROW), help="row to profile (default rw1)")
    args = ap.parse_args()
    if args.long:
        args.runtime, args.rounds = 30, 5
    if args.rounds < 3:
        raise SystemExit("--rounds must be at least 3 (medians of interleaved rounds)")
    if args.study_report:
        return study_report(args.study_report)
    if args.profile:
        return profile(args)
    if args.study:
        if args.study == "all":
            args.study = ",".join(CAND)
        return study(args)
    return main_table(args)


if __name__ == "__main__":
    sys.exit(main())
