"""What every ``xosan`` command that acts on a pool shares: the manifest-or-flags
arguments, reading them into a checked manifest, the XAPI connection, the confirm step
that guards every destructive command."""

import contextlib
import sys

from xosan.errors import XosanError
from xosan.pool import manifest
from xosan.pool.deploy import DEFAULT_STATE_DIR, Deployment
from xosan.pool.xapi import Xapi


def manifest_args(p):
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
    g.add_argument("--tls", help="off (default), management (glusterd, CLI and volfile fetches under the "
                                 "deployment's own CA) or io (management and the I/O path, ~40 %% fewer 4K IOPS)")
    g.add_argument("--volume")
    g.add_argument("--sr-name")
    p.add_argument("--state-dir", default=DEFAULT_STATE_DIR,
                   help="where the deployment's SSH keys live (default %(default)s)")


FLAG_ATTRS = ("master", "username", "password_file", "tls_fingerprint", "hosts", "addresses", "network_mode",
              "network_name", "pif", "vlan", "layout", "brick_size", "template", "image", "image_sr", "witness",
              "volume", "sr_name", "tls")


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


def confirm(args, what):
    if args.yes:
        return
    if sys.stdin.isatty():
        answer = input("%s. Type yes to go on: " % what)
        if answer.strip() == "yes":
            return
    raise XosanError("not confirmed: %s" % what, hint="Add --yes to confirm")


@contextlib.contextmanager
def deployment(args, **kw):
    """``with deployment(args) as (m, d):`` the checked manifest and its Deployment over one XAPI
    session, logged out however the command ends (a session left behind counts against xapi's limit)."""
    m = load_manifest(args)
    x = connect(m)
    try:
        yield m, Deployment(x, m, state_dir=args.state_dir, **kw)
    finally:
        x.logout()
