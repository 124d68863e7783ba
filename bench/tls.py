"""Benchmark: what GlusterFS TLS on the I/O path costs, one volume with TLS toggled (issue 15 item 3).

One lab (id xs<minor>, 10.25x.70.0/24, the subnet offset this benchmark owns): three storage nodes,
one XFS brick disk each (loop device), one replica 3 arbiter 1 volume with XOSAN's option set
(the virt group + xosan/gluster/options.py, as bench/perf.py applies it) and the TLS paths of
xosan/gluster/tls.py, certificates from xosan/pool/certs.py (a per-run CA, one certificate per
node, one for the client). The SAME volume and the SAME test file are measured with TLS off and
on: each switch stops the volume, sets client.ssl/server.ssl, starts it and remounts the client
(glusterfs started directly, with identical arguments in both states). Rounds are interleaved
(round r measures off then on, or on then off, alternating), every row in each state; each
cell is the median of the rounds; ratios are on/off per row, with the per-round range. fio,
the rows, the measurement and CPU accounting are bench/perf.py's (imported, not copied).

Runs as root. Hold /tmp/xosan-labtests.lock around it (flock) on a shared machine.
Usage: python bench/tls.py [--runtime S] [--rounds N] [--rows rr16,rw16,seqread,seqwrite]
"""

import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "bench"))

import perf  # noqa: E402  (bench/perf.py)
from perf import ROW, Target, brick_pids, client_pid, cpu_per_unit, fmt, layout, measure, med, round_ratios  # noqa: E402

from xosan.gluster import tls  # noqa: E402
from xosan.pool.certs import DeploymentCA, install  # noqa: E402
from xosan_lab import tls as labtls  # noqa: E402
from xosan_lab.cluster import Lab  # noqa: E402

LAB_ID = "xs%d" % sys.version_info[1]
SUBNET = "10.%d.70" % (250 if sys.version_info[1] == 6 else 251)
VOLUME = "xosan"
DEFAULT_ROWS = "rr16,rw16,seqread,seqwrite"


