"""``xosan plan``, ``xosan deploy`` and ``xosan status``: the pool-level commands."""

import json
import sys

from xosan.cli import common
from xosan.errors import XosanError
from xosan.gluster import health
from xosan.pool import certs
from xosan.pool.inventory import address_of


def register(sub):
    p = sub.add_parser("plan", help="show what deploy would do, capacity and failures tolerated")
    common.manifest_args(p)
    p.set_defaults(func=cmd_plan)

    d = sub.add_parser("deploy", help="deploy XOSAN on the pool (resumes after a failure)",
                       description="Create the storage network, one storage VM per host, the GlusterFS "
                                   "volume and the shared SR of type xosan, plugged on every host. "
                                   "Re-running resumes; --rollback removes what XOSAN created.")
    common.manifest_args(d)
    d.add_argument("--rollback", action="store_true",
                   help="remove everything this deployment created (asks for --yes)")
    d.add_argument("--yes", action="store_true", help="confirm --rollback (or --force) non-interactively")
    d.add_argument("--force", action="store_true", help="with --rollback: destroy the SR even with VDIs on it")
    d.add_argument("--ssh-timeout", type=int, default=180, help="seconds to wait for the storage VMs (180)")
    d.set_defaults(func=cmd_deploy)

    s = sub.add_parser("status", help="health of the deployment: bricks, heal, split-brain, capacity, SR",
                       description="Exit code: 0 healthy, 1 degraded, 2 at risk, 3 no answer.")
    common.manifest_args(s)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_status)


def cmd_plan(args):
    with common.deployment(args) as (_, d):
        hosts, layout = d.plan()
        print(d.describe_plan(hosts, layout))
    return 0


def cmd_deploy(args):
    with common.deployment(args, ssh_timeout=args.ssh_timeout) as (_, d):
        if args.rollback:
            common.confirm(args, "This destroys XOSAN deployment %r: its SR, storage VMs and their disks" % d.id)
            d.rollback(force=args.force)
            print("rolled back: nothing of deployment %r is left in the pool" % d.id)
            return 0
        try:
            d.run()
        except XosanError as exc:
            sys.stderr.write("xosan: deploy stopped: %s\n" % exc)
            sys.stderr.write("xosan: what was done is kept; run the same command again to resume, "
                             "or add --rollback --yes to undo it\n")
            return 1
        print()
        return print_status(d, as_json=False)


def tls_status(d, h, vms):
    """certs.status of deployment ``d`` (its CA in the state dir, I/O TLS from the volume's options,
    management TLS from the first storage VM that answers: None when none does)."""
    management = None
    for rec in vms:
        address = address_of(rec)
        if address and rec.get("power_state") == "Running":
            try:
                management = certs.management_on(d.access.target(address))
                break
            except XosanError:
                continue
    try:
        return certs.status(certs.of_deployment(d.access), (h.info.options or {}) if h else {}, management)
    except XosanError as exc:
        return {"line": "TLS: unknown: %s" % exc, "error": str(exc)}


def print_status(d, as_json):
    h, err, attached, vms = d.status()
    code = h.exit_code if h else 3
    tls = tls_status(d, h, vms)
    if as_json:
        out = {"deployment": d.id, "storage_vms": [{"name": v["name_label"], "power_state": v["power_state"]}
                                                   for v in vms],
               "sr_attached": dict(attached), "volume": h.as_dict() if h else None, "error": err, "tls": tls}
        print(json.dumps(out, indent=2, sort_keys=True))
        return code
    print("Storage VMs: %s" % (", ".join("%s (%s)" % (v["name_label"], v["power_state"].lower())
                                        for v in vms) or "none"))
    print("SR attached: %s" % (", ".join("%s %s" % (n, "yes" if a else "NO") for n, a in attached) or "no SR"))
    print(health.render(h) if h else "Volume: no answer: %s" % err)
    print(tls["line"])
    return code


def cmd_status(args):
    with common.deployment(args) as (_, d):
        return print_status(d, args.json)
