"""Client graph switches under load: does a dom0's SR mount answer ENOTCONN while its FUSE client
moves to a new volfile? Measured with each TLS mode of the manifest, side by side.

Why: any client-side volume option change (xosan tune --apply, a deploy re-run that sets options,
add-brick/replace-brick) makes every FUSE client build a new graph, connect it (port lookups at
each node's glusterd on 24007, then the bricks) and switch to it. If the new graph reports its
children down, FUSE switches to it anyway and the mount answers ENOTCONN until it reconnects: a VM's
disk I/O error. Found when management TLS was made the default (2026-12-07): the suite's tune and
deploy re-run tests hit ENOTCONN on a dom0 mount right after an option change. The cause is in
glusterd: committing a volume set, it writes its volfile-changed notice to every accepted connection,
TLS ones still in their handshake included, and the new graph's port lookups on those go unanswered
(docs/security-tls.md, found with --keep-logs and glusterd at DEBUG level).

One pool per mode (the lab's XAPI simulator, real storage nodes and lab dom0s, `xosan deploy` with
`tls: MODE`), a writer per dom0 (4 KiB pwrite + fsync every 50 ms on its own file of the SR), and
--cycles switches: performance.client-io-threads toggled on one node, then --settle seconds of
writing. Two CPU hogs run during the switches (the suite's load on a 2-core machine). Modes are
interleaved in rounds (round r runs a switch on every mode's pool in turn). Prints per mode the
switches with errors, the failed writes and the longest ENOTCONN run; exits 1 when a mode other
than `off` loses a write where `off` loses none (the hazard is real here).

Which glusterd runs the volume set matters (docs/security-tls.md "Where the commands run"): its own
clients are the ones hit. --set-on 1 (the default) is the dom0s' volfile server, the worst case and
what a hand-typed `gluster volume set` on the first storage VM does; XOSAN's own commands run
elsewhere (cluster.command_order). --set-on 1,2 alternates the two in one pool and counts each apart.

Usage: python bench/graphswitch.py [--modes off,management] [--cycles 10] [--settle 8] [--set-on 1,2] [--hosts 3]
Runs as root; builds its labs (ids gs1.., 10.250.221+) and tears them down.
"""

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

from labpool import Pool  # noqa: E402  (tests/labpool.py: the simulated pool the lab tests use)

HOSTS = ("lab-host-1", "lab-host-2", "lab-host-3")  # --hosts changes it (main)


class Writers(object):
    """A writer thread per dom0; every failed write kept as (time, host, errno)."""

    def __init__(self, pool, sr_uuid):
        self.pool, self.sr_uuid = pool, sr_uuid
        self.stop = threading.Event()
        self.errors = []
        self.writes = 0
        self.threads = [threading.Thread(target=self._write, args=(h,)) for h in HOSTS]

    def _write(self, host):
        path = self.pool.mount_path(host, self.sr_uuid, "switch-%s" % host)
        n = 0
        while not self.stop.is_set():
            try:
                fd = os.open(path, os.O_RDWR | os.O_CREAT)
                try:
                    os.pwrite(fd, os.urandom(4096), (n % 256) * 4096)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                self.writes += 1
            except OSError as exc:
                self.errors.append((time.time(), host, exc.errno))
            n += 1
            time.sleep(0.05)

    def start(self):
        for t in self.threads:
            t.start()

    def end(self):
        self.stop.set()
        for t in self.threads:
            t.join()


def longest_run(errors, gap=0.5):
    """Seconds of the longest run of failed writes on one host (writes 50 ms apart)."""
    best = 0.0
    for host in HOSTS:
        times = sorted(t for t, h, _ in errors if h == host)
        start = prev = None
        for t in times:
            if prev is None or t - prev > gap:
                start = t
            prev = t
            best = max(best, prev - start)
    return best


# What the dom0 clients' logs say of the new graphs' connections: OpenSSL errors and lost replies.
LOG_SIGNS = ("ssl_dump_error_stack", "has not responded in the last", "All subvolumes are down")


