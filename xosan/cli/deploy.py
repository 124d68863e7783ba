"""``xosan plan``, ``xosan deploy`` and ``xosan status``: the pool-level commands."""

import json
import sys

from xosan.errors import XosanError
from xosan.gluster import health
from xosan.pool import manifest
from xosan.pool.deploy import DEFAULT_STATE_DIR, Deployment
from xosan.pool.xapi import Xapi


def _manifest_args(p):
    p.add_argument("-f", "--file", metavar="MANIFEST", help="YAML manifest (see examples/xosan.yaml)")
    g = p.add_argument_group("instead of a manifest (the common case)")
    g.add_argument("--master", help="pool master URL, or 'local' (default) on a pool host's dom0")
    g.add_argument("--username")
    g.add_argument("--password-file", help="file whose first line is the XAPI password (else: prompt)")
    g.add_argument("--tls-fingerprint", help="SHA-256 fingerprint of the master's self-signed certificate "
                                             "(openssl x509 -noout -fingerprint -sha256 -in "
                                             "/etc/xensource/xapi-ssl.pem on the master)")
    g.add_argument("--hosts", help="'all' (default) or host names, comma separated")
    g.add_argument("--addresses", help="storage network, e.g. 10.0.50.0/24 (required without -f)")
    g.add_argument("--network-mode", choices=manifest.NETWORK_MODES)
    g.add_argument("--network-name")
    g.add_argument("--pif")
    g.add_argument("--vlan")
    g.add_argument("--layout", choices=manifest.LAYOUTS)
    g.add_argument("--brick-size", help="e.g. 500G, or 'all' (default: free space minus reserve)")
    g.add_argument("--template", help="name-label of the storage VM template (default 'XOSAN storage VM')")
    g.add_argument("--image", help="the appliance (build/appliance/manifest.json or its .vhd): imported "
                                   "once per pool when no template of it exists")
    g.add_argument("--image-sr", help="SR name-label to import the appliance into (default: the first "
                                      "host's local SR)")
    g.add_argument("--witness")
    g.add_argument("--volume")
    g.add_argument("--sr-name")
    p.add_argument("--state-dir", default=DEFAULT_STATE_DIR,
                   help="where the deployment's SSH keys live (default %(default)s)")


FLAG_ATTRS = ("master", "username", "password_file", "tls_fingerprint", "hosts", "addresses", "network_mode",
              "network_name", "pif", "vlan", "layout", "brick_size", "template", "image", "image_sr", "witness",
              "volume", "sr_name")


def load_manifest(args):
    if args.file:
        given = [a for a in FLAG_ATTRS if getattr(args, a, None) is not None]
        if given:
            raise XosanError("give either -f MANIFEST or flags, not both (also given: %s)" % ", ".join(
                "--" + a.replace("_", "-") for a in given))
        return manifest.load(args.file)
    return manifest.from_flags(**dict((a, getattr(args, a, None)) for a in FLAG_ATTRS))


def connect(m):
    return Xapi.connect(m.pool.master, m.pool.username, password_file=m.pool.password_file,
                        fingerprint=m.pool.tls_fingerprint)


def register(sub):
    p = sub.add_parser("plan", help="show what deploy would do, capacity and failures tolerated")
    _manifest_args(p)
    p.set_defaults(func=cmd_plan)

    d = sub.add_parser("deploy", help="deploy XOSAN on the pool (resumes after a failure)",
                       description="Create the storage network, one storage VM per host, the GlusterFS "
                                   "volume and the shared SR of type xosan, plugged on every host. "
                                   "Re-running resumes; --rollback removes what XOSAN created.")
    _manifest_args(d)
    d.add_argument("--rollback", action="store_true",
                   help="remove everything this deployment created (asks for --yes)")
    d.add_argument("--yes", action="store_true", help="confirm --rollback (or --force) non-interactively")
    d.add_argument("--force", action="store_true", help="with --rollback: destroy the SR even with VDIs on it")
    d.add_argument("--ssh-timeout", type=int, default=180, help="seconds to wait for the storage VMs (180)")
    d.set_defaults(func=cmd_deploy)

    s = sub.add_parser("status", help="health of the deployment: bricks, heal, split-brain, capacity, SR",
                       description="Exit code: 0 healthy, 1 degraded, 2 at risk, 3 no answer.")
    _manifest_args(s)
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_status)


def cmd_plan(args):
    m = load_manifest(args)
    x = connect(m)
    try:
        d = Deployment(x, m, state_dir=args.state_dir)
        hosts, layout = d.plan()
        print(d.describe_plan(hosts, layout))
    finally:
        x.logout()
    return 0


def _confirm(args, what):
    if args.yes:
        return
    if sys.stdin.isatty():
        answer = input("%s. Type yes to go on: " % what)
        if answer.strip() == "yes":
            return
    raise XosanError("not confirmed: %s" % what, hint="Add --yes to confirm")


def cmd_deploy(args):
    m = load_manifest(args)
    x = connect(m)
    try:
        d = Deployment(x, m, state_dir=args.state_dir, ssh_timeout=args.ssh_timeout)
        if args.rollback:
            _confirm(args, "This destroys XOSAN deployment %r: its SR, storage VMs and their disks" % d.id)
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
    finally:
        x.logout()


def print_status(d, as_json):
    h, err, attached, vms = d.status()
    code = h.exit_code if h else 3
    if as_json:
        out = {"deployment": d.id, "storage_vms": [{"name": v["name_label"], "power_state": v["power_state"]}
                                                   for v in vms],
               "sr_attached": dict(attached), "volume": h.as_dict() if h else None, "error": err}
        print(json.dumps(out, indent=2, sort_keys=True))
        return code
    print("Storage VMs: %s" % (", ".join("%s (%s)" % (v["name_label"], v["power_state"].lower())
                                        for v in vms) or "none"))
    print("SR attached: %s" % (", ".join("%s %s" % (n, "yes" if a else "NO") for n, a in attached) or "no SR"))
    print(health.render(h) if h else "Volume: no answer: %s" % err)
    return code


def cmd_status(args):
    m = load_manifest(args)
    x = connect(m)
    try:
        return print_status(Deployment(x, m, state_dir=args.state_dir), args.json)
    finally:
        x.logout()
