"""``xosan upgrade``: a rolling upgrade of the storage VMs, one node at a time, each heal-gated.

Without --yes it is the dry run (the plan: nodes in order, what happens to each, their versions, and
whether the first may go down now); it changes nothing. The run stops at the first node refused or
failed, and says which and why; the nodes after it are left as they are.
"""

import json
import sys

from xosan.cli import common
from xosan.errors import XosanError
from xosan.pool.operate import Operations
from xosan.pool.upgrade import REFUSED, AptUpgrade, ImageUpgrade, Upgrader

EXIT_REFUSED = 2


def register(sub):
    u = sub.add_parser("upgrade", help="rolling upgrade of the storage VMs (apt, or a new appliance image)",
                       description="One storage VM at a time: it goes only when check-reboot would allow it "
                                   "(nothing to heal, every brick up, quorum kept without it), and the next "
                                   "one only once it is back and the volume healthy again. Without --yes: the "
                                   "plan only. Exit 0 done, %d refused (nothing changed on that node), 1 failed."
                                   % EXIT_REFUSED)
    u.add_argument("--method", choices=["apt", "image"], default="apt",
                   help="apt (default): packages from each node's own sources; image: a new appliance "
                        "image given by --image (planned, refused to run: docs/upgrade.md says why)")
    u.add_argument("--gluster", action="store_true",
                   help="with apt: upgrade GlusterFS's packages too (same major release only); held back "
                        "by default")
    u.add_argument("--yes", action="store_true", help="run it (without: print the plan and stop)")
    u.add_argument("--heal-timeout", type=int, default=1800, help="seconds each node may take to heal "
                                                                  "(default %(default)s)")
    u.add_argument("--json", action="store_true")
    common.manifest_args(u)
    u.set_defaults(func=cmd_upgrade)


def _step(args):
    if args.method == "image":
        if not args.image:
            raise XosanError("--method image needs --image FILE (the new appliance's .vhd or manifest.json)")
        return ImageUpgrade(args.image)
    return AptUpgrade(gluster=args.gluster)


def _versions(v):
    if not v:
        return "versions unknown"
    if "error" in v:
        return "versions unknown (%s)" % v["error"]
    text = "GlusterFS %s, kernel %s, %d packages" % (v.get("glusterfs"), v.get("kernel"), v.get("packages", 0))
    if "upgradable" in v:
        text += "; by its current package lists: %s to upgrade" % v["upgradable"]
        if v.get("gluster_upgradable"):
            text += " (+%d GlusterFS)" % v["gluster_upgradable"]
        if v.get("after"):
            text += ", then %s" % {"reboot": "a reboot", "restart-gluster": "a GlusterFS restart",
                                   "none": "no restart"}[v["after"]]
    return text


def _print_plan(run, step):
    print("Rolling %s upgrade of %d storage VM(s)%s, in this order:" % (
        run.method, len(run.nodes), " to image %s" % step.version if run.method == "image" else ""))
    for i, n in enumerate(run.nodes, 1):
        print("  %d. %s (%s): %s" % (i, n.host, n.address, _versions(n.versions)))
        for s in n.steps:
            print("       - %s" % s)
        print("       - then wait: back over SSH, bricks online, clients reconnected, heal done")
    if run.blocker:
        print("It would be REFUSED: %s" % run.blocker)
    elif run.nodes and run.nodes[0].refusals:
        print("%s may NOT go down now:" % run.nodes[0].host)
        for r in run.nodes[0].refusals:
            print("  - %s" % r.message)
    else:
        print("The first node may go down now. Run again with --yes to upgrade.")


def _print_summary(run):
    print("Upgrade summary (%s):" % run.method)
    for n in run.nodes:
        extra = ""
        if n.before or n.after:
            extra = " [volume %s before, %s after]" % (n.before or "-", n.after or "-")
        took = " in %.0f s" % n.seconds if n.seconds is not None else ""
        print("  %-20s %-15s %-10s%s%s%s" % (n.host, n.address, n.status.upper(), took, extra,
                                              ": %s" % n.detail if n.detail else ""))
    if run.blocker:
        print("Refused before any node: %s" % run.blocker)
    elif run.stopped_at:
        print("Stopped at %s (%s); the nodes after it were not touched." % (run.stopped_at.host,
                                                                           run.stopped_at.status))
    else:
        print("Every storage VM upgraded; the volume is healthy.")


def cmd_upgrade(args):
    step = _step(args)
    with common.deployment(args) as (_, d):
        ops = Operations(d, out=sys.stderr if args.json else None)
        up = Upgrader(ops, step, heal_timeout=args.heal_timeout)
        if not args.yes:
            run = up.plan()
            if args.json:
                print(json.dumps(run.as_dict(), indent=2, sort_keys=True))
            else:
                _print_plan(run, step)
            return 0
        run = up.run()
    if args.json:
        print(json.dumps(run.as_dict(), indent=2, sort_keys=True))
    else:
        _print_summary(run)
    if run.ok:
        return 0
    if run.blocker or (run.stopped_at and run.stopped_at.status == REFUSED):
        return EXIT_REFUSED
    return 1
