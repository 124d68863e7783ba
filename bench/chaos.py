"""Chaos run: a checksum-verified writer on the volume while storage nodes fail and come back.

Pieces (importable by tests/test_chaos.py):

- ``RecordWriter``: a thread writing fixed-size records (offset, sequence number, sha256 inside each)
  with pwrite + fsync on a file of the FUSE mount; it keeps the last acknowledged sequence of every
  record slot, every write's start/end time and the I/O errors it saw.
- ``verify_records``: reads every slot back through the mount: checksum, offset, and a sequence that
  is the last acknowledged one or a later attempted one (an ack may be lost; never older).
- ``compare_data_copies``: the two data bricks' copies of the file and of each of its shards
  (<brick>/.shard/<gfid>.<n>), byte-wise; the arbiter holds no data and is left out.
- ``split_brain_count`` / ``heal_pending``: ``heal info [split-brain] --xml`` via the adapter's parser.
- ``run_cycle``: fault one node for N seconds, end the fault, wait (bounded, WITHOUT triggering a
  heal: the volume must get back to full redundancy by itself) until every brick is online, the FUSE
  client is connected to every brick again and heal info shows 0 entries; records the worst stall,
  the I/O errors and the time to full redundancy. The faults (MODES):
  ``cut`` (link down, processes live on), ``kill`` (every process of the node, then a fresh start),
  ``netem`` (200 ms delay and 5 % loss on what the node receives: bench/netdelay.py, because this
  kernel has no sch_netem), ``flap`` (link down and up every FLAP_PERIOD s for the whole outage) and
  ``slowdisk`` (the node's processes throttled on its brick's loop device by the blkio cgroup: this
  kernel has no device-mapper for dm-delay, and cgroup v2's io.max is not mounted).

``python bench/chaos.py --cycles 21 --outage 8`` (what ``make chaos`` runs) prints a table per cycle and
a summary, and exits 1 when a target is missed. Needs root and the lab's packages; builds its own lab
(id "ch1", 10.250.240.0/24 by default) and always tears it down.
"""

import argparse
import errno
import hashlib
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from xosan.gluster import parse_heal_info, parse_volume_info, parse_volume_status  # noqa: E402

KiB, MiB = 1024, 1024 ** 2
RECORD = 64 * KiB
MAGIC = b"XOSANCH1"
HEADER = struct.Struct("<8sQQQ")  # magic, offset, seq, run id
DIGEST = 32

MODES = ("cut", "kill", "netem", "flap", "slowdisk")
NETEM_DELAY, NETEM_LOSS = 0.2, 0.05   # s, share: the netem mode (what issue 13 item 4 asks)
FLAP_PERIOD = 3.0                     # s the link stays down, then up, then down... in the flap mode
# The slowdisk mode: a brick disk that still answers but slowly, like a failing or saturated HDD.
SLOW_BPS = 2 * MiB
SLOW_IOPS = 20
BLKIO = "/sys/fs/cgroup/blkio"

TARGET_STALL = 5.0       # s, worst gap between acknowledged writes around one failure
TARGET_REDUNDANT = 60.0  # s, node back -> full redundancy (all bricks, client connected, 0 heal entries)


# -- records -------------------------------------------------------------------------------------

