"""``xosan rotate-certs``: a new certificate for every machine of a deployment, same CA, no I/O stop.

Without --yes it is the dry run: which machines get a new certificate, their current and new
expiry, and whether management and I/O TLS are on (read from the cluster); it changes nothing.
"""

import json
import sys

from xosan.cli import common
from xosan.pool.rotate import Rotator


def register(sub):
    r = sub.add_parser("rotate-certs", help="renew every machine's GlusterFS TLS certificate (same CA, no I/O stop)",
                       description="A new key and certificate, signed by the deployment's own CA, for every "
                                   "storage VM, the witness and every dom0, installed where each one's GlusterFS "
                                   "reads them. The volume is never stopped and no brick restarted. Without "
                                   "--yes: the plan only. Exit 0 done (or planned), 1 failed (the machines "
                                   "after the failed one keep their old, still valid, certificates).")
    r.add_argument("--yes", action="store_true", help="run it (without: print the plan and stop)")
    r.add_argument("--json", action="store_true")
    common.manifest_args(r)
    r.set_defaults(func=cmd_rotate_certs)


def _print_plan(run):
    print("Certificate rotation of deployment %s (management TLS %s, I/O TLS %s, as the cluster has them):"
          % (run.id, "on" if run.management else "off", "on" if run.io else "off"))
    for m in run.machines:
        print("  %-8s %-20s %-15s %s: expires %s -> %s" % (m.kind, m.host, m.address or "(host plugin)", m.cn,
                                                           m.not_after or "(none)", run.new_not_after))
    for cn in run.unknown:
        print("  left alone: %s (no such machine any more)" % cn)
    print("Same CA; the volume is not stopped, no brick restarted. Run again with --yes to rotate.")


def _print_summary(run):
    print("Certificate rotation of deployment %s:" % run.id)
    for m in run.machines:
        extra = " (glusterd: %s)" % m.glusterd if m.glusterd else ""
        print("  %-8s %-20s %-9s serial %s -> %s, expires %s%s%s" % (
            m.kind, m.host, m.status.upper(), m.serial or "-", m.new_serial or "-", m.new_not_after or "-", extra,
            ": %s" % m.detail if m.detail else ""))
    if run.error:
        print("Stopped: %s. The machines not renewed keep their old certificates (same CA, still valid); "
              "run again to finish." % run.error)
    else:
        print("Every machine has its new certificate; the volume was never stopped.")


def cmd_rotate_certs(args):
    with common.deployment(args) as (_, d):
        rot = Rotator(d, out=sys.stderr if args.json else sys.stdout)
        run = rot.run() if args.yes else rot.plan()
    if args.json:
        print(json.dumps(run.as_dict(), indent=2, sort_keys=True))
    elif args.yes:
        _print_summary(run)
    else:
        _print_plan(run)
    return 0 if (run.ok or not args.yes) else 1
