"""Day-2 operations under load: chaos's checksum-verified, fsync'd writer keeps writing on the SR while
the real `xosan` operations run on a simulated pool with real storage nodes (issue 13 item 3).

Why a separate run from bench/chaos.py: chaos fails nodes behind the product's back; here the product
itself takes nodes away and brings them (or new ones) back, through XAPI, the way an admin does, and
each of its own waits (maintenance exit's heal, replace-host's heal, add-host's rebalance) is what
must hold while a VM writes. The writer runs in host 1's dom0 on the SR's FUSE mount (the path xapi's
tapdisk would use), so the client is the one the driver mounted, not a mount of our own.

Parts (``--parts``, default ``maintenance,reboot,replace,grow,rolling``):

- ``maintenance``: every host in turn through ``maintenance enter``, ``--hold`` seconds of writes with
  that storage VM down, then ``maintenance exit`` (which waits for the heal);
- ``reboot``: host 3 in maintenance, then the product is asked to take host 2 too (it must refuse:
  that loses quorum), and host 2's storage VM is rebooted anyway through XAPI (clean shutdown, start),
  as a host reboot or a hurried admin would; then host 3 leaves maintenance. Whether the writer saw
  errors or a stall is recorded; a lost or stale record is not allowed;
- ``replace``: host 2's storage VM killed (a dead host), then ``replace-host`` onto the same host;
- ``rolling``: a rolling pool update: hosts 1, 2, 3 in turn, each storage VM rebooted (clean
  shutdown, start, as a host reboot does) once ``xosan check-reboot`` (xosan/pool/rolling.py) lets it
  go; right after each node is back, before its heal, the next host is asked at once (a script that
  does not wait): the check must refuse, and the time until it lets the next one go is recorded;
- ``grow``: a second pool of 6 hosts, the volume on hosts 1-3 (replica 3 arbiter 1, sharding on),
  then ``add-host`` of hosts 4-6 (a whole replica set) and its rebalance, with the writer going.

Per operation: its own wall time, the worst write stall (longest time without an acknowledged write
from the operation's start to full redundancy), the I/O errors the writer saw, and the time from the
operation's return to full redundancy (every brick online, the dom0's FUSE client connected to every
brick, 0 heal entries; never helped by `gluster volume heal`). At the end of each pool, chaos's end
checks: every record reads back with its last acknowledged version (or a later attempted one), both
data copies of every piece of the file (base file and shards, in every replica set) identical, 0
split-brain, 0 heal pending. Exit 1 on any of those, or on an operation that failed or could not be
measured (no full redundancy within ``--heal-bound``).

    flock /tmp/xosan-labtests.lock .venv/py3/bin/python bench/daytwo.py

Needs root and the lab's packages; builds its own labs ("xy3" on 10.250.90, "xy6" on 10.250.91 by
default) and always tears them down; about 7 minutes here (4 for the 3-host pool, 3 for the 6-host one).
"""

import argparse
import os
import pathlib
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, HERE)

import chaos  # noqa: E402
import labpool  # noqa: E402

from xosan.pool.operate import Refused  # noqa: E402
from xosan.pool.rolling import check_reboot  # noqa: E402
from xosan.pool.xapi import Xapi  # noqa: E402

MiB = chaos.MiB
PARTS = ("maintenance", "reboot", "replace", "grow", "rolling")


class Writer(chaos.RecordWriter):
    """chaos's writer, but one that outlives a volume without quorum: when the file cannot even be
    reopened (ENOTCONN while every brick of a set is down), it keeps retrying instead of dying."""

    def _open(self):
        while True:
            try:
                chaos.RecordWriter._open(self)
                return
            except OSError as exc:
                if self._stop_evt.is_set() or not self.is_alive():  # the fill, or the end: not here
                    raise
                with self.lock:
                    self.errors.append((time.time(), "open: %s" % exc.__class__.__name__))
                time.sleep(0.5)


