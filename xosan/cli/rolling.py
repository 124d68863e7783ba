"""``xosan check-reboot --host NAME``: may this host go down now? For a rolling reboot or update
done host by host (Xen Orchestra's Rolling Pool Update does not ask storage: docs/xen-orchestra.md)."""

import json
import sys

from xosan.cli import common
from xosan.pool.operate import Operations
from xosan.pool.rolling import check_reboot

EXIT_REFUSED = 2


def register(sub):
    c = sub.add_parser("check-reboot", help="may HOST go down now (heals done, bricks up, quorum kept without it)?",
                       description="Exit 0 when HOST's storage VM may go down now; %d, with every reason, while "
                                   "heals are pending, a brick or storage node is down, or the volume would lose "
                                   "quorum without it. Changes nothing." % EXIT_REFUSED)
    c.add_argument("--host", required=True, help="the pool host about to be rebooted (its name-label)")
    c.add_argument("--json", action="store_true")
    common.manifest_args(c)
    c.set_defaults(func=cmd_check_reboot)


def cmd_check_reboot(args):
    with common.deployment(args) as (_, d):
        ops = Operations(d)
        result = check_reboot(ops, args.host)
    if args.json:
        print(json.dumps(result.as_dict(), indent=2, sort_keys=True))
    elif result.ok:
        print("%s may go down now%s" % (args.host, "" if result.address else
                                         " (it has no storage VM of deployment %s)" % ops.id))
    else:
        sys.stderr.write("xosan: %s must not go down now:\n" % args.host)
        for r in result.refusals:
            sys.stderr.write("  - %s\n" % r.message)
        sys.stderr.write("Wait (xosan status shows the heal), then ask again.\n")
    return 0 if result.ok else EXIT_REFUSED