def log_signs(pool):
    """(host, sign, line) of every line of the dom0s' FUSE client logs that holds one of LOG_SIGNS."""
    import glob
    for host in HOSTS:
        for path in glob.glob(pool.sim.dom0_path(host, "/var/log/glusterfs/run-sr-mount-*.log")):
            with open(path, errors="replace") as fh:
                for line in fh:
                    for k in LOG_SIGNS:
                        if k in line:
                            yield host, k, line


def log_counts(pool):
    # type: (object) -> dict
    """{LOG_SIGN: count} over every dom0's FUSE client log now: taken before and after a switch, the
    difference is that switch's share of the evidence."""
    counts = dict((k, 0) for k in LOG_SIGNS)
    for _, k, _ in log_signs(pool):
        counts[k] += 1
    return counts


def client_log_summary(mode, pool):
    """Counts of LOG_SIGNS in every dom0's FUSE client log (and the first lines of each), printed
    before the pool goes: the evidence behind a failed switch."""
    counts, first = dict((k, 0) for k in LOG_SIGNS), []
    for host, k, line in log_signs(pool):
        counts[k] += 1
        if len(first) < 12:
            first.append("%s: %s" % (host, line.strip()[:220]))
    print("%s client logs: %s" % (mode, ", ".join("%r x%d" % kv for kv in sorted(counts.items()))), flush=True)
    for line in first:
        print("  " + line, flush=True)


def keep_logs(dest, pool):
    import glob
    import shutil
    for host in HOSTS:
        for path in glob.glob(pool.sim.dom0_path(host, "/var/log/glusterfs/*.log")):
            os.makedirs(os.path.join(dest, host), exist_ok=True)
            shutil.copy(path, os.path.join(dest, host))
    for node in pool.lab.nodes:
        src = os.path.join(node.state["dir"], "log")
        shutil.copytree(src, os.path.join(dest, node.name), ignore=shutil.ignore_patterns("*.socket"))


