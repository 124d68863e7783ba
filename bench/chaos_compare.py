"""Compare volume option values under the same chaos cycles, in one lab (one flock'd run).

    python bench/chaos_compare.py --cycles 7 --outage 20 --nodes 1,2 --mode cut \\
        --phase cluster.heal-timeout=600 --phase cluster.heal-timeout=10

Each ``--phase OPTION=VALUE[,OPTION=VALUE]`` sets the options on the running volume, then runs the
cycles; ``--heal-bound`` is how long a cycle waits for full redundancy before it forces a heal (and
counts as missed). The data checks of bench/chaos.py run once at the end.
"""

import argparse
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import chaos  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cycles", type=int, default=7, help="cycles per phase")
    ap.add_argument("--outage", type=float, default=20.0)
    ap.add_argument("--heal-bound", type=float, default=90.0)
    ap.add_argument("--nodes", default="1,2")
    ap.add_argument("--mode", choices=chaos.MODES, default="cut")
    ap.add_argument("--phase", action="append", required=True)
    ap.add_argument("--client-lag", type=float, default=0.0,
                    help="seconds the FUSE client stays unable to reach the returned node (the item 6 race)")
    ap.add_argument("--pause", type=float, default=0.02,
                    help="seconds between the writer's writes (a quiet VM: the race needs idle moments)")
    ap.add_argument("--lab-id", default="ch1")
    ap.add_argument("--subnet", default="10.250.240")
    args = ap.parse_args(argv)
    work = tempfile.mkdtemp(prefix="xosan-chaos-")
    log = lambda msg: sys.stdout.write("  ! %s\n" % msg) or sys.stdout.flush()  # noqa: E731
    run = chaos.ChaosRun(os.path.join(work, "lab"), lab_id=args.lab_id, subnet=args.subnet, pause=args.pause)
    phases, end = [], None
    try:
        nodes = [run.lab.node(x) for x in args.nodes.split(",")]
        run.start()
        k = 0
        for spec in args.phase:
            opts = [o.split("=", 1) for o in spec.split(",")]
            for name, value in opts:
                run.lab.nodes[0].gluster(["volume", "set", run.volume, name, value])
            print("phase %s: %d x %s of node(s) %s for %.0f s, client lag %.0f s, a write every %.2f s" % (
                spec, args.cycles, args.mode, args.nodes, args.outage, args.client_lag, args.pause))
            print(chaos.HEAD)
            sys.stdout.flush()
            rows = []
            for i in range(args.cycles):
                k += 1
                r = chaos.run_cycle(run.lab, run.volume, run.mountpoint, run.writer, k, nodes[i % len(nodes)],
                                    args.mode, args.outage, args.heal_bound, log=log,
                                    client_lag=args.client_lag)
                rows.append(r)
                print(r.row())
                sys.stdout.flush()
            phases.append((spec, rows))
        end = run.finish()
    finally:
        run.close()
        shutil.rmtree(work, ignore_errors=True)
    for spec, rows in phases:
        reds = [r.to_redundant for r in rows if r.to_redundant is not None]
        print("%s: %d cycles, brick restarted on a new port in %d, full redundancy by itself in %d "
              "(median %.1f s, max %.1f s), missed %d; stall median %.2f s max %.2f s" % (
                  spec, len(rows), sum(1 for r in rows if r.brick_restarted), len(reds), chaos.median(reds),
                  max(reds) if reds else float("nan"), len(rows) - len(reds),
                  chaos.median([r.stall for r in rows]), max(r.stall for r in rows)))
    print("end: %d records verified, %d bad; %d shard pieces, %d differ; split-brain %d; heal pending %s" % (
        end["records"], len(end["bad_records"]), end["pieces"], len(end["differing"]), end["split_brain"],
        end["heal_pending"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