# -- the writer on a host's SR mount ----------------------------------------------------------------

class SrWriter(object):
    """The writer on ``host``'s FUSE mount of the SR, and what the end checks need to find it."""

    def __init__(self, pool, sr_ref, volume, host="lab-host-1", file_size=192 * MiB, slots=96, pause=0.02):
        self.pool, self.volume = pool, volume
        self.sr_uuid = pool.sim.db["SR"][sr_ref]["uuid"]
        [(host_ref, _)] = pool.sim.find("host", name_label=host)
        dom0 = pool.sim.dom0(host_ref, storage=False)
        mine = [line.split()[1] for line in dom0.fuse_mounts() if line.split()[0].endswith(":/" + volume)]
        if len(mine) != 1:
            raise RuntimeError("%s's dom0 should have one FUSE mount of %s, has %s" % (host, volume, mine))
        self.mountpoint = dom0.path(mine[0])  # the volume's root: .meta is there
        self.rel = os.path.join(self.sr_uuid, "chaos.img")  # the file's path in the volume (and bricks)
        self.path = pool.mount_path(host, self.sr_uuid, "chaos.img")
        self.writer = Writer(self.path, file_size=file_size, slots=slots, pause=pause)
        self.writer.fill()
        self.writer.start()

    def bricks(self):
        return len(chaos.volume_info(self.pool.lab, self.volume).bricks)

    def redundant(self):
        lab = self.pool.lab
        return (chaos.client_connected(self.mountpoint, self.volume, count=self.bricks())
                and chaos.bricks_online(lab, self.volume) and chaos.heal_pending(lab, self.volume) == 0)

    def wait_redundant(self, timeout, poll=1.0):
        """Seconds until full redundancy, None after ``timeout``; never runs a heal."""
        t0 = time.time()
        while time.time() - t0 < timeout:
            try:
                if self.redundant():
                    return time.time() - t0
            except RuntimeError:  # no storage node answers at this instant
                pass
            time.sleep(poll)
        return None


def compare_all_sets(lab, volume, rel):
    """chaos.compare_data_copies for any number of replica sets: per set, the two data bricks'
    copies of every piece of ``rel`` found on either (the base file, a DHT link file, each shard).
    Returns (pieces compared, differing pieces)."""
    info = chaos.volume_info(lab, volume)
    by_ip = dict((n.ip, n) for n in lab.nodes)
    size = info.replica or len(info.bricks)
    sets = [info.bricks[i:i + size] for i in range(0, len(info.bricks), size)]
    gfid = None
    for b in info.bricks:
        f = chaos.brick_file(by_ip[b.host], os.path.join(b.path, rel))
        if os.path.exists(f):
            gfid = os.getxattr(f, "trusted.gfid")
            break
    if gfid is None:
        raise RuntimeError("no brick holds %s" % rel)
    h = gfid.hex()
    gfid_s = "-".join((h[0:8], h[8:12], h[12:16], h[16:20], h[20:32]))
    compared, differ = 0, []
    for bricks in sets:
        data = [(by_ip[b.host], b.path) for b in bricks if not b.is_arbiter]
        pieces = set()
        for node, path in data:
            if os.path.exists(chaos.brick_file(node, os.path.join(path, rel))):
                pieces.add(rel)
            shard_dir = chaos.brick_file(node, os.path.join(path, ".shard"))
            if os.path.isdir(shard_dir):
                pieces.update(os.path.join(".shard", f) for f in os.listdir(shard_dir) if f.startswith(gfid_s + "."))
        for piece in sorted(pieces):
            copies = []
            for node, path in data:
                f = chaos.brick_file(node, os.path.join(path, piece))
                copies.append(chaos._file_digest(f) if os.path.exists(f) else None)
            compared += 1
            if len(set(copies)) != 1 or copies[0] is None:
                differ.append(("%s on %s" % (piece, ",".join(b.name for b in bricks)), copies))
    return compared, differ


