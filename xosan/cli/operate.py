"""``xosan maintenance|replace-host|add-host|destroy``: day-2 commands, each with --dry-run."""

import contextlib
import sys

from xosan.cli import common
from xosan.pool.operate import Operations


def register(sub):
    m = sub.add_parser("maintenance", help="take a host's storage VM out (enter) or bring it back (exit)",
                       description="enter refuses while heals are pending or when the host's absence would "
                                   "break quorum, unless --force; exit restarts the VM and waits for the heal.")
    m.add_argument("action", choices=["enter", "exit"])
    m.add_argument("host")
    m.add_argument("--force", action="store_true")
    m.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    common.manifest_args(m)
    m.set_defaults(func=cmd_maintenance)

    r = sub.add_parser("replace-host", help="replace a dead host's storage VM (new host, or the same reinstalled)")
    r.add_argument("dead")
    r.add_argument("new", nargs="?", help="host for the new storage VM (default: the same host)")
    r.add_argument("--force", action="store_true", help="replace even a healthy storage VM")
    r.add_argument("--dry-run", action="store_true")
    common.manifest_args(r)
    r.set_defaults(func=cmd_replace)

    a = sub.add_parser("add-host", help="add hosts' storage to the volume (a whole replica set, or 2 -> 3 hosts)")
    a.add_argument("hosts", nargs="+")
    a.add_argument("--dry-run", action="store_true")
    common.manifest_args(a)
    a.set_defaults(func=cmd_add)

    d = sub.add_parser("destroy", help="remove the SR, storage VMs, their disks and the network XOSAN made",
                       description="Needs --yes (or typing yes); refuses while the SR holds VDIs unless --force.")
    d.add_argument("--yes", action="store_true")
    d.add_argument("--force", action="store_true")
    d.add_argument("--dry-run", action="store_true")
    common.manifest_args(d)
    d.set_defaults(func=cmd_destroy)


@contextlib.contextmanager
def _operations(args):
    """``with _operations(args) as ops:`` day-2 operations over one XAPI session, always logged out."""
    with common.deployment(args) as (_, d):
        yield Operations(d)


def _print_plan(title, steps):
    print(title)
    for i, s in enumerate(steps, 1):
        print("  %d. %s" % (i, s))


def cmd_maintenance(args):
    with _operations(args) as ops:
        if args.action == "enter":
            steps, problems = ops.plan_maintenance_enter(args.host, force=args.force)
            for prob in problems:
                sys.stderr.write("xosan: WARNING (forced): %s\n" % prob)
            if args.dry_run:
                _print_plan("Maintenance of %s would:" % args.host, steps)
                return 0
            ops.maintenance_enter(args.host, force=args.force)
        else:
            if args.dry_run:
                _print_plan("Leaving maintenance, %s would:" % args.host,
                            ["start its storage VM", "wait until it answers", "wait for self-heal to finish"])
                return 0
            ops.maintenance_exit(args.host)
        return 0


def cmd_replace(args):
    with _operations(args) as ops:
        new = args.new or args.dead
        steps, _ = ops.plan_replace(args.dead, new, force=args.force)
        if args.dry_run:
            _print_plan("Replacing %s's storage VM on %s would:" % (args.dead, new), steps)
            return 0
        ops.replace(args.dead, new, force=args.force)
        return 0


def cmd_add(args):
    with _operations(args) as ops:
        _, steps = ops.plan_add(args.hosts)
        if args.dry_run:
            _print_plan("Adding %s would:" % ", ".join(args.hosts), steps)
            return 0
        ops.add(args.hosts)
        return 0


def cmd_destroy(args):
    with _operations(args) as ops:
        steps = ops.plan_destroy(force=args.force)
        _print_plan("Destroying XOSAN deployment %r would:" % ops.id, steps)
        if args.dry_run:
            return 0
        common.confirm(args, "This destroys XOSAN deployment %r and everything on its SR" % ops.id)
        ops.destroy(force=args.force)
        print("destroyed")
        return 0
