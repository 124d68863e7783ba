"""Benchmark: how long VM-disk I/O stalls when a storage node fails, and small-write throughput.

Target (DESIGN: XenServer HA fences after 60 s): worst stall <= 5 s when a data node is cut off
or killed. Runs on the real lab (root), prints a table, exits 1 if a target is missed or any round
went unmeasured (skipped because the client never reconnected): it never passes on nothing.
Usage: python bench/failover.py [--rounds N]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from xosan.gluster.options import VM_IMAGE_OPTIONS  # noqa: E402
from xosan_lab.cluster import Lab  # noqa: E402

TARGET_STALL = 5.0
BLOCK = 64 * 1024


def wait_client_on(lab, volume, node, timeout=180):
    """Before a round: our FUSE client must be connected to ``node``'s brick again (after a cut it
    reconnects only after TCP backoff); a round without that connection would measure nothing."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        out = lab.nodes[0].gluster(["volume", "status", volume, "clients"], check=False).stdout
        section = out.split("Brick : %s:" % node.ip)[1:]
        if section and (lab.host_ip + ":") in section[0].split("Brick :")[0]:
            return True
        time.sleep(2)
    return False


def stall_round(lab, mountpoint, node, mode, seconds=12):
    fd = os.open(os.path.join(mountpoint, "bench-%s.img" % mode), os.O_RDWR | os.O_CREAT, 0o644)
    buf = os.urandom(BLOCK)
    worst, i, t_fail = 0.0, 0, None
    end = time.time() + seconds
    try:
        while time.time() < end:
            if t_fail is None and time.time() > end - seconds + 2:
                (node.cut if mode == "cut" else node.kill)()
                t_fail = time.time()
            t = time.time()
            os.pwrite(fd, buf, (i % 512) * BLOCK)
            os.fsync(fd)
            worst = max(worst, time.time() - t)
            i += 1
    finally:
        os.close(fd)
    if mode == "cut":
        node.reconnect()
    else:
        node.start()
    return worst, i


def throughput(mountpoint, seconds=5):
    fd = os.open(os.path.join(mountpoint, "bench-iops.img"), os.O_RDWR | os.O_CREAT, 0o644)
    buf = os.urandom(4096)
    n, end = 0, time.time() + seconds
    try:
        while time.time() < end:
            os.pwrite(fd, buf, (n * 7919 % 25600) * 4096)
            os.fsync(fd)
            n += 1
    finally:
        os.close(fd)
    return n / float(seconds)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ping-timeout", help="compare another network.ping-timeout/server.tcp-user-timeout")
    args = ap.parse_args()
    if args.rounds < 1:
        ap.error("--rounds must be at least 1: a bench with no round measures nothing")
    work = tempfile.mkdtemp(prefix="xosan-bench-")
    lab = Lab.new(work, lab_id="xbench", subnet="10.250.99")
    mp = os.path.join(work, "mnt")
    rows, ok, measured = [], True, 0
    try:
        lab.up(3, brick_size=2 * 1024 ** 3)
        lab.create_volume("xosan", ["replica", "3", "arbiter", "1"])
        if args.ping_timeout:
            for opt in ("network.ping-timeout", "server.tcp-user-timeout"):
                lab.nodes[0].gluster(["volume", "set", "xosan", opt, args.ping_timeout])
        os.makedirs(mp)
        subprocess.check_call(["mount", "-t", "glusterfs", "-o", "backup-volfile-servers=%s:%s" % (
            lab.nodes[1].ip, lab.nodes[2].ip), "%s:/xosan" % lab.nodes[0].ip, mp])
        iops = throughput(mp)
        ok = ok and iops > 0
        rows.append(("4 KiB fsync'd random writes (healthy)", "%.0f IOPS" % iops, "" if iops > 0 else "UNMEASURED"))
        for mode in ("cut", "kill"):
            for r in range(args.rounds):
                if not wait_client_on(lab, "xosan", lab.nodes[1]):
                    # a round that did not run measured nothing: it can never count as a pass
                    ok = False
                    rows.append(("worst write stall, data node %s (round %d)" % (
                        "cut off" if mode == "cut" else "killed", r + 1), "UNMEASURED",
                        "client never reconnected to %s: round skipped (fails the bench)" % lab.nodes[1].ip))
                    continue
                worst, n = stall_round(lab, mp, lab.nodes[1], mode)
                good = worst <= TARGET_STALL and n > 0
                ok = ok and good
                measured += 1
                rows.append(("worst write stall, data node %s (round %d)" % (
                    "cut off" if mode == "cut" else "killed", r + 1), "%.2f s" % worst,
                    "target <= %.0f s: %s" % (TARGET_STALL, "met" if good else "MISSED")))
    finally:
        subprocess.call(["umount", "-l", mp], stderr=subprocess.DEVNULL)
        lab.down()
    opts = dict((k, v) for k, v, _ in VM_IMAGE_OPTIONS)
    if args.ping_timeout:
        opts["network.ping-timeout"] = opts["server.tcp-user-timeout"] = args.ping_timeout
    print("XOSAN failover benchmark: 3 lab nodes, replica 3 arbiter 1, network.ping-timeout=%s, "
          "server.tcp-user-timeout=%s" % (opts["network.ping-timeout"], opts["server.tcp-user-timeout"]))
    for name, value, note in rows:
        print("  %-52s %12s  %s" % (name, value, note))
    expected = 2 * args.rounds
    if measured != expected:
        ok = False
        print("  %d of %d stall rounds measured: FAILED (a bench that measured nothing never passes)"
              % (measured, expected))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