# -- operations -------------------------------------------------------------------------------------

class OpResult(object):
    def __init__(self, name):
        self.name = name
        self.wall = None          # s the operation itself took (the call returned)
        self.stall = None         # s, worst gap between acknowledged writes, op start -> full redundancy
        self.errors = 0           # I/O errors the writer saw in that window
        self.to_redundant = None  # s from the op's return to full redundancy; None = not reached
        self.needs_redundant = True  # False: degraded by design afterwards (a host in maintenance)
        self.outcome = "ok"
        self.failed = None        # why the operation could not run or be measured

    def row(self):
        wall = "%.1f s" % self.wall if self.wall is not None else "-"
        stall = "%.2f s" % self.stall if self.stall is not None else "-"
        if not self.needs_redundant:
            red = "- (one node down by design)"
        elif self.to_redundant is None:
            red = "NOT reached"
        else:
            red = "%.1f s" % self.to_redundant
        return "%-40s %9s %10s %6d  %-27s %s" % (self.name, wall, stall, self.errors, red,
                                                 self.outcome if self.failed is None else "FAILED: " + self.failed)


HEAD = "%-40s %9s %10s %6s  %-27s %s" % ("operation", "wall time", "worst stall", "errors",
                                         "back to full redundancy", "outcome")


def measure(sw, name, action, heal_bound, degraded_after=False, t_start=None, hold=0.0, log=None):
    """Run ``action`` (returns an outcome sentence or None) with the writer going and measure it.
    ``t_start``: when the operation's disruption began, if before the call (a VM killed first);
    ``hold``: seconds of writes after it returns that count in its window (a host left in maintenance)."""
    res = OpResult(name)
    t0 = time.time()
    try:
        said = action()
        if said:
            res.outcome = said
    except Exception as exc:
        res.failed = "%s: %s" % (exc.__class__.__name__, str(exc).splitlines()[0] if str(exc) else "")
    t1 = time.time()
    res.wall = t1 - t0
    if hold:
        time.sleep(hold)
    if degraded_after:
        res.needs_redundant = False
        t_end = time.time()
    else:
        res.to_redundant = sw.wait_redundant(heal_bound)
        t_end = time.time()
        if res.to_redundant is None and res.failed is None:
            res.failed = "no full redundancy within %.0f s of its return (client connected %s, bricks online %s, " \
                         "heal entries %s)" % (heal_bound, chaos.client_connected(sw.mountpoint, sw.volume,
                                                                                   count=sw.bricks()),
                                               chaos.bricks_online(sw.pool.lab, sw.volume),
                                               chaos.heal_pending(sw.pool.lab, sw.volume))
    time.sleep(0.5)  # a write blocked at t_end counts with its real length
    res.stall, res.errors = sw.writer.window(t_start or t0, t_end)
    if res.errors:
        with sw.writer.lock:
            names = [n for t, n in sw.writer.errors if (t_start or t0) <= t <= t_end]
        res.outcome += " (writer saw %s)" % ", ".join("%d x %s" % (names.count(n), n) for n in sorted(set(names)))
    if log:
        log(res.row())
    return res


def maintenance_part(pool, sw, hosts, hold, heal_bound, log):
    results = []
    for host in hosts:
        ops = pool.ops()
        results.append(measure(sw, "maintenance enter %s (+%.0f s held)" % (host, hold),
                               lambda ops=ops, host=host: ops.maintenance_enter(host), heal_bound,
                               degraded_after=True, hold=hold, log=log))
        results.append(measure(sw, "maintenance exit %s" % host,
                               lambda host=host: pool.ops().maintenance_exit(host, heal_timeout=heal_bound),
                               heal_bound, log=log))
    return results


