"""``xosan tune``: the volume's options against the set XOSAN ships; a dry run unless --apply."""

import json
import sys

from xosan.cli import common
from xosan.pool import tune


def register(sub):
    t = sub.add_parser("tune", help="compare the volume's options with XOSAN's shipped set; --apply sets them",
                       description="Reads the deployment's volume options from glusterd, compares them with "
                                   "the set new deployments get (thread counts sized from the storage VMs' "
                                   "vCPUs and dom0's cores) and prints option, now, would be, why. Changes "
                                   "nothing without --apply; with it, sets what differs online (gluster "
                                   "volume set: no remount, VMs keep running) and reads it back. "
                                   "Creation-only options (sharding) are never changed.")
    t.add_argument("--apply", action="store_true", help="set the options that differ (online)")
    t.add_argument("--json", action="store_true", help="the comparison (and result) as JSON")
    common.manifest_args(t)
    t.set_defaults(func=cmd_tune)


def cmd_tune(args):
    with common.deployment(args) as (m, d):
        cli = d.cluster.any_cli()
        cores = tune.cores(d.inventory, m.vm.vcpus)
        before = tune.plan(cli, m.volume, cores)
        after = None
        if args.apply and before.to_set():
            after = tune.apply(cli, before, None if args.json else _progress)
    if args.json:
        out = {"applied": after is not None, "dry_run": not args.apply, "before": before.as_dict()}
        if after is not None:
            out["after"] = after.as_dict()
        print(json.dumps(out, indent=2, sort_keys=True))
        return 0
    for line in tune.summary(before):
        print(line)
    if after is not None:
        print(tune.summary(after, applied=True)[-1])
    return 0


def _progress(text):
    sys.stdout.write("  %s\n" % text)
    sys.stdout.flush()
