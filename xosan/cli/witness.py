"""``xosan witness prepare``: the config disk that makes the appliance a 2-host deployment's witness."""

import json

from xosan.facts import DEFAULT_VOLUME
from xosan.pool import witness
from xosan.pool.deploy import DEFAULT_STATE_DIR


def register(sub):
    w = sub.add_parser("witness", help="the witness of a 2-host deployment (docs/witness.md)")
    wsub = w.add_subparsers(dest="witness_command", metavar="ACTION")
    p = wsub.add_parser(
        "prepare", help="write the config disk that boots the appliance as this deployment's witness",
        description="Writes a small vfat disk (label XOSANCFG) that the storage VM appliance's first boot "
                    "reads on a machine outside the pool: the witness's address, the deployment's SSH key "
                    "and a host key made here and pinned now, so the first connection is already verified. "
                    "Prints the qemu and virt-install lines that boot it. Run it before `xosan deploy`, "
                    "on the machine that deploys, with the same --state-dir.")
    p.add_argument("--address", required=True, help="the witness's IPv4 address on the storage network")
    p.add_argument("--prefix", help="prefix length of that network (default 24)")
    p.add_argument("--netmask", help="or its netmask, e.g. 255.255.255.0")
    p.add_argument("--gateway", help="default gateway, for a witness routed to the storage network")
    p.add_argument("--mtu", type=int, help="MTU of the storage network (default: the image's, 1500)")
    p.add_argument("--ssh-from", help="IPv4 ranges root may log in from (default: the witness's own network)")
    p.add_argument("--hostname", help="default %s" % witness.DEFAULT_HOSTNAME)
    p.add_argument("--deployment", default=DEFAULT_VOLUME,
                   help="the deployment id, i.e. the manifest's volume (default %(default)s)")
    p.add_argument("--state-dir", default=DEFAULT_STATE_DIR,
                   help="where the deployment's SSH keys live, as for deploy (default %(default)s)")
    p.add_argument("--out", required=True, help="folder for the config disk image")
    p.add_argument("--image", default="xosan-storage-vm.vhd", help="the appliance VHD, for the printed lines")
    p.add_argument("--bridge", default="br0", help="the bridge on the storage network, for the printed lines")
    p.add_argument("--json", action="store_true", help="the result as JSON")
    p.set_defaults(func=cmd_prepare)
    w.set_defaults(func=lambda args: w.print_help() or 2)


def cmd_prepare(args):
    r = witness.prepare(args.state_dir, args.out, args.address, deployment=args.deployment, prefix=args.prefix,
                        netmask=args.netmask, gateway=args.gateway, mtu=args.mtu, ssh_from=args.ssh_from,
                        hostname=args.hostname, image=args.image, bridge=args.bridge)
    if args.json:
        print(json.dumps(r, indent=2, sort_keys=True))
    else:
        print("\n".join(witness.summary(r)))
    return 0