def reboot_part(pool, sw, in_maint, reboot, heal_bound, log):
    """``in_maint`` in maintenance, then ``reboot``'s storage VM stopped and started through XAPI."""
    results = [measure(sw, "maintenance enter %s" % in_maint, lambda: pool.ops().maintenance_enter(in_maint),
                       heal_bound, degraded_after=True, log=log)]

    def ask():
        try:
            pool.ops().plan_maintenance_enter(reboot)
        except Refused as exc:
            return "refused: %s" % str(exc).split(": ", 1)[-1][:240]
        return "NOT refused"
    results.append(measure(sw, "maintenance enter %s (asked)" % reboot, ask, heal_bound, degraded_after=True,
                           log=log))
    if results[-1].outcome == "NOT refused":
        results[-1].failed = "the product let a second node of the set go into maintenance"

    def xapi_reboot():
        ops = pool.ops()
        vm, rec, ip = ops.inventory.storage_vm_of(reboot)
        host, _ = ops.inventory.host(reboot)
        x = Xapi.connect(pool.server.url, "root", "xosan")
        x.run_async("VM.clean_shutdown", vm)
        down = time.time()
        x.run_async("VM.start_on", vm, host, False, False)
        started = time.time() - down
        ops.vms.wait_reachable(chaos_progress(), [(reboot, ip)])
        ops.cluster.wait_glusterd(chaos_progress(), [ip])
        # back to where it was: the other node still in maintenance, the set writable on 2 of 3
        deadline = time.time() + heal_bound
        while time.time() < deadline:
            hl, _ = pool.ops().health()
            if hl.writable and sum(1 for b in hl.bricks if b.online) == len(hl.bricks) - 1:
                break
            time.sleep(1)
        else:
            raise RuntimeError("the volume was not writable again %.0f s after %s's storage VM restarted"
                               % (heal_bound, reboot))
        with sw.writer.lock:
            acks = [e for _, e, ok in sw.writer.writes if ok and e > down]
        return "survived: VM.start_on returned %.1f s after the shutdown, first write acknowledged %s after " \
               "the shutdown, writable again per `xosan status` after %.1f s" % (
                   started, ("%.1f s" % (acks[0] - down)) if acks else "not yet", time.time() - down)
    results.append(measure(sw, "reboot %s's storage VM (XAPI)" % reboot, xapi_reboot, heal_bound,
                           degraded_after=True, log=log))
    results.append(measure(sw, "maintenance exit %s" % in_maint,
                           lambda: pool.ops().maintenance_exit(in_maint, heal_timeout=heal_bound), heal_bound,
                           log=log))
    return results


def _reboot_storage_vm(pool, host):
    """What a host reboot does to its storage VM: a clean shutdown, then the VM started again on the
    same host (xapi's VM.clean_shutdown + VM.start_on), back when it answers SSH and glusterd does.
    Returns (shutdown time, seconds until the VM and its glusterd answered again)."""
    ops = pool.ops()
    vm, _, ip = ops.inventory.storage_vm_of(host)
    href, _ = ops.inventory.host(host)
    x = Xapi.connect(pool.server.url, "root", "xosan")
    down = time.time()
    x.run_async("VM.clean_shutdown", vm)
    x.run_async("VM.start_on", vm, href, False, False)
    ops.vms.wait_reachable(chaos_progress(), [(host, ip)])
    ops.cluster.wait_glusterd(chaos_progress(), [ip])
    return down, time.time() - down


def _check(pool, host):
    """``xosan check-reboot --host HOST`` as the CLI computes it (xosan/pool/rolling.py): (ok, why not)."""
    c = check_reboot(pool.ops(), host)
    return c.ok, "; ".join(r.message for r in c.refusals)


def _wait_gate(pool, host, bound, poll=1.0):
    """Seconds until check-reboot lets ``host`` go (None after ``bound``), and the first refusal seen."""
    t0 = time.time()
    first = None
    while time.time() - t0 < bound:
        try:
            ok, why = _check(pool, host)
        except Exception as exc:  # no storage node answers at this instant: not a yes
            ok, why = False, "check failed: %s" % exc.__class__.__name__
        if ok:
            return time.time() - t0, first
        first = first or why
        time.sleep(poll)
    return None, first


