"""What bounds the write stall of a silent network cut, and what a shorter bound costs (issue 13).

    flock /tmp/xosan-labtests.lock .venv/py3/bin/python bench/chaos_timeouts.py --rounds 2 \\
        --phase network.ping-timeout=4 --phase client.tcp-user-timeout=3 --modes cut,flap --load 60

One lab, one writer (bench/chaos.py's), phases interleaved over ``--rounds``: each phase sets its
options (an option another phase sets and this one does not goes back to XOSAN's value, or to
GlusterFS's default when XOSAN sets none), then REMOUNTS the FUSE client, because socket options
(``client.tcp-user-timeout``, keepalive) are applied by GlusterFS's socket transport only when a
connection is made (rpc/rpc-transport/socket/src/socket.c: ``__socket_keepalive`` runs at connect and
accept; a reconfigure only stores the value). Then one cycle per mode and node (``--nodes``), then,
with ``--load S``, the cost: for S seconds a heavy fio on the mount plus CPU hogs inside a data node's
namespace, the node NOT cut; counted: the FUSE client's disconnect lines, the loaded node's brick's
disconnect lines, fio's and the writer's I/O errors, and the writer's worst stall.

Why these candidates: GlusterFS's client sends a ping only every ``network.ping-timeout`` s (the
next ping is armed ping-timeout after the last reply), and declares a server dead ping-timeout after
an unanswered ping (rpc/rpc-lib/src/rpc-clnt-ping.c), so a cut is noticed between 1x and 2x the
ping-timeout after it happens. TCP_USER_TIMEOUT instead bounds how long sent data may stay
unacknowledged, counted from the first write the cut swallowed.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import chaos  # noqa: E402
from perf import fuse_pids  # noqa: E402

from xosan.gluster.options import vm_image_options  # noqa: E402

DISCONNECT_MARKS = ("disconnected from", "has not responded in the last")
BRICK_MARKS = ("disconnecting connection", "Shutting down connection")


def parse_phase(spec):
    return [tuple(o.split("=", 1)) for o in spec.split(",") if o]


def xosan_value(name):
    for opt, value, _ in vm_image_options():
        if opt == name:
            return value
    return None


def apply_phase(run, opts, every_name):
    node = run.lab.nodes[0]
    given = dict(opts)
    for name in every_name:
        if name in given:
            node.gluster(["volume", "set", run.volume, name, given[name]])
        elif xosan_value(name) is not None:
            node.gluster(["volume", "set", run.volume, name, xosan_value(name)])
        else:
            node.gluster(["volume", "reset", run.volume, name])


def remount(run, timeout=60):
    """Fresh FUSE client (and so fresh connections, with the phase's socket options), the writer held
    between two writes meanwhile. Waits until the new client is connected to every brick."""
    w = run.writer
    n = run.lab.nodes
    with w.gate:
        os.close(w.fd)
        w.fd = None
        subprocess.check_call(["umount", run.mountpoint])
        subprocess.check_call(["mount", "-t", "glusterfs", "-o", "backup-volfile-servers=%s:%s" % (
            n[1].ip, n[2].ip), "%s:/%s" % (n[0].ip, run.volume), run.mountpoint])
        deadline = time.time() + timeout
        while not chaos.client_connected(run.mountpoint, run.volume):
            if time.time() > deadline:
                raise RuntimeError("the remounted client did not connect to every brick in %d s" % timeout)
            time.sleep(0.5)
        w._open()


def client_log(mountpoint):
    return "/var/log/glusterfs/%s.log" % mountpoint.strip("/").replace("/", "-")


def _size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def count_marks(path, since, marks):
    try:
        with open(path, "rb") as fh:
            fh.seek(since)
            text = fh.read().decode(errors="replace")
    except OSError:
        return 0, []
    lines = [ln for ln in text.splitlines() if any(m in ln for m in marks)]
    return len(lines), lines


def brick_logs(node):
    d = chaos.brick_file(node, "/var/log/glusterfs/bricks")
    try:
        return [os.path.join(d, f) for f in os.listdir(d) if f.endswith(".log")]
    except OSError:
        return []


def brick_pids(node):
    from xosan_lab.netns import netns_pids
    out = []
    for pid in netns_pids(node.state["netns"]):
        try:
            with open("/proc/%d/comm" % pid) as fh:
                if fh.read().strip() == "glusterfsd":
                    out.append(pid)
        except OSError:
            pass
    return out


def _freeze(pids_of, after, seconds, done):
    """The processes ``pids_of()`` names stopped (SIGSTOP) for ``seconds``, ``after`` s into the probe.
    A brick: a storage VM paused by its hypervisor or starved of CPU that long; it answers nothing,
    not even TCP's window updates once its socket buffers are full. The FUSE client: dom0 too busy to
    run it that long; its ping timer then fires late, when it runs again."""
    time.sleep(after)
    pids = pids_of()
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(seconds)
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
        done.append(len(pids))


def load_probe(run, node, seconds, hogs=3, freeze=0.0, freeze_client=False):
    """``seconds`` of fio (4 jobs of 64 KiB random writes, O_DIRECT, queue depth 16) on the mount and
    ``hogs`` busy loops inside ``node``'s namespace, next to the chaos writer. Nothing is cut; with
    ``freeze``, the node's brick is also stopped that long in the middle of it."""
    clog = client_log(run.mountpoint)
    c0 = _size(clog)
    b0 = dict((p, _size(p)) for p in brick_logs(node))
    target = os.path.join(run.mountpoint, "load.img")
    t0 = time.time()
    procs = [subprocess.Popen(["ip", "netns", "exec", node.state["netns"], "sh", "-c", "while :; do :; done"],
                              start_new_session=True) for _ in range(hogs)]
    frozen = []
    if freeze:
        import threading
        pids_of = (lambda: fuse_pids(run.mountpoint)) if freeze_client else (lambda: brick_pids(node))
        threading.Thread(target=_freeze, args=(pids_of, seconds / 2.0, freeze, frozen), daemon=True).start()
    try:
        fio = subprocess.run(["fio", "--name=load", "--filename=%s" % target, "--size=256M", "--rw=randwrite",
                              "--bs=64k", "--direct=1", "--ioengine=libaio", "--iodepth=16", "--numjobs=4",
                              "--time_based", "--runtime=%d" % seconds, "--group_reporting",
                              "--output-format=terse", "--terse-version=3"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=seconds + 120)
    finally:
        for p in procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
            p.wait()
    t1 = time.time()
    for _ in range(int(freeze * 10) + 20):
        if frozen or not freeze:
            break
        time.sleep(0.1)
    time.sleep(0.5)
    out = fio.stdout.decode(errors="replace")
    fields = out.strip().splitlines()[-1].split(";") if out.strip() else []
    # terse v3: field 5 is the error code, 48 the write bandwidth in KiB/s
    fio_err = fields[4] if len(fields) > 48 else "?"
    fio_bw = (int(fields[47]) / 1024.0) if len(fields) > 48 else float("nan")
    stall, errors = run.writer.window(t0, t1)
    ndis, dlines = count_marks(clog, c0, DISCONNECT_MARKS)
    nb = 0
    for p in brick_logs(node):
        k, _ = count_marks(p, b0.get(p, 0), BRICK_MARKS)
        nb += k
    try:
        os.unlink(target)
    except OSError:
        pass
    return {"frozen_pids": frozen[0] if frozen else 0,
            "client_disconnects": ndis, "lines": dlines[:4], "brick_disconnects": nb, "fio_rc": fio.returncode,
            "fio_err": fio_err, "fio_mib_s": fio_bw, "writer_errors": errors, "writer_stall": stall,
            "writer_rate": run.writer.rate(t0, t1)}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--phase", action="append", required=True, help="OPTION=VALUE[,OPTION=VALUE]")
    ap.add_argument("--rounds", type=int, default=2, help="times every phase runs, interleaved")
    ap.add_argument("--modes", default="cut,flap")
    ap.add_argument("--nodes", default="1,3")
    ap.add_argument("--outage", type=float, default=8.0)
    ap.add_argument("--flap-outage", type=float, default=15.0)
    ap.add_argument("--heal-bound", type=float, default=90.0)
    ap.add_argument("--load", type=float, default=0.0, help="seconds of the load probe per phase and round")
    ap.add_argument("--load-node", default="1")
    ap.add_argument("--freeze", default="",
                    help="seconds the loaded node's brick is stopped (SIGSTOP) in the middle of the load probe; "
                         "comma-separated: one probe per value")
    ap.add_argument("--freeze-client", default="",
                    help="the same for the FUSE client process (one more probe per value)")
    ap.add_argument("--lab-id", default="ch1")
    ap.add_argument("--subnet", default="10.250.240")
    args = ap.parse_args(argv)
    phases = [(spec, parse_phase(spec)) for spec in args.phase]
    every_name = []
    for _, opts in phases:
        every_name += [n for n, _ in opts if n not in every_name]
    modes = [m for m in args.modes.split(",") if m]
    work = tempfile.mkdtemp(prefix="xosan-chaos-")
    log = lambda msg: sys.stdout.write("  ! %s\n" % msg) or sys.stdout.flush()  # noqa: E731
    run = chaos.ChaosRun(os.path.join(work, "lab"), lab_id=args.lab_id, subnet=args.subnet)
    rows = dict((spec, []) for spec, _ in phases)
    loads = dict((spec, []) for spec, _ in phases)
    end = None
    try:
        nodes = [run.lab.node(x) for x in args.nodes.split(",")]
        run.start()
        k = 0
        print(chaos.HEAD)
        for rnd in range(args.rounds):
            for spec, opts in phases:
                apply_phase(run, opts, every_name)
                remount(run)
                print("round %d, phase %s (client remounted)" % (rnd + 1, spec))
                sys.stdout.flush()
                for mode in modes:
                    for node in nodes:
                        k += 1
                        r = chaos.run_cycle(run.lab, run.volume, run.mountpoint, run.writer, k, node, mode,
                                            args.flap_outage if mode == "flap" else args.outage,
                                            args.heal_bound, log=log)
                        rows[spec].append(r)
                        print(r.row())
                        sys.stdout.flush()
                probes = [(float(f), False) for f in args.freeze.split(",") if f]
                probes += [(float(f), True) for f in args.freeze_client.split(",") if f]
                for freeze, client in (probes or [(0.0, False)]) if args.load else []:
                    res = load_probe(run, run.lab.node(args.load_node), args.load, freeze=freeze,
                                     freeze_client=client)
                    res["freeze"] = "%s%s" % (freeze, " client" if client else "")
                    loads[spec].append(res)
                    print("  load %.0f s%s on %s: client disconnects %d, brick disconnects %d, fio rc %s err %s "
                          "%.1f MiB/s, writer errors %d, writer worst stall %.2f s (%.0f writes/s) %s" % (
                              args.load, (" (%s stopped %.1f s, %d pid(s))" % (
                                  "FUSE client" if client else "brick", freeze, res["frozen_pids"])) if freeze else "",
                              run.lab.node(args.load_node).name, res["client_disconnects"],
                              res["brick_disconnects"], res["fio_rc"], res["fio_err"], res["fio_mib_s"],
                              res["writer_errors"], res["writer_stall"], res["writer_rate"], res["lines"]))
                    sys.stdout.flush()
                    if not chaos.wait_redundant(run.lab, run.volume, run.mountpoint, args.heal_bound):
                        log("not fully redundant %.0f s after the load probe" % args.heal_bound)
        end = run.finish()
    finally:
        run.close()
        shutil.rmtree(work, ignore_errors=True)
    for spec, _ in phases:
        for mode in modes:
            for role in ("data", "arbiter"):
                sel = [r.stall for r in rows[spec] if r.mode == mode and r.role == role]
                if sel:
                    print("%-45s %-5s %-7s stall median %.2f s, min %.2f, max %.2f (n=%d) %s" % (
                        spec, mode, role, chaos.median(sel), min(sel), max(sel), len(sel),
                        " ".join("%.2f" % s for s in sel)))
            sel = [r.stall for r in rows[spec] if r.mode == mode]
            print("%-45s %-5s all     stall median %.2f s, max %.2f, over 5 s: %d of %d; errors %d" % (
                spec, mode, chaos.median(sel), max(sel), sum(1 for s in sel if s > chaos.TARGET_STALL),
                len(sel), sum(r.errors for r in rows[spec] if r.mode == mode)))
        if loads[spec]:
            ld = loads[spec]
            print("%-45s load (stopped for s): %s; client disconnects %s, brick disconnects %s, fio errors %s, "
                  "writer errors %s, writer stall max %.2f s" % (
                      spec, [x["freeze"] for x in ld], [x["client_disconnects"] for x in ld],
                      [x["brick_disconnects"] for x in ld], [x["fio_err"] for x in ld],
                      [x["writer_errors"] for x in ld], max(x["writer_stall"] for x in ld)))
    print("end: %d records verified, %d bad; %d shard pieces, %d differ; split-brain %d; heal pending %s" % (
        end["records"], len(end["bad_records"]), end["pieces"], len(end["differing"]), end["split_brain"],
        end["heal_pending"]))
    return 1 if (end["bad_records"] or end["differing"] or end["split_brain"]) else 0


if __name__ == "__main__":
    sys.exit(main())