def log(msg):
    sys.stderr.write("[tls %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


class TLSLab(perf.PerfLab):
    """perf.PerfLab on this benchmark's own lab id and subnet, its client mounted the way
    xosan_lab/tls.py mounts one, with a certificate of its own (the same arguments TLS on or off)."""

    def __init__(self, work, brick_size):
        perf.PerfLab.__init__(self, work, brick_size)
        self.lab = Lab.new(work, lab_id=LAB_ID, subnet=SUBNET)
        self.client_dir = os.path.join(work, "client-tls")
        self.count, self.client_log = 0, None

    def certificates(self):
        """A per-run CA, one certificate per node and one for this client; the CNs for auth.ssl-allow."""
        ca = DeploymentCA(os.path.join(self.work, "state", "tls"), VOLUME)
        names = labtls.install_node_certs(self.lab, ca)
        cn = ca.name_for("dom0", "bench")
        install(ca.ensure_identity(cn), self.client_dir)
        return names + [cn]

    def mount(self, volume, options=()):
        mp = os.path.join(self.work, "mnt-%s" % volume)
        self.count += 1  # a log per mount: check_state reads only this client's
        logf = self.client_log = os.path.join(self.work, "client-%s-%d.log" % (volume, self.count))
        if not labtls.mount(self.lab, volume, mp, self.client_dir, logf, options):
            raise RuntimeError("%s did not come up on %s (see %s)" % (volume, mp, logf))
        self.mounts.append(mp)
        return mp

    def set_tls(self, on):
        n0 = self.lab.nodes[0]
        n0.gluster(["volume", "stop", VOLUME])
        for option, value in ([("client.ssl", "on"), ("server.ssl", "on")] if on else tls.off_options()):
            n0.gluster(["volume", "set", VOLUME, option, value])
        n0.gluster(["volume", "start", VOLUME])


def run(args):
    rows = [ROW[k] for k in args.rows.split(",")]
    work = tempfile.mkdtemp(prefix="xosan-tlsbench-")
    tl = TLSLab(work, args.brick_size)
    results = dict((r[0], {"off": [], "on": []}) for r in rows)
    t0 = time.time()
    mp = os.path.join(work, "mnt-%s" % VOLUME)
    path = os.path.join(mp, "bench.img")
    try:
        tl.up()
        names = tl.certificates()
        # created with TLS on (paths, allow list, ssl on), so the first switch is a real one
        tl.create(VOLUME, xosan=True, extra=tls.io_options(labtls.NODE_CERT_DIR, names))
        state = "on"
        tl.mount(VOLUME)
        layout(Target("layout", path), args.size)
        tl.umount(mp)
        log("lab up, certificates made, file laid out in %.0f s" % (time.time() - t0))
        for rnd in range(args.rounds):
            for want in (("off", "on") if rnd % 2 == 0 else ("on", "off")):
                if want != state:
                    tl.set_tls(want == "on")
                    state = want
                tl.mount(VOLUME)
                t = Target(want, path, client=client_pid(mp), bricks=brick_pids(tl.lab, VOLUME))
                check_state(tl, want)
                for row in rows:
                    m = measure(t, row, args.size, args.runtime)
                    results[row[0]][want].append(m)
                    log("round %d %-8s tls %-3s %s" % (rnd + 1, row[0], want, fmt(m and m["value"])))
                tl.umount(mp)
    finally:
        tl.down()
    return report(results, rows, args, time.time() - t0)


def check_state(tl, want):
    """The client's log says whether its brick connections use TLS: a run measuring the wrong state
    would make the table a lie."""
    needle = "IO path is ENABLED"
    with open(tl.client_log) as fh:
        seen = needle in fh.read()
    if seen != (want == "on"):
        raise RuntimeError("client log %s: TLS state is not %r after the switch" % (tl.client_log, want))


def report(results, rows, args, elapsed):
    ok = True
    print("GlusterFS I/O-path TLS cost: one lab, 3 nodes, one replica 3 arbiter 1 volume with XOSAN's "
          "options, TLS toggled on the same volume and file; fio libaio direct=1, %d s per run, %d interleaved "
          "rounds, medians; file %s; %.0f s total" % (args.runtime, args.rounds, args.size, elapsed))
    print("units: MiB/s (1M rows), IOPS (4K rows); CPU s of the FUSE client / 3 brick processes per GiB "
          "(1M) or per 100k I/Os (4K); (rounds) = min-max of the per-round on/off ratio")
    print("| row | TLS off | TLS on | on/off | (rounds) | change | cli CPU off/on | brick CPU off/on |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        off, on = results[row[0]]["off"], results[row[0]]["on"]
        good = len(off) == args.rounds and len(on) == args.rounds and all(off) and all(on)
        ok = ok and good
        moff, mon = med(off), med(on)
        ratio = mon / moff if good and moff else None
        rr = round_ratios(on, off)
        print("| %s | %s | %s | %s | %s | %s | %s / %s | %s / %s |" % (
            row[1], fmt(moff), fmt(mon), fmt(ratio, "%.2f"),
            "%.2f-%.2f" % (min(rr), max(rr)) if rr else "-",
            "%+.0f %%" % ((1 - ratio) * -100) if ratio else "UNMEASURED",
            fmt(cpu_per_unit(off, "client", row), "%.2f"), fmt(cpu_per_unit(on, "client", row), "%.2f"),
            fmt(cpu_per_unit(off, "bricks", row), "%.2f"), fmt(cpu_per_unit(on, "bricks", row), "%.2f")))
    print("verdict: %s" % ("every cell measured" if ok else "a cell UNMEASURED (exit 1)"))
    sys.stdout.flush()
    return 0 if ok else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runtime", type=int, default=10, help="seconds per fio run (default 10)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3, at least 3)")
    ap.add_argument("--size", default="512M", help="test file size (default 512M)")
    ap.add_argument("--brick-size", type=int, default=4 * 1024 ** 3)
    ap.add_argument("--rows", default=DEFAULT_ROWS, help="comma-separated subset of: %s" % ",".join(ROW))
    args = ap.parse_args()
    if args.rounds < 3:
        raise SystemExit("--rounds must be at least 3 (medians of interleaved rounds)")
    unknown = [k for k in args.rows.split(",") if k not in ROW]
    if unknown:
        raise SystemExit("unknown rows %s; known: %s" % (unknown, ",".join(ROW)))
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