def rolling_part(pool, sw, hosts, heal_bound, log):
    """A rolling pool update: each host's storage VM rebooted in turn, each reboot gated by
    check-reboot. Right after a rebooted node is back (glusterd answering, before any heal), the
    next host is asked at once, as a script that does not wait would: the check must refuse it;
    then the run waits for the gate, as the real procedure does, and reboots that host."""
    results = []
    for host, nxt in zip(hosts, hosts[1:] + [None]):
        state = {}

        def step(host=host, state=state, nxt=nxt):
            gate, why = _wait_gate(pool, host, heal_bound)
            if gate is None:
                raise RuntimeError("check-reboot did not let %s go within %.0f s: %s" % (host, heal_bound, why))
            down, back = _reboot_storage_vm(pool, host)
            state["down"] = down
            said = "gate open after %.1f s; storage VM down and back (glusterd answering) in %.1f s" % (gate, back)
            if nxt:
                ok, why = _check(pool, nxt)
                state["asked_ok"] = ok
                said += "; %s asked at once: %s" % (nxt, "ALLOWED" if ok else "refused (%s)" % why[:200])
                t = time.time()
                wait, _ = _wait_gate(pool, nxt, heal_bound)
                said += "; check-reboot let %s go %s after" % (nxt, ("%.1f s" % (time.time() - t)) if wait is not None
                                                                 else "NOT within %.0f s" % heal_bound)
            return said
        r = measure(sw, "rolling: reboot %s's storage VM" % host, step, heal_bound, log=log)
        if r.failed is None and state.get("asked_ok"):
            r.failed = "check-reboot allowed the next host while %s had just come back (before its heal)" % host
        results.append(r)
    return results


def replace_part(pool, sw, host, heal_bound, log):
    node = pool.node_of(host)
    t_kill = time.time()
    node.kill()  # the host died with its storage VM
    time.sleep(3)  # the product is told once the death is noticed
    return [measure(sw, "replace-host %s (killed 3 s before)" % host,
                    lambda: pool.ops().replace(host, host, heal_timeout=heal_bound) and None, heal_bound,
                    t_start=t_kill, log=log)]


def grow_part(pool, sw, heal_bound, log):
    def add():
        m = pool.manifest(hosts="lab-host-1,lab-host-2,lab-host-3")
        try:
            h = pool.ops(m).add(["lab-host-4", "lab-host-5", "lab-host-6"], heal_timeout=heal_bound)
        except Exception:
            rebalance_evidence(pool, sw.volume, log)
            raise
        info = chaos.volume_info(pool.lab, sw.volume)
        return "%s, %d bricks, verdict after: %s; the file's pieces now: %s" % (
            info.type, len(info.bricks), getattr(h, "verdict", h), where_pieces(pool.lab, sw.volume, sw.rel))
    return [measure(sw, "add-host 4,5,6 + rebalance", add, heal_bound, log=log)]