def make_record(offset, seq, run_id, size=RECORD):
    head = HEADER.pack(MAGIC, offset, seq, run_id)
    # the payload is derived from (offset, seq): a stale or misplaced block never passes as a fresh one
    seed = hashlib.sha256(head).digest()
    body_len = size - HEADER.size - DIGEST
    body = (seed * (body_len // len(seed) + 1))[:body_len]
    data = head + body
    return data + hashlib.sha256(data).digest()


def parse_record(block):
    """(offset, seq, run_id) of a record, or None when it is not an intact record."""
    if len(block) < HEADER.size + DIGEST:
        return None
    data, digest = block[:-DIGEST], block[-DIGEST:]
    if hashlib.sha256(data).digest() != digest:
        return None
    magic, offset, seq, run_id = HEADER.unpack(data[:HEADER.size])
    if magic != MAGIC:
        return None
    return offset, seq, run_id


class RecordWriter(threading.Thread):
    """Writes records at ``slots`` offsets of ``path``, fsync'd, as fast as the volume allows (with
    ``pause`` seconds between writes). Slots are spread over the whole file so several shards change."""

    def __init__(self, path, file_size=192 * MiB, slots=96, record=RECORD, pause=0.02, seed=1):
        threading.Thread.__init__(self, name="chaos-writer")
        self.daemon = True
        self.path = path
        self.record = record
        stride = file_size // slots
        self.offsets = [i * stride - (i * stride) % record for i in range(slots)]
        self.pause = pause
        self.run_id = random.Random(seed).getrandbits(63)
        self.rng = random.Random(seed)
        self.seq = 0
        self.acked = {}       # offset -> last acknowledged seq
        self.attempted = {}   # offset -> seqs written after the last ack whose write failed (may be there)
        self.writes = []      # (start, end, ok)
        self.errors = []      # (time, errno name)
        self.lock = threading.Lock()
        self._stop_evt = threading.Event()
        # held by the loop around each write; whoever takes it pauses the writer between two writes
        # (a remount swaps the file descriptor under it: bench/chaos_timeouts.py)
        self.gate = threading.Lock()
        self.fd = None
        self.failure = None

    def _open(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)

    def fill(self):
        """Write every slot once before the run, so every record has an acknowledged version."""
        self._open()
        for off in self.offsets:
            self._write_one(off)
        missing = [o for o in self.offsets if o not in self.acked]
        if missing:
            raise RuntimeError("initial fill failed at %d slots" % len(missing))

    def _write_one(self, off):
        with self.lock:
            self.seq += 1
            seq = self.seq
        data = make_record(off, seq, self.run_id, self.record)
        t = time.time()
        try:
            n = os.pwrite(self.fd, data, off)
            if n != len(data):
                raise OSError(errno.EIO, "short write %d of %d" % (n, len(data)))
            os.fsync(self.fd)
        except OSError as exc:
            end = time.time()
            with self.lock:
                self.writes.append((t, end, False))
                self.errors.append((end, errno.errorcode.get(exc.errno, str(exc.errno))))
                self.attempted.setdefault(off, []).append(seq)
            if exc.errno in (errno.EBADF, errno.ESTALE):
                try:
                    os.close(self.fd)
                except OSError:
                    pass
                self._open()
            time.sleep(0.1)
            return False
        end = time.time()
        with self.lock:
            self.writes.append((t, end, True))
            self.acked[off] = seq
            self.attempted.pop(off, None)
        return True

    def run(self):
        try:
            while not self._stop_evt.is_set():
                with self.gate:
                    self._write_one(self.rng.choice(self.offsets))
                if self.pause:
                    time.sleep(self.pause)
        except Exception as exc:  # reported by stop(): a writer that died must fail the run
            self.failure = exc

    def stop(self):
        self._stop_evt.set()
        self.join(120)
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.failure is not None:
            raise self.failure

    # -- what a cycle reports -----------------------------------------------------------------------

    def window(self, t0, t1):
        """(worst stall, I/O errors) between t0 and t1. The stall is the longest time without an
        acknowledged write: gaps between acks, counting from the last ack before t0 and up to t1
        (or to the first ack after t1 when the writer was still blocked then)."""
        with self.lock:
            acks = [end for _, end, ok in self.writes if ok]
            errors = sum(1 for t, _ in self.errors if t0 <= t <= t1)
        before = [a for a in acks if a < t0]
        inside = [a for a in acks if t0 <= a <= t1]
        after = [a for a in acks if a > t1]
        points = ([before[-1]] if before else [t0]) + inside + ([after[0]] if after else [t1])
        worst = max(b - a for a, b in zip(points, points[1:])) if len(points) > 1 else t1 - t0
        return worst, errors

    def rate(self, t0, t1):
        """Acknowledged writes per second between t0 and t1 (a slow fault shows here, not as a stall)."""
        with self.lock:
            n = sum(1 for _, end, ok in self.writes if ok and t0 <= end <= t1)
        return n / float(t1 - t0) if t1 > t0 else 0.0

    def acked_writes(self):
        with self.lock:
            return sum(1 for w in self.writes if w[2])


def verify_records(path, writer):
    """Read every slot back through the mount. Returns (checked, problems): a problem is a record that
    is not intact, sits at the wrong offset, belongs to another run, or is older than the last ack."""
    problems = []
    fd = os.open(path, os.O_RDONLY)
    try:
        for off in writer.offsets:
            block = os.pread(fd, writer.record, off)
            rec = parse_record(block)
            acked = writer.acked.get(off)
            allowed = set([acked] + writer.attempted.get(off, []))
            if rec is None:
                problems.append((off, "not an intact record (checksum)"))
            elif rec[0] != off:
                problems.append((off, "record of offset %d found here" % rec[0]))
            elif rec[2] != writer.run_id:
                problems.append((off, "record of another run"))
            elif rec[1] not in allowed:
                problems.append((off, "seq %d, acknowledged %s" % (rec[1], acked)))
    finally:
        os.close(fd)
    return len(writer.offsets), problems


# -- bricks --------------------------------------------------------------------------------------

def volume_info(lab, volume):
    node = live_node(lab)
    [info] = parse_volume_info(node.gluster(["volume", "info", volume, "--xml"]).stdout)
    return info


def live_node(lab, avoid=None):
    for n in lab.nodes:
        if n is not avoid and n.running() and not n.is_cut():
            return n
    raise RuntimeError("no storage node is up")


def data_nodes(lab, volume):
    """Lab nodes holding the data bricks (not the arbiter), and the brick path on each."""
    by_ip = dict((n.ip, n) for n in lab.nodes)
    return [(by_ip[b.host], b.path) for b in volume_info(lab, volume).bricks if not b.is_arbiter]


def brick_file(node, path):
    """A path in the node's brick as this machine sees it (the brick is mounted only inside the
    node's mount namespace; /proc/<pid>/root enters it)."""
    return "/proc/%d/root%s" % (node.pid, path)


def _file_digest(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(4 * MiB)
            if not chunk:
                break
            h.update(chunk)
    return os.path.getsize(path), h.hexdigest()


def compare_data_copies(lab, volume, rel):
    """Compare the data bricks' copies of ``rel`` (its first shard) and of every other shard.
    Returns (pieces compared, list of differing pieces)."""
    (na, pa), (nb, pb) = data_nodes(lab, volume)
    base_a = brick_file(na, os.path.join(pa, rel))
    gfid = os.getxattr(base_a, "trusted.gfid")
    gfid_s = "%s-%s-%s-%s-%s" % tuple(gfid.hex()[i:j] for i, j in ((0, 8), (8, 12), (12, 16), (16, 20), (20, 32)))
    pieces = [rel]
    for n, p in ((na, pa), (nb, pb)):
        shard_dir = brick_file(n, os.path.join(p, ".shard"))
        if os.path.isdir(shard_dir):
            pieces += [os.path.join(".shard", f) for f in os.listdir(shard_dir) if f.startswith(gfid_s + ".")]
    pieces = sorted(set(pieces))
    differ = []
    for piece in pieces:
        copies = []
        for n, p in ((na, pa), (nb, pb)):
            f = brick_file(n, os.path.join(p, piece))
            copies.append(_file_digest(f) if os.path.exists(f) else None)
        if copies[0] != copies[1] or copies[0] is None:
            differ.append((piece, copies))
    return len(pieces), differ


def _heal_info(lab, volume, split_brain=False):
    args = ["volume", "heal", volume, "info"] + (["split-brain"] if split_brain else []) + ["--xml"]
    res = live_node(lab).gluster(args, check=False, timeout=30)
    if res.returncode != 0:
        return None
    try:
        return parse_heal_info(res.stdout)
    except Exception:
        return None


def split_brain_count(lab, volume):
    entries = _heal_info(lab, volume, split_brain=True)
    if entries is None:
        raise RuntimeError("heal info split-brain did not answer")
    return sum(e.entries or 0 for e in entries)


def heal_pending(lab, volume):
    """Heal entries summed over bricks, or None when a brick cannot say (down / not connected)."""
    entries = _heal_info(lab, volume)
    if not entries or not all(e.connected and e.entries is not None for e in entries):
        return None
    return sum(e.entries for e in entries)


def brick_ports(lab, volume):
    """brick name -> (pid, port) from glusterd (``volume status``); {} when it does not answer."""
    res = live_node(lab).gluster(["volume", "status", volume, "--xml"], check=False, timeout=30)
    try:
        bricks, _ = parse_volume_status(res.stdout)
    except Exception:
        return {}
    return dict((b.name, (b.pid, b.port)) for b in bricks if b.online)


def bricks_online(lab, volume):
    res = live_node(lab).gluster(["volume", "status", volume, "--xml"], check=False, timeout=30)
    try:
        bricks, _ = parse_volume_status(res.stdout)
    except Exception:
        return False
    wanted = set(b.name for b in volume_info(lab, volume).bricks)
    return wanted <= set(b.name for b in bricks if b.online)


def client_connected(mountpoint, volume, count=3):
    """The FUSE client's own view: is each protocol/client xlator connected (from .meta)?"""
    for i in range(count):
        try:
            with open(os.path.join(mountpoint, ".meta", "graphs", "active", "%s-client-%d" % (volume, i),
                                   "private")) as fh:
                text = fh.read()
        except OSError:
            return False
        if "connected = 1" not in text.replace("\t", " "):
            return False
    return True


def redundant(lab, volume, mountpoint):
    """Full redundancy: every brick online, our client connected to each, 0 heal entries."""
    return client_connected(mountpoint, volume) and bricks_online(lab, volume) and heal_pending(lab, volume) == 0


def status_verdict(lab, volume):
    """The verdict `xosan status` gives (health.collect, asked inside a node that is up)."""
    from xosan.gluster import health
    try:
        return health.collect(lab.node_cli(live_node(lab)), volume).verdict
    except Exception as exc:  # a node that just vanished: no verdict this time
        return "no answer (%s)" % exc.__class__.__name__


def wait_redundant(lab, volume, mountpoint, timeout, poll=1.0, verdicts=None):
    """Seconds until full redundancy, or None after ``timeout``. Never triggers a heal itself.
    With ``verdicts`` (a list), each poll also asks the status verdict first and appends
    (seconds, verdict, FUSE client connected to every brick): how the verdict followed the way back."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        if verdicts is not None:
            v = status_verdict(lab, volume)
            verdicts.append((time.time() - t0, v, client_connected(mountpoint, volume)))
        if redundant(lab, volume, mountpoint):
            return time.time() - t0
        time.sleep(poll)
    return None


def force_heal(lab, volume, mountpoint, timeout=300):
    """The operator's way back (``gluster volume heal``) after a cycle missed its bound."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        live_node(lab).gluster(["volume", "heal", volume], check=False, timeout=30)
        if wait_redundant(lab, volume, mountpoint, 5) is not None:
            return True
    return False


# -- faults ---------------------------------------------------------------------------------------

class NetDelay(object):
    """netem's "delay D loss P" on what ``node`` receives (bench/netdelay.py in its namespace, fed
    by an NFQUEUE rule with --queue-bypass: packets pass unharmed once the rule or the process is gone)."""

    def __init__(self, node, delay=NETEM_DELAY, loss=NETEM_LOSS, queue=None):
        self.node, self.delay, self.loss = node, delay, loss
        self.queue = queue if queue is not None else 100 + node.state["index"]
        self.proc = None
        self.rule = ["INPUT", "-i", "eth0", "-j", "NFQUEUE", "--queue-num", str(self.queue), "--queue-bypass"]

    def _iptables(self, *args):
        return subprocess.call(["ip", "netns", "exec", self.node.state["netns"], "iptables"] + list(args),
                               stderr=subprocess.DEVNULL)

    def start(self):
        if shutil.which("iptables") is None:
            raise RuntimeError("the netem mode needs iptables (apt-get install iptables)")
        script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "netdelay.py")
        self.proc = subprocess.Popen(["ip", "netns", "exec", self.node.state["netns"], sys.executable, script,
                                      "--queue", str(self.queue), "--delay", str(self.delay),
                                      "--loss", str(self.loss)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        line = self.proc.stdout.readline().decode(errors="replace")
        if not line.startswith("bound"):
            self.proc.wait(10)
            raise RuntimeError("netdelay did not start: %s" % line.strip())
        if self._iptables("-I", *self.rule) != 0:
            self.stop()
            raise RuntimeError("iptables refused the NFQUEUE rule in %s" % self.node.name)
        return self

    def stop(self):
        while self._iptables("-D", *self.rule) == 0:
            pass
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
            self.proc.stdout.close()
            self.proc = None


class SlowDisk(object):
    """The node's processes (glusterd, its brick, its self-heal daemon: every pid of its namespace)
    moved into a blkio cgroup that throttles reads and writes on the brick's loop device. Bricks
    that glusterd starts meanwhile inherit it. ``stop`` puts them back where they were."""

    def __init__(self, node, bps=SLOW_BPS, iops=SLOW_IOPS):
        self.node, self.bps, self.iops = node, bps, iops
        self.path = os.path.join(BLKIO, "xosan-chaos-%s" % node.name)
        self.origin = {}

    def _device(self):
        dev = self.node.state.get("loopdev")
        if not dev:
            raise RuntimeError("the slowdisk mode needs a brick on a loop device (%s has none)" % self.node.name)
        st = os.stat(dev)
        return "%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev))

    @staticmethod
    def _blkio_of(pid):
        with open("/proc/%d/cgroup" % pid) as fh:
            for line in fh:
                _, ctrl, path = line.rstrip("\n").split(":", 2)
                if "blkio" in ctrl.split(","):
                    return path
        return "/"

    def start(self):
        from xosan_lab.netns import netns_pids
        if not os.path.isdir(BLKIO):
            raise RuntimeError("the slowdisk mode needs the cgroup v1 blkio controller at %s" % BLKIO)
        dev = self._device()
        os.makedirs(self.path, exist_ok=True)
        for knob, value in (("read_bps_device", self.bps), ("write_bps_device", self.bps),
                            ("read_iops_device", self.iops), ("write_iops_device", self.iops)):
            with open(os.path.join(self.path, "blkio.throttle." + knob), "w") as fh:
                fh.write("%s %d\n" % (dev, value))
        for pid in netns_pids(self.node.state["netns"]):
            try:
                self.origin[pid] = self._blkio_of(pid)
                with open(os.path.join(self.path, "cgroup.procs"), "w") as fh:
                    fh.write("%d\n" % pid)
            except OSError:
                pass  # the process ended meanwhile
        return self

    def stop(self):
        try:
            with open(os.path.join(self.path, "cgroup.procs")) as fh:
                pids = [int(p) for p in fh.read().split()]
        except OSError:
            pids = []
        for pid in pids:
            back = os.path.join(BLKIO, self.origin.get(pid, "/").lstrip("/"), "cgroup.procs")
            try:
                with open(back, "w") as fh:
                    fh.write("%d\n" % pid)
            except OSError:
                pass
        for _ in range(50):
            try:
                os.rmdir(self.path)
                return
            except OSError:
                time.sleep(0.1)


def _flap(node, outage, period=FLAP_PERIOD):
    """Link down and up every ``period`` s for ``outage`` s; always up again at the end."""
    end = time.time() + outage
    try:
        while time.time() < end:
            node.cut()
            time.sleep(min(period, max(0.0, end - time.time())))
            node.reconnect()
            if time.time() < end:
                time.sleep(min(period, max(0.0, end - time.time())))
    finally:
        node.reconnect()


# -- cycles --------------------------------------------------------------------------------------

class CycleResult(object):
    def __init__(self, index, node, role, mode, outage):
        self.index, self.node, self.role, self.mode, self.outage = index, node, role, mode, outage
        self.stall = None
        self.errors = 0
        self.to_redundant = None  # s from the node's return to full redundancy; None = bound missed
        self.forced = False
        self.brick_restarted = None  # the failed node's brick came back as a new process (new port)
        self.verdicts = []  # (s after the fault ended, status verdict, client connected) until redundant
        self.rate_before = self.rate_during = None  # acknowledged writes/s just before and during the fault

    def row(self):
        red = "%.1f s" % self.to_redundant if self.to_redundant is not None else "NOT in bound%s" % (
            " (forced heal)" if self.forced else "")
        return "%3d  %-8s %-8s %-8s %4.0f s  %8.2f s  %6d  %-13s %s" % (
            self.index, self.node, self.role, self.mode, self.outage, self.stall, self.errors,
            {True: "new port", False: "same", None: "?"}[self.brick_restarted],
            red) + "  writes/s %s  status: %s" % (self.rates(), self.status_said())

    def rates(self):
        if self.rate_before is None or self.rate_during is None:
            return "?"
        return "%.0f -> %.0f" % (self.rate_before, self.rate_during)

    def false_healthy(self):
        """Polls where the status verdict said healthy while the FUSE client was not connected to every
        brick (what item 6 forbids)."""
        return sum(1 for _, v, connected in self.verdicts if v == "healthy" and not connected)

    def status_said(self):
        seen = []
        for _, v, _ in self.verdicts:
            if not seen or seen[-1] != v:
                seen.append(v)
        return "%s%s" % (" > ".join(seen) or "-", (", HEALTHY WHILE CLIENT NOT CONNECTED x%d" % self.false_healthy())
                         if self.false_healthy() else "")


HEAD = ("  #  node     role     mode     outage  worst stall  errors  brick process back to full redundancy"
        "  writes/s before -> during  status verdict on the way back")


def schedule(lab, volume, cycles, modes=("cut", "kill"), nodes=None):
    """(node, mode) per cycle: the nodes in turn (default every node: data nodes and the arbiter),
    the modes changing after each round of the nodes, so each node meets every mode over
    len(nodes) * len(modes) cycles."""
    nodes = list(nodes or lab.nodes)
    return [(nodes[i % len(nodes)], modes[(i // len(nodes)) % len(modes)]) for i in range(cycles)]


def run_cycle(lab, volume, mountpoint, writer, index, node, mode, outage, heal_bound, settle=2.0, log=None,
              client_lag=0.0):
    """One failure. ``client_lag`` > 0 replays the reconnect race of issue 13 item 6 on purpose: for that
    many seconds after the node is back, its packets to this machine (the FUSE client) are dropped, so
    the self-heal daemons heal the node at once while the client still writes to the other two bricks."""
    arb = dict((b.host, b.is_arbiter) for b in volume_info(lab, volume).bricks)
    res = CycleResult(index, node.name, "arbiter" if arb.get(node.ip) else "data", mode, outage)
    time.sleep(settle)
    mine = [b.name for b in volume_info(lab, volume).bricks if b.host == node.ip]
    ports_before = brick_ports(lab, volume)
    if mode not in MODES:
        raise ValueError("unknown chaos mode %r (modes: %s)" % (mode, ", ".join(MODES)))
    t_fail = time.time()
    if mode in ("netem", "slowdisk"):
        fault = (NetDelay(node) if mode == "netem" else SlowDisk(node)).start()
        try:
            time.sleep(outage)
        finally:
            fault.stop()
    elif mode == "flap":
        _flap(node, outage)
    else:
        (node.cut if mode == "cut" else node.kill)()
        time.sleep(outage)
        if client_lag and mode == "cut":
            node.block(lab.host_ip)
        if mode == "cut":
            node.reconnect()
        else:
            node.start()
            lab.save()
            if client_lag:
                node.block(lab.host_ip)
    t_back = time.time()
    if client_lag:
        time.sleep(client_lag)
        node.unblock(lab.host_ip)
    res.to_redundant = wait_redundant(lab, volume, mountpoint, heal_bound, verdicts=res.verdicts)
    if res.to_redundant is None:
        if log:
            log("cycle %d: no full redundancy %d s after %s returned (client connected: %s, bricks online: "
                "%s, heal entries: %s); forcing a heal" % (index, heal_bound, node.name,
                                                         client_connected(mountpoint, volume),
                                                         bricks_online(lab, volume), heal_pending(lab, volume)))
        res.forced = True
        if not force_heal(lab, volume, mountpoint):
            raise RuntimeError("the volume did not heal even after `gluster volume heal`")
    t_end = time.time()
    ports_after = brick_ports(lab, volume)
    res.brick_restarted = any(ports_before.get(b) != ports_after.get(b) for b in mine)
    # wait a moment so a write blocked at t_end is counted with its real length
    time.sleep(0.5)
    res.stall, res.errors = writer.window(t_fail, t_end)
    res.back_at = t_back - t_fail
    res.rate_before = writer.rate(t_fail - settle, t_fail)
    res.rate_during = writer.rate(t_fail, t_back)
    return res


class ChaosRun(object):
    """A lab, a mounted volume and a running writer; ``close`` always cleans up."""

    def __init__(self, workdir, lab_id="ch1", subnet="10.250.240", volume="xosan", brick_size=1024 ** 3,
                 file_size=192 * MiB, slots=96, pause=0.02, options=None):
        from xosan_lab.cluster import Lab
        self.volume = volume
        self.lab = Lab.new(workdir, lab_id=lab_id, subnet=subnet)
        self.mountpoint = os.path.join(workdir, "mnt")
        self.path = os.path.join(self.mountpoint, "chaos.img")
        self.writer = None
        self._mounted = False
        try:
            self.lab.up(3, brick_size=brick_size)
            self.lab.create_volume(volume, ["replica", "3", "arbiter", "1"])
            for opt, value in (options or {}).items():
                self.lab.nodes[0].gluster(["volume", "set", volume, opt, value])
            os.makedirs(self.mountpoint)
            n = self.lab.nodes
            subprocess.check_call(["mount", "-t", "glusterfs", "-o", "backup-volfile-servers=%s:%s" % (
                n[1].ip, n[2].ip), "%s:/%s" % (n[0].ip, volume), self.mountpoint])
            self._mounted = True
            self.writer = RecordWriter(self.path, file_size=file_size, slots=slots, pause=pause)
            self.writer.fill()
        except BaseException:
            self.close()
            raise

    def start(self):
        self.writer.start()

    def finish(self, heal_bound=300):
        """Stop the writer, wait for heals, verify everything. Returns a dict of the end state."""
        self.writer.stop()
        healed = wait_redundant(self.lab, self.volume, self.mountpoint, heal_bound) is not None
        checked, bad = verify_records(self.path, self.writer)
        pieces, differ = compare_data_copies(self.lab, self.volume, os.path.basename(self.path))
        return {"records": checked, "bad_records": bad, "pieces": pieces, "differing": differ,
                "split_brain": split_brain_count(self.lab, self.volume),
                "heal_pending": heal_pending(self.lab, self.volume), "healed": healed,
                "acked_writes": self.writer.acked_writes(), "io_errors": len(self.writer.errors)}

    def close(self):
        if self.writer is not None and self.writer.is_alive():
            try:
                self.writer.stop()
            except Exception:
                pass
        if self.writer is not None and self.writer.fd is not None:
            try:
                os.close(self.writer.fd)
            except OSError:
                pass
            self.writer.fd = None
        if self._mounted:
            subprocess.call(["umount", "-l", self.mountpoint], stderr=subprocess.DEVNULL)
            self._mounted = False
        self.lab.down()
        for node in self.lab.nodes:  # a slowdisk cgroup left by a cycle that failed half-way
            if os.path.isdir(SlowDisk(node).path):
                SlowDisk(node).stop()


def median(values):
    v = sorted(values)
    if not v:
        return float("nan")
    m = len(v) // 2
    return v[m] if len(v) % 2 else (v[m - 1] + v[m]) / 2.0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=21, help="failures, one node at a time (default 21)")
    ap.add_argument("--outage", type=float, default=8.0, help="seconds a node stays failed (default 8)")
    ap.add_argument("--heal-bound", type=float, default=120.0,
                    help="seconds to wait for full redundancy before forcing a heal (default 120)")
    ap.add_argument("--only", choices=MODES, help="one failure mode only")
    ap.add_argument("--modes", default="cut,kill",
                    help="failure modes taking turns, comma-separated, of %s (default cut,kill)" % ",".join(MODES))
    ap.add_argument("--nodes", help="comma-separated node numbers to fail (default all, in turn)")
    ap.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE",
                    help="volume option to set on top of XOSAN's (to compare)")
    ap.add_argument("--lab-id", default="ch1")
    ap.add_argument("--subnet", default="10.250.240")
    args = ap.parse_args(argv)
    modes = [m for m in args.modes.split(",") if m]
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        ap.error("unknown mode(s) %s: choose from %s" % (", ".join(bad) or "(none)", ", ".join(MODES)))
    options = dict(s.split("=", 1) for s in args.set)
    work = tempfile.mkdtemp(prefix="xosan-chaos-")
    log = lambda msg: sys.stdout.write("  ! %s\n" % msg) or sys.stdout.flush()  # noqa: E731
    run = ChaosRun(os.path.join(work, "lab"), lab_id=args.lab_id, subnet=args.subnet, options=options)
    results, end = [], None
    try:
        wanted = [run.lab.node(x) for x in args.nodes.split(",")] if args.nodes else None
        plan = schedule(run.lab, run.volume, args.cycles, modes, wanted)
        if args.only:
            plan = [(n, args.only) for n, _ in plan]
        print("XOSAN chaos: 3 lab nodes, replica 3 arbiter 1, %d cycles of %.0f s outages (%s), fsync'd 64 KiB "
              "records%s" % (args.cycles, args.outage, args.only or ",".join(modes),
                             (", extra options %s" % options) if options else ""))
        print(HEAD)
        sys.stdout.flush()
        run.start()
        for i, (node, mode) in enumerate(plan):
            r = run_cycle(run.lab, run.volume, run.mountpoint, run.writer, i + 1, node, mode, args.outage,
                          args.heal_bound, log=log)
            results.append(r)
            print(r.row())
            sys.stdout.flush()
        end = run.finish()
    finally:
        run.close()
        shutil.rmtree(work, ignore_errors=True)
    return report(results, end)


def report(results, end):
    stalls = [r.stall for r in results]
    reds = [r.to_redundant for r in results if r.to_redundant is not None]
    missed = []
    if end["bad_records"]:
        missed.append("%d records lost or corrupt: %s" % (len(end["bad_records"]), end["bad_records"][:5]))
    if end["differing"]:
        missed.append("%d shard copies differ: %s" % (len(end["differing"]), [d[0] for d in end["differing"]]))
    if end["split_brain"]:
        missed.append("%d split-brain entries" % end["split_brain"])
    if not end["healed"] or end["heal_pending"]:
        missed.append("heal left pending (%s entries)" % end["heal_pending"])
    slow = [r for r in results if r.stall > TARGET_STALL]
    if slow:
        missed.append("stall > %.0f s in cycles %s" % (TARGET_STALL, [r.index for r in slow]))
    late = [r for r in results if r.to_redundant is None or r.to_redundant > TARGET_REDUNDANT]
    if late:
        missed.append("full redundancy later than %.0f s in cycles %s" % (TARGET_REDUNDANT, [r.index for r in late]))
    print("summary: %d cycles; worst stall median %.2f s, max %.2f s; back to full redundancy median %.1f s, "
          "max %s; I/O errors %d; %d acknowledged writes" % (
              len(results), median(stalls), max(stalls) if stalls else 0, median(reds),
              ("%.1f s" % max(reds)) if reds and len(reds) == len(results) else "NOT in bound",
              sum(r.errors for r in results), end["acked_writes"]))
    for mode in MODES:
        for role in ("data", "arbiter"):
            sel = [r for r in results if r.mode == mode and r.role == role]
            if sel:
                print("  %-8s %-7s: %2d cycles, stall median %.2f s max %.2f s, redundancy median %.1f s, "
                      "missed %d, errors %d" % (mode, role, len(sel), median([r.stall for r in sel]),
                                     max(r.stall for r in sel),
                                     median([r.to_redundant for r in sel if r.to_redundant is not None]),
                                     sum(1 for r in sel if r.to_redundant is None), sum(r.errors for r in sel)))
    fh = sum(r.false_healthy() for r in results)
    print("status verdict: healthy while the client was not connected to every brick in %d poll(s)" % fh)
    if fh:
        missed.append("status said healthy while the client was not reconnected (%d polls)" % fh)
    print("end: %d records verified, %d bad; %d shard pieces compared on both data bricks, %d differ; "
          "split-brain %d; heal pending %s" % (end["records"], len(end["bad_records"]), end["pieces"],
                                                len(end["differing"]), end["split_brain"], end["heal_pending"]))
    for m in missed:
        print("MISSED: %s" % m)
    print("targets: %s" % ("all met" if not missed else "%d missed" % len(missed)))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