def volfile_servers(subnet):
    # type: (str) -> list
    """The first volfile server of each FUSE client of the lab (``--volfile-server`` of the glusterfs
    processes whose servers are in ``subnet``): the glusterd that tells the dom0s of a new volfile."""
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as fh:
                argv = fh.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if not argv or os.path.basename(argv[0]) != "glusterfs" or "fuse" not in argv[1:3]:
            continue
        servers = [a.split("=", 1)[1] for a in argv if a.startswith("--volfile-server=")]
        if servers and servers[0].startswith(subnet + "."):
            out.append(servers[0])
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--modes", default="off,management")
    ap.add_argument("--hosts", type=int, default=3, help="hosts per pool, each with a storage VM and a writer "
                                                          "(default 3; 6 gives two replica sets)")
    ap.add_argument("--cycles", type=int, default=10)
    ap.add_argument("--settle", type=float, default=8.0)
    ap.add_argument("--no-load", action="store_true", help="no CPU hogs during the switches")
    ap.add_argument("--keep-logs", metavar="DIR", help="copy every dom0 client log and storage node log there "
                                                       "before the pools go")
    ap.add_argument("--set-on", default="1", metavar="N[,N...]",
                    help="the storage node(s) (1-3) whose glusterd runs the switches' volume set, taken in "
                         "turn cycle by cycle, each counted apart (default 1, the dom0s' first volfile server)")
    ap.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE",
                    help="a volume option set on every pool after its deploy (before the writers)")
    args = ap.parse_args()
    modes = args.modes.split(",")
    global HOSTS
    HOSTS = tuple("lab-host-%d" % (i + 1) for i in range(args.hosts))
    set_on = [int(n) for n in args.set_on.split(",")]
    work = tempfile.mkdtemp(prefix="xosan-graphswitch-")
    pools, writers, hogs = {}, {}, []
    results = dict((m, []) for m in modes)
    by_node = dict(((m, n), []) for m in modes for n in set_on)
    signs = dict(((m, n), dict((k, 0) for k in LOG_SIGNS)) for m in modes for n in set_on)
    try:
        for i, mode in enumerate(modes):
            os.makedirs(os.path.join(work, mode))
            p = Pool(pathlib.Path(work, mode), args.hosts, lab_id="gs%d" % (i + 1), subnet="10.250.%d" % (221 + i))
            pools[mode] = p
            sr, _ = p.deployment(p.manifest(tls=mode, **({"brick_size": "3G"} if args.hosts > 3 else {}))).run()
            for item in args.set:
                option, _, value = item.partition("=")
                p.lab.nodes[0].gluster(["volume", "set", "xosan", option, value])
            writers[mode] = Writers(p, p.sim.db["SR"][sr]["uuid"])
            writers[mode].start()
            print("%s: deployed, writers on %s; dom0 mounts from %s; volume set on node(s) %s" % (
                mode, ", ".join(HOSTS), ", ".join(sorted(set(volfile_servers(p.subnet)))),
                ", ".join("%d (%s)" % (n, p.lab.nodes[n - 1].name) for n in set_on)), flush=True)
        if not args.no_load:
            hogs = [subprocess.Popen(["sh", "-c", "while :; do :; done"]) for _ in range(2)]
        for c in range(args.cycles):
            for mode in modes:
                w = writers[mode]
                before = len(w.errors)
                logs0 = log_counts(pools[mode])
                on = set_on[c % len(set_on)]
                node = pools[mode].lab.nodes[on - 1]
                node.gluster(["volume", "set", "xosan", "performance.client-io-threads", ("on", "off")[c % 2]])
                time.sleep(args.settle)
                new = w.errors[before:]
                results[mode].append(new)
                by_node[(mode, on)].append(new)
                logs1 = log_counts(pools[mode])
                for k in LOG_SIGNS:
                    signs[(mode, on)][k] += logs1[k] - logs0[k]
                print("cycle %2d %-10s set on node %d: failed writes %3d %s" % (c, mode, on, len(new), sorted(set(
                    "%s errno %d" % (h, e) for _, h, e in new))), flush=True)
    finally:
        for h in hogs:
            h.kill()
        for w in writers.values():
            w.end()
        for mode, p in pools.items():
            client_log_summary(mode, p)
            if args.keep_logs:
                keep_logs(os.path.join(args.keep_logs, mode), p)
            p.close()
    print("\n| mode | switches | with failed writes | failed writes | longest ENOTCONN run | writes |")
    print("|---|---|---|---|---|---|")
    for mode in modes:
        errs = [e for cyc in results[mode] for e in cyc]
        print("| %s | %d | %d | %d | %.1f s | %d |" % (mode, len(results[mode]), sum(1 for cyc in results[mode] if cyc),
                                                    len(errs), longest_run(errs), writers[mode].writes))
    if len(set_on) > 1:
        print("\n| mode | volume set on | switches | with failed writes | failed writes | %s |"
              % " | ".join(sorted(LOG_SIGNS)))
        print("|---|---|---|---|---|" + "---|" * len(LOG_SIGNS))
        for (mode, on), cycles in sorted(by_node.items()):
            print("| %s | node %d | %d | %d | %d | %s |" % (
                mode, on, len(cycles), sum(1 for cyc in cycles if cyc), sum(len(cyc) for cyc in cycles),
                " | ".join(str(signs[(mode, on)][k]) for k in sorted(LOG_SIGNS))))
    clean = "off" in modes and not any(results["off"])
    hazard = [m for m in modes if m != "off" and any(results[m])]
    if clean and hazard:
        print("verdict: %s lose writes across graph switches where off loses none" % ", ".join(hazard))
        return 1
    print("verdict: no mode lost a write that off did not")
    return 0


if __name__ == "__main__":
    sys.exit(main())