def where_pieces(lab, volume, rel):
    """Which replica set holds the file's base and each shard (by the first data brick of each set;
    a DHT link file, a pointer to the set that has the data, is marked so): did the rebalance move any?"""
    info = chaos.volume_info(lab, volume)
    by_ip = dict((n.ip, n) for n in lab.nodes)
    size = info.replica or len(info.bricks)
    out = []
    for i in range(0, len(info.bricks), size):
        b = [x for x in info.bricks[i:i + size] if not x.is_arbiter][0]
        node = by_ip[b.host]
        names = []
        base = chaos.brick_file(node, os.path.join(b.path, rel))
        if os.path.exists(base):
            names.append("base" + _link_mark(base))
        shard_dir = chaos.brick_file(node, os.path.join(b.path, ".shard"))
        if os.path.isdir(shard_dir):
            names += sorted(f.rpartition(".")[2] + _link_mark(os.path.join(shard_dir, f))
                            for f in os.listdir(shard_dir))
        out.append("set %d: %s" % (i // size + 1, ", ".join(names) or "nothing"))
    return "; ".join(out)


def _link_mark(path):
    """A mark for a DHT link file: the name hashes to this set, the data lives on another."""
    try:
        os.getxattr(path, "trusted.glusterfs.dht.linkto")
        return " (link)"
    except OSError:
        return ""


def rebalance_evidence(pool, volume, log):
    """What a failed rebalance leaves to read before the lab goes: each node's status line and the
    error lines of its rebalance log (they vanish with the lab)."""
    res = chaos.live_node(pool.lab).gluster(["volume", "rebalance", volume, "status"], check=False, timeout=30)
    for line in (res.stdout or res.stderr or "").splitlines():
        log("rebalance status | %s" % line)
    for node in pool.lab.nodes:
        f = chaos.brick_file(node, "/var/log/glusterfs/%s-rebalance.log" % volume)
        try:
            with open(f, errors="replace") as fh:
                lines = [ln.rstrip() for ln in fh if "] E [" in ln or "] W [" in ln]
        except OSError:
            continue
        for ln in lines[-12:]:
            log("%s rebalance log | %s" % (node.name, ln[:400]))


class _Quiet(object):
    def step(self, *a):
        pass

    def info(self, *a):
        pass

    def __getattr__(self, name):
        return lambda *a, **k: None


def chaos_progress():
    return _Quiet()


def end_checks(pool, sw, heal_bound):
    sw.writer.stop()
    healed = sw.wait_redundant(heal_bound) is not None
    checked, bad = chaos.verify_records(sw.path, sw.writer)
    pieces, differ = compare_all_sets(pool.lab, sw.volume, sw.rel)
    return {"records": checked, "bad_records": bad, "pieces": pieces, "differing": differ,
            "split_brain": chaos.split_brain_count(pool.lab, sw.volume),
            "heal_pending": chaos.heal_pending(pool.lab, sw.volume), "healed": healed,
            "acked_writes": sw.writer.acked_writes(), "io_errors": len(sw.writer.errors)}


def run_pool(workdir, hosts, lab_id, subnet, parts, args, log):
    """Deploy on hosts 1-3 of a ``hosts``-host pool, start the writer, run ``parts``; (results, end)."""
    pool = labpool.Pool(pathlib.Path(workdir), hosts, lab_id=lab_id, subnet=subnet)
    sw = None
    results, end = [], None
    try:
        # on the 3-host pool, the default manifest (every host) is the one pool.ops() uses too
        m = pool.manifest() if hosts == 3 else pool.manifest(hosts="lab-host-1,lab-host-2,lab-host-3")
        t = time.time()
        sr, _ = pool.deployment(m).run()
        volume = pool.deployment(m).id
        log("deployed %s (3 of %d hosts) in %.1f s; writer on lab-host-1's SR mount" % (volume, hosts, time.time() - t))
        sw = SrWriter(pool, sr, volume, file_size=args.file_mib * MiB, slots=args.slots)
        time.sleep(2)
        for part in parts:
            if part == "maintenance":
                results += maintenance_part(pool, sw, ["lab-host-1", "lab-host-2", "lab-host-3"], args.hold,
                                            args.heal_bound, log)
            elif part == "reboot":
                results += reboot_part(pool, sw, "lab-host-3", "lab-host-2", args.heal_bound, log)
            elif part == "rolling":
                results += rolling_part(pool, sw, ["lab-host-1", "lab-host-2", "lab-host-3"], args.heal_bound, log)
            elif part == "replace":
                results += replace_part(pool, sw, "lab-host-2", args.heal_bound, log)
            elif part == "grow":
                results += grow_part(pool, sw, args.heal_bound, log)
        end = end_checks(pool, sw, args.heal_bound)
    finally:
        if sw is not None and sw.writer.is_alive():
            try:
                sw.writer.stop()
            except Exception:
                pass
        if sw is not None and sw.writer.fd is not None:
            os.close(sw.writer.fd)
            sw.writer.fd = None
        pool.close()
    return results, end


def report(title, results, end):
    """Print one pool's table and end state; the list of what was missed."""
    print(title)
    print(HEAD)
    for r in results:
        print(r.row())
    missed = ["%s: %s" % (r.name, r.failed) for r in results if r.failed]
    if end is None:
        missed.append("the end checks did not run")
        return missed
    if end["bad_records"]:
        missed.append("%d records lost or corrupt: %s" % (len(end["bad_records"]), end["bad_records"][:5]))
    if end["differing"]:
        missed.append("%d data copies differ: %s" % (len(end["differing"]), [d[0] for d in end["differing"]]))
    if end["split_brain"]:
        missed.append("%d split-brain entries" % end["split_brain"])
    if not end["healed"] or end["heal_pending"]:
        missed.append("heal left pending (%s entries)" % end["heal_pending"])
    print("end: %d acknowledged writes, %d I/O errors seen; %d records verified, %d bad; %d pieces compared on "
          "the data bricks of every set, %d differ; split-brain %d; heal pending %s" % (
              end["acked_writes"], end["io_errors"], end["records"], len(end["bad_records"]), end["pieces"],
              len(end["differing"]), end["split_brain"], end["heal_pending"]))
    return missed


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--parts", default=",".join(PARTS), help="comma-separated, of %s (default all)" % ",".join(PARTS))
    ap.add_argument("--hold", type=float, default=10.0, help="seconds each host stays in maintenance (default 10)")
    ap.add_argument("--heal-bound", type=float, default=300.0,
                    help="seconds an operation's heal and the return to full redundancy may take (default 300)")
    ap.add_argument("--file-mib", type=int, default=192, help="the writer's file size (default 192: 3 shards)")
    ap.add_argument("--slots", type=int, default=96)
    ap.add_argument("--lab-id", default="xy3")
    ap.add_argument("--subnet", default="10.250.90")
    ap.add_argument("--lab-id6", default="xy6")
    ap.add_argument("--subnet6", default="10.250.91")
    args = ap.parse_args(argv)
    parts = [p for p in args.parts.split(",") if p]
    bad = [p for p in parts if p not in PARTS]
    if bad or not parts:
        ap.error("unknown part(s) %s: choose from %s" % (", ".join(bad) or "(none)", ", ".join(PARTS)))
    if os.geteuid() != 0:
        ap.error("needs root: it builds a lab (network namespaces, loop devices, FUSE mounts)")
    log = lambda msg: sys.stdout.write("  . %s\n" % msg) or sys.stdout.flush()  # noqa: E731
    work = tempfile.mkdtemp(prefix="xosan-daytwo-")
    missed = []
    try:
        three = [p for p in parts if p != "grow"]
        if three:
            results, end = run_pool(os.path.join(work, "p3"), 3, args.lab_id, args.subnet, three, args, log)
            missed += report("XOSAN day-2 under load: 3 hosts, replica 3 arbiter 1, fsync'd 64 KiB records on "
                             "lab-host-1's SR mount", results, end)
        if "grow" in parts:
            results, end = run_pool(os.path.join(work, "p6"), 6, args.lab_id6, args.subnet6, ["grow"], args, log)
            missed += report("XOSAN day-2 under load: 6-host pool, volume on 3, add-host of a whole replica set "
                             "+ rebalance", results, end)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for m in missed:
        print("MISSED: %s" % m)
    print("day-2 under load: %s" % ("all checks passed" if not missed else "%d missed" % len(missed)))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
